"""TLS: certificates are verified against the host name even though the connection goes to the
pinned address, and ssl_verify turns verification off for self-signed internal services."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from devkit.sse_server import SSEServer
from tests.helpers import collect, options
from tests.test_network_policy import stub_resolver
from utils.errors import ConnectFailed
from utils.sse_client import SSEClient

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=stream.test", "-addext", "subjectAltName=DNS:stream.test", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def tls_server(certificate):
    with SSEServer(tls=certificate) as srv:
        srv.route("/s", None, "data: secure\n\n")
        yield srv


def test_self_signed_certificate_is_refused_by_default(tls_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client = SSEClient(options(url=f"https://stream.test:{tls_server.port}/s", max_retries=0),
                       resolver=stub_resolver({"stream.test": ["127.0.0.1"]}))
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or "certificate" in str(err.value).lower()


def test_ssl_verify_off_accepts_a_self_signed_certificate(tls_server):
    client = SSEClient(options(url=f"https://stream.test:{tls_server.port}/s", ssl_verify=False),
                       resolver=stub_resolver({"stream.test": ["127.0.0.1"]}))
    assert collect(client) == [("message", "secure", "")]


def test_pinned_connection_verifies_the_certificate_against_the_host_name(tls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])  # trust our certificate, as a CA bundle would
    client = SSEClient(options(url=f"https://stream.test:{tls_server.port}/s"),
                       resolver=stub_resolver({"stream.test": ["127.0.0.1"]}))
    assert collect(client) == [("message", "secure", "")]
    # The same certificate does not match another name that resolves to the same address.
    other = SSEClient(options(url=f"https://other.test:{tls_server.port}/s", max_retries=0),
                      resolver=stub_resolver({"other.test": ["127.0.0.1"]}))
    with pytest.raises(ConnectFailed):
        collect(other)
