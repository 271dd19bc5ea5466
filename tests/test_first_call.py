"""The first call of a process pays only for what it uses (issue 19): an ``http://`` stream never
builds the TLS context that loads the CA bundle; an ``https://`` one still gets the verifying one."""

from __future__ import annotations

from tests.helpers import options
from utils import pinned_transport
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import PinnedTransport, plain_context, ssl_context
from utils.sse_client import SSEClient


def test_an_http_stream_builds_no_verifying_tls_context(server):
    server.route("/s", None, "data: hello\n\n")
    pinned_transport._ssl_context.cache_clear()
    client = SSEClient(options(url=f"{server.url}/s", max_retries=0))
    assert [event.data for batch in client.stream() for event in batch] == ["hello"]
    assert pinned_transport._ssl_context.cache_info().currsize == 0  # no CA bundle was loaded


def test_https_origins_get_the_verifying_context_and_http_the_bare_one():
    transport = PinnedTransport(NetworkPolicy())
    https = transport._inner("https")
    http = transport._inner("http")
    assert https is not http and transport._inner("https") is https  # built once per scheme
    assert https._pool._ssl_context is ssl_context(True)
    assert http._pool._ssl_context is plain_context()
    assert not plain_context().get_ca_certs()  # it trusts no one: were it ever used, it would fail closed
