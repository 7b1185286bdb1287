"""The container, checked without Docker (none runs here): the Dockerfile's properties, hadolint, compose.yaml,
and the runtime stage's command started the way the image would start it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from appserver import free_port
from conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    starts = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    return steps[starts[-1] :]


def runtime_env() -> dict[str, str]:
    env = {}
    for keyword, rest in runtime_stage():
        if keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
    return env


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) argument list; a shell-form string is not one and fails here."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), arguments
    return parsed


def copy_step(arguments: str) -> dict:
    """COPY's flags (--from, --chown) and its sources and destination."""
    words = shlex.split(arguments)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return {**flags, "sources": paths[:-1], "dest": paths[-1]}


def healthcheck_command() -> list[str]:
    options, _, command = next(rest for k, rest in runtime_stage() if k == "HEALTHCHECK").partition("CMD ")
    assert all(o.startswith("--") for o in options.split()), options
    return exec_form(command)


def test_dockerfile_is_multi_stage_non_root_with_health_check():
    froms = [rest.split() for keyword, rest in instructions(DOCKERFILE) if keyword == "FROM"]
    assert [(f[1], f[2]) for f in froms] == [("AS", "builder"), ("AS", "runtime")]
    runtime = runtime_stage()
    builder = instructions(DOCKERFILE)[: len(instructions(DOCKERFILE)) - len(runtime)]
    env = runtime_env()
    user = [rest for k, rest in runtime if k == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    copies = [copy_step(rest) for k, rest in runtime if k == "COPY"]
    from_builder = {c["dest"]: c["sources"] for c in copies if c.get("from") == "builder"}
    assert from_builder == {"/opt/venv": ["/opt/venv"], "/app/models": ["/app/models"]}
    # The default models the builder trains are the ones the runtime copies, into the models directory it uses.
    train = next(shlex.split(rest) for k, rest in builder if k == "RUN" and "don_predictor train" in rest)
    assert train[:4] == ["python", "-m", "don_predictor", "train"]
    assert train[train.index("--models-dir") + 1] == "/app/models" == env["DON_MODELS_DIR"]
    assert train[train.index("--backend") + 1] == "all"
    # Every file copied from the build context belongs to the user the app runs as.
    assert all(c.get("chown") == user for c in copies if "from" not in c), copies
    assert exec_form(next(rest for k, rest in runtime if k == "CMD")) == [
        "streamlit",
        "run",
        "don_predictor/ui/server.py",
    ]
    assert (ROOT / "don_predictor/ui/server.py").exists()
    assert next(rest for k, rest in runtime if k == "EXPOSE") == env["STREAMLIT_SERVER_PORT"] == "8501"
    # The volumes are where the app keeps what must outlive a container: the models and the history.
    volumes = exec_form(next(rest for k, rest in runtime if k == "VOLUME"))
    assert volumes == [env["DON_MODELS_DIR"], str(Path(env["DON_HISTORY_DB"]).parent)]
    health = healthcheck_command()
    assert health[:3] == ["python", "-m", "don_predictor.probe"]  # the slim image has Python, not curl
    # Readiness, not Streamlit's /_stcore/health (ok with no model): run for real in the test below.
    assert health[3] == f"http://127.0.0.1:{env['STREAMLIT_SERVER_PORT']}/readyz"


def test_no_secrets_are_baked_in():
    env = runtime_env()
    assert not any(re.search("PASSWORD|SECRET|TOKEN|KEY", name) for name in env)
    assert not any("secrets" in rest for k, rest in instructions(DOCKERFILE) if k in ("COPY", "ADD"))
    assert ".streamlit/secrets.toml" in (ROOT / ".dockerignore").read_text()


def test_dockerignore_keeps_the_image_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "models", "tests"):
        assert entry in ignored


def test_hadolint_passes():
    result = subprocess.run([HADOLINT, ROOT / "Dockerfile"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_one_service_with_volumes_and_health_check():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    assert service["build"] == "." and "8501:8501" in service["ports"]
    assert {v.split(":")[1] for v in service["volumes"]} == {"/app/models", "/app/history"}
    assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command()]  # readiness, as the image's
    assert set(compose["volumes"]) == {v.split(":")[0] for v in service["volumes"]}


def can_run_as(uid: int) -> bool:
    """Whether this Python can run as another user here (it cannot when it lives under a private /root)."""
    try:
        probe = subprocess.run([sys.executable, "-c", "pass"], user=uid, group=uid, capture_output=True, timeout=30)
    except PermissionError:
        print(f"{sys.executable} is not reachable for uid {uid}: running the command as the current user")
        return False
    return probe.returncode == 0


def test_runtime_command_starts_healthy_as_non_root_with_read_only_models(trained_registry, tmp_path):
    """The runtime stage's CMD, its ENV (paths moved into tmp), models read-only, as uid 10001 when we are root."""
    models = tmp_path / "models"
    shutil.copytree(trained_registry.root, models)
    history = tmp_path / "history"
    history.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {**runtime_env(), "PATH": os.environ["PATH"], "HOME": str(home)}
    env["DON_MODELS_DIR"], env["DON_HISTORY_DB"] = str(models), str(history / "history.sqlite")
    port = free_port()
    env["STREAMLIT_SERVER_PORT"], env["STREAMLIT_SERVER_ADDRESS"] = str(port), "127.0.0.1"
    command = exec_form(next(rest for k, rest in runtime_stage() if k == "CMD"))
    command[0] = str(Path(sys.executable).parent / command[0])  # the venv's streamlit, as /opt/venv/bin is in PATH
    for path in models.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    models.chmod(0o555)
    as_user = {}
    if os.geteuid() == 0 and can_run_as(10001):
        as_user = {"user": 10001, "group": 10001}
        for path in (tmp_path, history, home):
            os.chown(path, 10001, 10001)
        tmp_path.chmod(0o755)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **as_user)
    try:
        deadline = time.time() + 60
        healthy = False
        while time.time() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                    healthy = response.read() == b"ok"
                    break
            except OSError:
                time.sleep(0.2)
        if not healthy:
            process.terminate()
            pytest.fail("no health: " + process.stdout.read().decode(errors="replace")[-2000:])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
        # The image's HEALTHCHECK command, pointed at this server's port: healthy now, unhealthy once it stopped.
        health = healthcheck_command()
        health = [str(Path(sys.executable).parent / health[0]), *(a.replace(":8501/", f":{port}/") for a in health[1:])]
        ready = subprocess.run(health, capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert ready.returncode == 0 and ready.stdout.startswith("ready:"), ready.stdout
    finally:
        process.terminate()
        process.wait(timeout=10)
    stopped = subprocess.run(health, capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert stopped.returncode == 1 and stopped.stdout.startswith("no answer from") and not stopped.stderr
