"""Metrics and alert rules: the /metrics endpoint counts what the app did, every metric an alert rule names exists,
and the rules pass `promtool check rules` and their unit tests (`promtool test rules`). Without promtool the rule
tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from appserver import free_port
from prometheus_client import REGISTRY, generate_latest

from don_predictor import metrics

RULES = Path(__file__).resolve().parents[1] / "ops" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize("args", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]])
def test_alert_rules_pass_promtool(args):
    done = subprocess.run([_promtool(), *args], cwd=RULES, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _value(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_the_endpoint_counts_predictions_rejections_and_the_domain():
    port = free_port()
    assert metrics.start_server(port)
    before = generate_latest(REGISTRY).decode()
    results = pd.DataFrame(
        {
            "status": ["ok"] * 4 + ["not scored: column '3': missing value", "not scored: column '3': not a number"],
            "rf_ppb": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan],
            "rf_in_domain": pd.array([True, True, False, True, pd.NA, pd.NA], dtype="boolean"),
            "rf_verdict": ["below", "below", "send_to_lab", "above", "", ""],
        }
    )
    metrics.observe_scoring(results, ["rf"], "compare", 0.3)
    metrics.observe_active({"rf": "20260101-120000"})
    metrics.observe_audit("login_failed")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        after = response.read().decode()

    def grew(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("don_predictions_total", backend="rf", verdict="below") == 2
    assert grew("don_predictions_total", backend="rf", verdict="above") == 1
    assert grew("don_rows_rejected_total", reason="missing value") == 1
    assert grew("don_rows_rejected_total", reason="not a number") == 1
    assert grew("don_domain_checks_total", backend="rf", domain="out") == 1
    assert _value(after, "don_out_of_domain_share", backend="rf") == 0.25
    assert grew("don_scoring_seconds_count", source="compare") == 1
    assert grew("don_login_failures_total") == 1
    assert _value(after, "don_active_model_info", backend="rf", version="20260101-120000") == 1
    assert _value(after, "process_resident_memory_bytes") > 0 and _value(after, "don_memory_limit_bytes") > 0
    assert metrics.start_server(free_port())  # a second call in the same process starts nothing new


def test_every_metric_an_alert_names_exists():
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    named = {name for rule in rules for name in re.findall(r"\b((?:don|process)_\w+)", rule["expr"])}
    families = {family.name for family in REGISTRY.collect()}  # counters without their _total
    assert len(named) >= 8 and named - families - {f"{f}_total" for f in families} == set()
