"""Metrics and alert rules: the /metrics endpoint counts what the app did, every metric an alert rule names exists,
and the rules pass `promtool check rules` and their unit tests (`promtool test rules`). Without promtool the rule
tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import json
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

from don_predictor.services import metrics

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


def test_every_metric_an_alert_or_the_dashboard_names_exists():
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    panels = json.loads((RULES.parent / "grafana" / "don-predictor.json").read_text())["panels"]
    exprs = [rule["expr"] for rule in rules] + [target["expr"] for panel in panels for target in panel["targets"]]
    named = {name for expr in exprs for name in re.findall(r"\b((?:don|process)_\w+)", expr)}
    named = {re.sub(r"_bucket$", "", name) for name in named}  # a histogram's buckets belong to its family
    families = {family.name for family in REGISTRY.collect()}  # counters without their _total
    assert len(named) >= 8 and named - families - {f"{f}_total" for f in families} == set()


OPS = RULES.parent


def test_the_fleet_profile_wires_replicas_database_proxy_and_prometheus_together():
    compose = yaml.safe_load((OPS.parent / "compose.yaml").read_text())
    assert compose["include"] == ["ops/compose.fleet.yaml"]
    assert all("profiles" not in s for s in compose["services"].values())  # `docker compose up`: one process
    fleet = yaml.safe_load((OPS / "compose.fleet.yaml").read_text())["services"]
    assert all(s["profiles"] == ["fleet"] for s in fleet.values())
    apps = {name: s for name, s in fleet.items() if s.get("image") == "don-predictor:latest"}
    assert len(apps) == 2
    for app in apps.values():
        assert app["environment"]["DON_HISTORY_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in app["environment"]["DON_HISTORY_URL"]
        assert [v.split(":")[1] for v in app["volumes"]] == ["/app/models"]
    assert len({tuple(a["volumes"]) for a in apps.values()}) == 1  # one shared registry
    port = {a["environment"]["DON_METRICS_PORT"] for a in apps.values()}.pop()
    certificates = "${DON_TLS_DIR:-./tls}:/etc/nginx/tls:ro"  # the operator's certificate and key, never in git
    assert certificates in fleet["proxy"]["volumes"]
    for service in ("proxy", "prometheus"):
        for volume in set(fleet[service]["volumes"]) - {certificates}:
            assert (OPS / volume.split(":")[0]).is_file(), volume
    nginx = (OPS / "nginx" / "nginx.conf").read_text()
    assert "ssl_certificate /etc/nginx/tls/tls.crt;" in nginx and "ssl_certificate_key /etc/nginx/tls/tls.key;" in nginx
    assert "ip_hash;" in nginx and "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert set(re.findall(r"server (\w+):8501", nginx)) == set(apps)
    scrape = yaml.safe_load((RULES / "prometheus.yml").read_text())
    assert set(scrape["scrape_configs"][0]["static_configs"][0]["targets"]) == {f"{a}:{port}" for a in apps}
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"]
