"""The Kubernetes manifests (ops/k8s/): every resource valid against the Kubernetes schema (kubernetes-validate,
strict: no unknown field), no failed checkov check and every skipped one explained, and the properties the fleet
relies on. checkov lives in its own venv (.venv-checkov, made by the Makefile): it pins packages of its own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "ops" / "k8s"
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream when these were written


def _documents() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        (name, document)
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text())
        if document
    ]


def _resource(kind: str, name: str) -> dict:
    (found,) = [d for _f, d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_kustomization_lists_every_manifest():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_every_resource_passes_the_kubernetes_schema():
    import kubernetes_validate

    documents = _documents()
    assert len(documents) >= 10
    for name, document in documents:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {document['kind']}/{document['metadata']['name']}: {error.message}")


def _skips(document: dict) -> dict[str, str]:
    annotations = document["metadata"].get("annotations", {})
    pairs = [value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip")]
    return {check: reason.strip() for check, reason in pairs}


def test_checkov_finds_no_failed_check_and_every_skip_is_explained():
    if not CHECKOV.exists():
        message = f"{CHECKOV} is missing: `make checkov` installs it into its own venv"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    command = [str(CHECKOV), "-d", str(K8S), "--framework", "kubernetes", "--skip-download", "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    results, summary = report["results"], report["summary"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert not failed and done.returncode == 0, "\n".join(failed) or done.stderr[-2000:]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100 and summary["resource_count"] >= 10
    explained = {(d["kind"], d["metadata"]["name"], c) for _f, d in _documents() for c, why in _skips(d).items() if why}
    skipped = set()
    for check in results.get("skipped_checks", []):
        kind, _namespace, name = check["resource"].split(".")
        skipped.add((kind, name, check["check_id"]))
    assert skipped and skipped <= explained, skipped - explained


def _pod(deployment: str) -> dict:
    return _resource("Deployment", deployment)["spec"]["template"]


def test_the_app_runs_unprivileged_with_probes_limits_secret_and_the_shared_registry():
    pod = _pod("don-app")
    (container,) = pod["spec"]["containers"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] and pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
    env = {e["name"]: e for e in container["env"]}
    assert env["DON_HISTORY_URL"]["valueFrom"]["secretKeyRef"]["name"] == "don-history"
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == env["DON_METRICS_PORT"]["value"]
    claim = _resource("PersistentVolumeClaim", "don-models")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment in ("don-app", "don-dask-worker"):  # the workers load the bundles at the app's path
        pod = _pod(deployment)
        volume = next(v["name"] for v in pod["spec"]["volumes"] if v.get("persistentVolumeClaim"))
        mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
        assert mounts[volume] == "/app/models", deployment


def test_ingress_has_tls_and_sticky_sessions_and_dask_uses_the_app_image():
    ingress = _resource("Ingress", "don-app")
    assert ingress["spec"]["tls"][0]["secretName"] == "don-tls"
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # WebSockets stay open
    images = {
        d: _pod(d)["spec"]["containers"][0]["image"] for d in ("don-app", "don-dask-scheduler", "don-dask-worker")
    }
    assert len(set(images.values())) == 1, images
    worker = _pod("don-dask-worker")["spec"]["containers"][0]["command"]
    service = _resource("Service", "don-dask-scheduler")
    assert f"tcp://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}" in worker
