"""Start the app as it is deployed (`streamlit run don_predictor/ui/server.py`: app.py behind the project's
middleware) on a free port and wait for /_stcore/health (used by e2e tests and benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_ok(port: int, tls: ssl.SSLContext | None = None) -> bool:
    scheme = "https" if tls else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/_stcore/health", timeout=1, context=tls) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


@contextlib.contextmanager
def running_app(
    models_dir: Path,
    timeout: float = 60.0,
    extra_env: dict | None = None,
    tls: tuple[Path, Path, ssl.SSLContext] | None = None,
) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """Yields (base url, process, seconds until healthy). `tls` (certificate chain, key, a client context that
    trusts it): the app serves HTTPS itself (Streamlit's server.sslCertFile / sslKeyFile)."""
    port = free_port()
    env = {**os.environ, "DON_MODELS_DIR": str(models_dir), **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "don_predictor/ui/server.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    if tls:
        command += ["--server.sslCertFile", str(tls[0]), "--server.sslKeyFile", str(tls[1])]
    context = tls[2] if tls else None
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while not health_ok(port, context):
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace")
                raise RuntimeError(f"streamlit exited with {process.returncode}:\n{output}")
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"no healthy app on port {port} after {timeout} s")
            time.sleep(0.05)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", process, time.perf_counter() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
