"""HTTPS for real: a CA and a certificate made by trustme; the app serving TLS itself (Streamlit's
server.sslCertFile / sslKeyFile) and behind the fleet's nginx (ops/nginx/nginx.conf, run with Debian's nginx); Chromium
trusting that CA through login and one upload on Compare, which needs the WebSocket (wss://) and the XSRF cookie."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from appserver import free_port, running_app
from test_e2e import CHROMIUM, CHROMIUM_ARGS

NGINX_CONF = Path(__file__).resolve().parents[1] / "ops" / "nginx" / "nginx.conf"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _required(path: str | None, what: str) -> str:
    if path is None or not Path(path).exists():
        message = f"{what} is missing (apt-get install {what})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """(certificate chain, key, client context trusting the CA, the CA certificate's file)."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    chain, key, ca_file = folder / "tls.crt", folder / "tls.key", folder / "ca.pem"
    server.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return chain, key, context, ca_file


def _launch(playwright, home: Path):
    """Chromium on Linux trusts the certificates in $HOME/.pki/nssdb: a fresh HOME is a fresh trust store."""
    _required(str(CHROMIUM), "chromium")
    env = {**os.environ, "HOME": str(home)}
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)


@pytest.fixture(scope="module")
def trusting_home(certs, tmp_path_factory) -> Path:
    """A HOME whose NSS store trusts the test CA, as a user's browser trusts a company CA (certutil)."""
    home = tmp_path_factory.mktemp("home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    certutil = _required(shutil.which("certutil"), "libnss3-tools")
    subprocess.run([certutil, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=30)
    add = [certutil, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "don-test-ca", "-i", str(certs[3])]
    subprocess.run(add, check=True, timeout=30)
    return home


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@contextlib.contextmanager
def _chromium(playwright, home: Path):
    browser = _launch(playwright, home)
    try:
        yield browser
    finally:
        browser.close()


def _upload_on_compare(browser, url: str, demo_upload: Path, password: str | None = None) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(120_000)
    page.goto(f"{url}/compare")
    if password:
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("button", name="Log in").click()
    page.get_by_text("Drop a CSV of spectra above").wait_for()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(demo_upload))
    page.get_by_text("Scored by both models").wait_for()  # the upload (XSRF) and the reruns (wss) went through
    page.close()


def test_streamlit_serves_https_login_and_upload_and_refuses_plain_http(
    playwright, certs, trusting_home, trained_registry, demo_upload, tmp_path
):
    from playwright.sync_api import Error

    from don_predictor.services.auth import hash_password

    env = {"DON_PASSWORD_HASH": hash_password("s3cret")}
    with running_app(trained_registry.root, extra_env=env, tls=certs[:3]) as (url, _process, _seconds):
        assert url.startswith("https://")
        # The trust comes from the CA in the browser's store: a browser without it refuses the certificate.
        with _chromium(playwright, tmp_path) as untrusting, pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            untrusting.new_page().goto(f"{url}/_stcore/health")
        with _chromium(playwright, trusting_home) as browser:
            _upload_on_compare(browser, url, demo_upload, password="s3cret")
        port = int(url.rsplit(":", 1)[1])
        # Plain HTTP to the TLS port gets no page: the server drops the connection or answers 400, never a 200.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
            status = None
        assert status != 200


def _nginx_config(tmp: Path, chain: Path, key: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """The fleet's config with test addresses: the replicas are one local app, the ports free ones, the
    certificate the test's, temporary files under tmp (nginx's own defaults need its Debian user)."""
    text = NGINX_CONF.read_text()
    text = re.sub(r"server app1:8501[^;]*;\s*server app2:8501[^;]*;", f"server 127.0.0.1:{app_port};", text)
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 8443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = text.replace(":8443$request_uri", f":{https_port}$request_uri")
    text = text.replace("/etc/nginx/tls/tls.crt", str(chain)).replace("/etc/nginx/tls/tls.key", str(key))
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"  {kind}_temp_path {tmp}/{kind};\n" for kind in kinds)
    text = text.replace("http {\n", f"http {{\n  access_log {tmp}/access.log;\n{temp}", 1)
    assert str(app_port) in text and str(https_port) in text, "the fleet config's addresses changed: update the test"
    conf = tmp / "nginx.conf"
    conf.write_text(text)
    return conf


def _nginx(conf: Path, *args: str, main: str = "") -> list[str]:
    """nginx on the test config; `main`: more main-context directives (nginx keeps only the last -g)."""
    user = "user root; " if os.geteuid() == 0 else ""  # workers as root can read the test's 0700 temp folder
    main = f"{user}pid {conf.parent}/nginx.pid; error_log {conf.parent}/error.log; {main}"
    return [_required(shutil.which("nginx") or "/usr/sbin/nginx", "nginx"), "-c", str(conf), "-g", main, *args]


def test_the_fleet_nginx_config_passes_nginx_t(tmp_path, certs):
    conf = _nginx_config(tmp_path, certs[0], certs[1], free_port(), free_port(), free_port())
    done = subprocess.run(_nginx(conf, "-t"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "syntax is ok" in done.stderr, done.stderr


def test_nginx_terminates_tls_redirects_http_and_proxies_an_upload(
    tmp_path, certs, playwright, trusting_home, trained_registry, demo_upload
):
    chain, key, context, _ca = certs
    http_port, https_port = free_port(), free_port()
    with running_app(trained_registry.root) as (app_url, _process, _seconds):
        conf = _nginx_config(tmp_path, chain, key, int(app_url.rsplit(":", 1)[1]), http_port, https_port)
        nginx = subprocess.Popen(_nginx(conf, main="daemon off;"), stderr=subprocess.PIPE, text=True)
        try:
            url = f"https://127.0.0.1:{https_port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2, context=context) as response:
                        assert response.read() == b"ok"
                        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
                        break
                except (ConnectionError, urllib.error.URLError):
                    assert nginx.poll() is None, nginx.stderr.read()
                    assert time.monotonic() < deadline, "nginx did not answer over TLS"
                    time.sleep(0.1)
            plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
            plain.request("GET", "/compare?x=1")
            redirect = plain.getresponse()
            assert redirect.status == 308
            assert redirect.getheader("Location") == f"https://127.0.0.1:{https_port}/compare?x=1"
            with _chromium(playwright, trusting_home) as browser:
                _upload_on_compare(browser, url, demo_upload)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
        log = (tmp_path / "access.log").read_text()
        assert re.search(r'"GET /_stcore/stream HTTP/1.1" 101 ', log), "the WebSocket went through nginx"
        assert re.search(r'"(PUT|POST) /_stcore/upload_file/\S+ HTTP/1.1" 20\d ', log), log[-2000:]
