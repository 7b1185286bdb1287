"""The Status page's figures: process CPU measured between looks, models verified, problems named."""

from __future__ import annotations

from don_predictor.services.health import check_health, package_versions, this_process
from don_predictor.store.registry import IntegrityError, ModelVersion, Registry, RegistryError


class FakeProcess:
    """CPU seconds and a wall clock the test moves by hand."""

    def __init__(self):
        self.wall, self.cpu = 1000.0, 0.0

    def cpu_times(self):
        return type("Times", (), {"user": self.cpu, "system": 0.0})()

    def run(self, seconds: float, busy: float) -> None:
        self.wall += seconds
        self.cpu += seconds * busy


def test_process_cpu_is_measured_over_one_to_five_seconds(monkeypatch):
    from don_predictor.services import health

    proc = FakeProcess()
    monkeypatch.setattr(health.time, "monotonic", lambda: proc.wall)
    monkeypatch.setattr(health.time, "sleep", lambda seconds: proc.run(seconds, busy=0.5))
    monkeypatch.setattr(health, "_cpu_window", None)
    assert health.process_cpu_percent(proc) == 50.0  # the first look: a fresh quarter second
    proc.run(2.0, busy=1.0)  # a training keeps one core busy
    assert health.process_cpu_percent(proc) == 100.0
    proc.run(0.1, busy=0.0)  # another session looks right after: the last measurement, not 0 %
    assert health.process_cpu_percent(proc) == 100.0
    proc.run(600, busy=0.0)  # ten idle minutes, then a look during a busy moment
    proc.run(2.0, busy=1.0)
    assert health.process_cpu_percent(proc) == 50.0  # a fresh quarter second, not the ~0.3 % average of the pause


def test_the_status_figures_come_from_one_process_object(tmp_path):
    assert check_health(Registry(tmp_path)).process["cpu_percent"] >= 0
    assert this_process() is this_process()


def test_a_registry_without_models_is_degraded_with_a_plain_reason(tmp_path):
    health = check_health(Registry(tmp_path))
    assert health.status == "DEGRADED"
    assert any("no active rf model" in reason for reason in health.reasons)


class StubRegistry:
    """A registry whose active versions and checksums the test decides (check_health only asks these)."""

    def __init__(self, root, active=None, damaged=(), unreadable=False):
        self.root, self._active, self._damaged, self._unreadable = root, active or {}, set(damaged), unreadable

    def active(self, backend):
        if self._unreadable:
            raise RegistryError(f"active.json cannot be read ({backend})")
        return self._active.get(backend)

    def verify(self, version):
        if version.backend in self._damaged:
            raise IntegrityError(f"{version.backend}/{version.version}/model.skops: checksum does not match")


def versions_of(root) -> dict[str, ModelVersion]:
    return {
        b: ModelVersion(b, f"2026-{b}", root / b, {"created": "2026-11-01T00:00:00Z", "n_rows": 400})
        for b in ("rf", "tf")
    }


def test_every_active_verified_model_is_ok_with_its_load_time(tmp_path):
    health = check_health(StubRegistry(tmp_path, versions_of(tmp_path)), {"rf/2026-rf": 1.25})
    assert (health.status, health.reasons) == ("OK", [])
    rf, tf = health.models
    assert (rf["backend"], rf["version"], rf["checksum"], rf["load_s"], rf["n_rows"]) == (
        "rf",
        "2026-rf",
        "verified",
        1.25,
        400,
    )
    assert (tf["version"], tf["checksum"], tf["load_s"]) == ("2026-tf", "verified", None)  # not loaded yet
    assert health.system["models_dir"] == str(tmp_path.resolve()) and health.system["cpus"] >= 1
    assert health.process["rss_mb"] > 10 and health.process["threads"] >= 1 and health.process["uptime_s"] >= 0


def test_a_damaged_model_is_degraded_and_named(tmp_path):
    health = check_health(StubRegistry(tmp_path, versions_of(tmp_path), damaged={"tf"}))
    assert health.status == "DEGRADED"
    assert health.reasons == ["tf/2026-tf/model.skops: checksum does not match"]
    assert [m["checksum"] for m in health.models] == ["verified", "FAILED"]


def test_an_unreadable_registry_says_why_for_each_backend(tmp_path):
    health = check_health(StubRegistry(tmp_path, unreadable=True))
    assert health.status == "DEGRADED"
    assert health.reasons == [
        "active.json cannot be read (rf)",
        "no active rf model: train one on the Train page",
        "active.json cannot be read (tf)",
        "no active tf model: train one on the Train page",
    ]


def test_low_memory_and_low_disk_are_degraded_with_the_figures(tmp_path, monkeypatch):
    from collections import namedtuple

    import don_predictor.services.health as health_module

    memory = namedtuple("memory", "total available")(16 * 1024**3, 300 * 1024**2)  # under 5 % available
    disk = namedtuple("disk", "total used free")(100 * 1024**3, 99 * 1024**3, 200 * 1024**2)
    monkeypatch.setattr(health_module.psutil, "virtual_memory", lambda: memory)
    monkeypatch.setattr(health_module.shutil, "disk_usage", lambda path: disk)
    health = check_health(StubRegistry(tmp_path, versions_of(tmp_path)))
    assert health.status == "DEGRADED"
    assert health.reasons == ["system memory is low: 300 MB available", "disk space for models is low: 200 MB free"]
    assert health.system["memory_available_mb"] == 300 and health.system["disk_free_mb"] == 200


def test_versions_report_tensorflow_only_once_something_imported_it(monkeypatch):
    import sys
    import types

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert package_versions()["tensorflow"] == "not loaded"  # asking must not import it
    assert "tensorflow" not in sys.modules
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(__version__="2.99.0"))
    versions = package_versions()
    assert versions["tensorflow"] == "2.99.0" and versions["python"].count(".") == 2
    assert all(versions[name] not in ("", "not installed") for name in ("streamlit", "scikit-learn", "numpy", "pandas"))


def test_status_sees_the_cpu_of_a_job_running_in_a_thread_of_the_app(tmp_path, monkeypatch):
    """Three looks at Status during a training said 0 % while the process used 60-100 %: the fresh measurement read
    cpu_times() twice inside psutil's oneshot() cache, which returned the same numbers both times."""
    import threading

    from don_predictor.services import health

    monkeypatch.setattr(health, "_cpu_window", None)
    stop = threading.Event()

    def spin() -> None:  # a training job's thread, busy on the CPU
        while not stop.is_set():
            sum(i * i for i in range(1000))

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        found = health.check_health(Registry(tmp_path / "models"))
    finally:
        stop.set()
        worker.join()
    assert found.process["cpu_percent"] > 10  # one core about busy: well over 10 % even on a shared machine
