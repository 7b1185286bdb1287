"""A real PostgreSQL server for the tests: Debian's binaries, a temporary data directory, a free port; started once
per test process on first use and stopped at exit. Run as root (CI), the server runs as the user `nobody`, since
PostgreSQL refuses to run as root. Without the binaries the tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from appserver import free_port

_server: dict = {}


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


def server_url() -> str:
    """postgresql+psycopg://… of a running server (the admin database 'postgres')."""
    if "url" in _server:
        return _server["url"]
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    data = Path(tempfile.mkdtemp(prefix="don_pg_"))
    if os.geteuid() == 0:
        shutil.chown(data, "nobody")
    port = free_port()
    # cwd: the server user may not enter the directory the tests run from (a checkout under /root in CI).
    run = {"check": True, "capture_output": True, "timeout": 60, "cwd": data}
    subprocess.run(
        _as_server_user([str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "don"]), **run
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"]
        ),
        **run,
    )
    atexit.register(_stop, bin_dir, data)
    _server["url"] = f"postgresql+psycopg://don@127.0.0.1:{port}/postgres"
    _server["bin"] = bin_dir
    return _server["url"]


def _stop(bin_dir: Path, data: Path) -> None:
    subprocess.run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]),
        capture_output=True,
        timeout=60,
        cwd=data,
    )
    shutil.rmtree(data, ignore_errors=True)


def fresh_database() -> str:
    """The URL of a new, empty database on the test server."""
    import psycopg

    admin = server_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.replace("postgresql+psycopg", "postgresql"), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + f"/{name}"


def bin_dir() -> Path:
    server_url()
    return _server["bin"]
