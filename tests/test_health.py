"""The Status page's figures: process CPU measured between looks, models verified, problems named."""

from __future__ import annotations

import time

from don_predictor.health import check_health, this_process
from don_predictor.registry import Registry


def test_process_cpu_is_measured_between_two_looks(tmp_path):
    registry = Registry(tmp_path)
    check_health(registry)  # the first look starts the measurement
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # keep one core busy for a moment
        sum(i * i for i in range(1000))
    assert check_health(registry).process["cpu_percent"] > 10
    assert this_process() is this_process()  # one object: a new one per call always said 0 %


def test_a_registry_without_models_is_degraded_with_a_plain_reason(tmp_path):
    health = check_health(Registry(tmp_path))
    assert health.status == "DEGRADED"
    assert any("no active rf model" in reason for reason in health.reasons)
