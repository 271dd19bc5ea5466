"""The network policy: decided per host name, per resolved address and per redirect hop.

No test here sends a packet beyond loopback: refused addresses are refused before any
connection, and names are resolved by a stub resolver."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import collect, options, run
from utils.errors import BlockedAddress, ConnectFailed, InvalidParameter
from utils.network_policy import NetworkPolicy, embedded_ipv4, parse_ip, parse_ipv4_aton
from utils.pinned_transport import PinnedTransport
from utils.sse_client import SSEClient


def ip(text):
    return ipaddress.ip_address(text)


def stub_resolver(table):
    def resolve(host, port, type=0):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]]

    return resolve


class NoConnection(httpx.BaseTransport):
    """An inner transport that fails the test if anything reaches it."""

    def handle_request(self, request):
        raise AssertionError(f"a connection was attempted to {request.url}")


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254",
                                     "100.100.100.200", "0.0.0.0", "::ffff:169.254.169.254"])
def test_metadata_and_link_local_always_refused(address):
    with pytest.raises(BlockedAddress):
        NetworkPolicy().check_host(address)


def test_metadata_allowed_only_when_listed_explicitly():
    NetworkPolicy.from_settings(["169.254.169.254"]).check_host("169.254.169.254")
    NetworkPolicy.from_settings(["169.254.0.0/16"]).check_host("169.254.10.1")
    NetworkPolicy.from_settings(["metadata.internal"]).check_address("metadata.internal", ip("169.254.169.254"))
    with pytest.raises(BlockedAddress):  # a wildcard is not an explicit listing
        NetworkPolicy.from_settings(["*.internal"]).check_address("metadata.internal", ip("169.254.169.254"))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd12::1"])
def test_private_allowed_by_default_and_refused_when_off(address):
    NetworkPolicy().check_host(address)
    with pytest.raises(BlockedAddress):
        NetworkPolicy(allow_private=False).check_host(address)


def test_allowed_hosts_names_wildcards_and_cidrs():
    policy = NetworkPolicy.from_settings(["api.openai.com", "*.example.com", "10.0.0.0/8"])
    policy.check_host("api.openai.com")
    policy.check_host("a.b.example.com")
    policy.check_host("10.2.3.4")
    policy.check_address("svc.local", ip("10.9.9.9"))  # any name that resolves into a listed range
    with pytest.raises(BlockedAddress):
        policy.check_address("evil.test", ip("8.8.8.8"))
    with pytest.raises(BlockedAddress):
        policy.check_host("11.0.0.1")
    with pytest.raises(BlockedAddress):
        NetworkPolicy.from_settings(["*.example.com"]).check_host("example.com.evil.test")


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/33", "http://x.com", "*."])
def test_malformed_allowed_hosts_entry_is_refused(entry):
    with pytest.raises(InvalidParameter) as err:
        NetworkPolicy.from_settings([entry])
    assert "allowed_hosts" in str(err.value)


def test_name_resolving_to_metadata_address_is_refused_before_connecting():
    transport = PinnedTransport(NetworkPolicy(), resolver=stub_resolver({"rebind.test": ["169.254.169.254"]}),
                                inner=NoConnection())
    client = SSEClient(options(url="http://rebind.test/latest/meta-data/"), transport=transport)
    with pytest.raises(BlockedAddress) as err:
        collect(client)
    assert "169.254.169.254" in str(err.value)


def test_name_with_one_bad_address_among_good_ones_is_refused():
    resolver = stub_resolver({"mixed.test": ["93.184.216.34", "169.254.169.254"]})
    transport = PinnedTransport(NetworkPolicy(), resolver=resolver, inner=NoConnection())
    with pytest.raises(BlockedAddress):
        collect(SSEClient(options(url="http://mixed.test/s"), transport=transport))


def test_connection_goes_to_the_checked_address_with_the_original_host_header(server):
    server.route("/s", None, "data: pinned\n\n")
    resolver = stub_resolver({"stream.test": ["127.0.0.1"]})
    client = SSEClient(options(url=f"http://stream.test:{server.port}/s"), resolver=resolver)
    assert collect(client) == [("message", "pinned", "")]
    assert server.requests[0].headers["host"] == f"stream.test:{server.port}"


def test_redirect_to_metadata_address_is_refused(server):
    server.route("/s", lambda r, w: w.body(302, "", headers={"Location": "http://169.254.169.254/latest/"}))
    with pytest.raises(BlockedAddress):
        collect(SSEClient(options(url=server.url + "/s")))
    assert len(server.requests) == 1


def test_redirect_to_a_host_outside_allowed_hosts_is_refused(server):
    server.route("/s", lambda r, w: w.body(302, "", headers={"Location": "http://10.0.0.7/x"}))
    policy = NetworkPolicy.from_settings(["127.0.0.1"])
    with pytest.raises(BlockedAddress):
        collect(SSEClient(options(url=server.url + "/s"), policy))


def test_private_target_refused_when_private_networks_are_off(server):
    server.route("/s", None, "data: x\n\n")
    with pytest.raises(BlockedAddress):
        run({"url": server.url + "/s"}, NetworkPolicy(allow_private=False))
    assert server.requests == []


def test_http_proxy_from_environment_is_used(server, monkeypatch):
    # The local server plays the proxy: it receives the absolute-form request for the target.
    server.route("/s", None, "data: via proxy\n\n")
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = SSEClient(options(url="http://upstream.invalid/s"), resolver=stub_resolver({}))
    assert collect(client) == [("message", "via proxy", "")]
    assert server.requests[0].headers["host"] == "upstream.invalid"


def test_no_proxy_bypasses_the_proxy(server, monkeypatch):
    server.route("/s", None, "data: direct\n\n")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert collect(SSEClient(options(url=server.url + "/s"))) == [("message", "direct", "")]


# -- hosts read the way the C resolver reads them (issue 18.4) --------------------------------------
METADATA_FORMS = ["2852039166", "0xa9fea9fe", "0XA9FEA9FE", "0xA9.0xFE.0xA9.0xFE", "169.254.43518", "169.16689662",
                  "0251.0376.0251.0376", "0251.254.169.254", "025177524776", "0x00a9.254.169.254",
                  "%31%36%39.254.169.254", "169.254.169.254.", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]"]
LOOPBACK_FORMS = ["127.1", "127.0.1", "2130706433", "0x7f000001", "017700000001", "0177.0.0.1", "0x7f.1", "127.0.0.1.",
                  "%31%32%37.0.0.1"]


@pytest.mark.parametrize("host", METADATA_FORMS)
def test_every_inet_aton_form_of_a_metadata_address_is_refused(host):
    assert str(parse_ip(host)) == "169.254.169.254"
    with pytest.raises(BlockedAddress) as err:
        NetworkPolicy().check_host(host)
    assert "169.254.169.254" in str(err.value)


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_inet_aton_form_of_loopback_is_refused_when_private_networks_are_off(host):
    assert str(parse_ip(host)) == "127.0.0.1"
    NetworkPolicy().check_host(host)
    with pytest.raises(BlockedAddress):
        NetworkPolicy(allow_private=False).check_host(host)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.256.1.1", "08.1.1.1", "0x", "1.0x", "0x1g", "1..2",
                                  "4294967296", "1.16777216", "example.com", "1e3", "-1", ""])
def test_strings_the_resolver_does_not_read_as_an_address_are_names(host):
    assert parse_ip(host) is None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 2**33).map(str), st.integers(0, 2**33).map(lambda n: f"0x{n:x}"),
                          st.integers(0, 2**33).map(lambda n: f"0{n:o}"),
                          st.text("0123456789xXabcdefABCDEFg", min_size=1, max_size=6)), min_size=1, max_size=5))
def test_inet_aton_forms_read_exactly_as_the_c_library_reads_them(parts):
    text = ".".join(parts)
    try:
        expected = socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        expected = None
    parsed = parse_ipv4_aton(text)
    assert (str(parsed) if parsed is not None else None) == expected


def test_numeric_host_is_connected_to_as_its_dotted_form(server):
    server.route("/s", None, "data: ok\n\n")
    port = server.port
    for host in ("127.1", "2130706433", "0x7f.0.0.1"):
        assert collect(SSEClient(options(url=f"http://{host}:{port}/s"), resolver=stub_resolver({}))) == [
            ("message", "ok", "")]
    assert [r.headers["host"] for r in server.requests] == [f"127.1:{port}", f"2130706433:{port}", f"0x7f.0.0.1:{port}"]


# -- behind a proxy (issue 18.4): the proxy resolves, so every host is judged before it ---------------
@pytest.fixture
def proxy(server, monkeypatch):
    """The local server plays an HTTP proxy: it receives absolute-form requests."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    return server


def via_proxy(url, policy=None, follow=True):
    """One GET through a PinnedTransport alone (no request hook), as every redirect hop is sent."""
    transport = PinnedTransport(policy or NetworkPolicy(), resolver=stub_resolver({}))
    with httpx.Client(transport=transport, follow_redirects=follow) as client:
        return client.get(url)


@pytest.mark.parametrize("host", [*METADATA_FORMS, "[::169.254.169.254]", "[64:ff9b::a9fe:a9fe]",
                                  "[2002:a9fe:a9fe::1]"])
def test_numeric_forms_are_refused_before_the_proxy_sees_them(proxy, host):
    # httpx itself refuses a four-part dotted form that is not decimal (0251.0376.0251.0376)
    with pytest.raises((BlockedAddress, httpx.InvalidURL)):
        via_proxy(f"http://{host}/latest/meta-data/")
    assert proxy.requests == []


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_forms_and_localhost_are_refused_through_a_proxy_when_private_networks_are_off(proxy, host):
    with pytest.raises((BlockedAddress, httpx.InvalidURL)):  # httpx refuses 0177.0.0.1 itself
        via_proxy(f"http://{host}/", NetworkPolicy(allow_private=False))
    for name in ("localhost", "api.localhost", "LOCALHOST."):
        with pytest.raises(BlockedAddress):
            via_proxy(f"http://{name}/", NetworkPolicy(allow_private=False))
    assert proxy.requests == []


@pytest.mark.parametrize("target", ["http://2852039166/", "http://0xa9fea9fe/latest", "http://169.254.43518/",
                                    "http://[::169.254.169.254]/", "http://unlisted.test/"])
def test_a_redirect_hop_through_the_proxy_is_checked(proxy, target):
    proxy.route("/s", lambda r, w: w.body(302, "", headers={"Location": target}))
    with pytest.raises(BlockedAddress):
        via_proxy("http://listed.test/s", NetworkPolicy.from_settings(["listed.test", "10.0.0.0/8"]))
    assert [r.path for r in proxy.requests] == ["/s"]


def test_an_ip_only_allow_list_refuses_names_a_proxy_would_resolve(proxy):
    proxy.route("/s", None, "data: x\n\n")
    policy = NetworkPolicy.from_settings(["10.0.0.0/8", "127.0.0.1"])
    with pytest.raises(BlockedAddress) as err:
        via_proxy("http://internal.example/s", policy)
    assert "proxy" in str(err.value)
    assert proxy.requests == []
    # A listed name is vouched for by its listing; a listed address is checked as it is.
    assert via_proxy("http://api.example/s", NetworkPolicy.from_settings(["api.example", "10.0.0.0/8"])).status_code == 200
    assert via_proxy("http://127.0.0.1/s", policy).status_code == 200
    assert [r.headers["host"] for r in proxy.requests] == ["api.example", "127.0.0.1"]


def test_a_numeric_host_reaches_the_proxy_in_its_dotted_form(proxy):
    proxy.route("/s", None, "data: x\n\n")
    assert via_proxy("http://2130706433/s").status_code == 200
    assert proxy.requests[0].headers["host"] == "2130706433"  # the Host header is the URL's


# -- IPv6 forms that embed an IPv4 address (issue 18.7) ------------------------------------------------
def embeddings(v4: ipaddress.IPv4Address, salt: int) -> dict[str, ipaddress.IPv6Address]:
    """Every IPv6 form that carries ``v4``; ``salt`` fills the bits the mechanism leaves free."""
    n, s16 = int(v4), salt & 0xFFFF
    high, low = n >> 16, n & 0xFFFF
    forms = {
        "mapped": (0xFFFF << 32) | n,
        "compatible": n,
        "siit": (0xFFFF << 48) | n,
        "nat64": (0x64FF9B << 96) | n,
        "nat64-local/96": (0x0064FF9B0001 << 80) | (salt & 0xFFFF) << 64 | n,
        "nat64-local/64": (0x0064FF9B0001 << 80) | (s16 << 64) | (n << 24) | (salt & 0xFFFFFF),
        "nat64-local/56": (0x0064FF9B0001 << 80) | ((salt & 0xFF) << 72) | ((n >> 24) << 64) | ((n & 0xFFFFFF) << 32),
        "nat64-local/48": (0x0064FF9B0001 << 80) | (high << 64) | (low << 40),
        "6to4": (0x2002 << 112) | (n << 80) | (salt & ((1 << 80) - 1)),
        "teredo-server": (0x20010000 << 96) | (n << 64) | (salt & ((1 << 64) - 1)),
        "teredo-client": (0x20010000 << 96) | (s16 << 32) | (~n & 0xFFFFFFFF),
    }
    return {name: ipaddress.IPv6Address(value) for name, value in forms.items()}


REFUSED_ALONE = st.one_of(*(st.integers(int(net[0]), int(net[-1])).map(ipaddress.IPv4Address) for net in (
    ipaddress.ip_network(n) for n in ("169.254.0.0/16", "100.100.100.200/32", "224.0.0.0/4", "10.0.0.0/8",
                                      "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "100.64.0.0/10"))))


@settings(max_examples=300, deadline=None)
@given(REFUSED_ALONE, st.integers(0, 2**80))
def test_every_ipv4_address_refused_alone_is_refused_in_each_embedding(v4, salt):
    policy = NetworkPolicy(allow_private=False)
    with pytest.raises(BlockedAddress):
        policy.check_host(str(v4))
    for name, v6 in embeddings(v4, salt).items():
        assert v4 in embedded_ipv4(v6) or v6.ipv4_mapped == v4, name
        with pytest.raises(BlockedAddress):  # as a URL host
            policy.check_host(f"[{v6}]")
        with pytest.raises(BlockedAddress):  # as an AAAA answer for a name
            policy.check_address("aaaa.test", v6)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address).filter(lambda a: a.is_global and not a.is_multicast))
def test_a_public_ipv4_address_embedded_in_nat64_6to4_or_mapped_is_allowed(v4):
    forms = embeddings(v4, 0)
    for name in ("mapped", "compatible", "nat64", "6to4"):
        NetworkPolicy(allow_private=False).check_address("public.test", forms[name])


def test_ipv6_loopback_and_unspecified_are_not_read_as_ipv4_compatible():
    assert embedded_ipv4(ip("::1")) == () and embedded_ipv4(ip("::")) == ()
    NetworkPolicy().check_host("::1")
    with pytest.raises(BlockedAddress):
        NetworkPolicy().check_host("::")


def test_listing_the_embedded_range_vouches_for_it():
    NetworkPolicy.from_settings(["169.254.169.254"]).check_host("::169.254.169.254")
    NetworkPolicy.from_settings(["64:ff9b::/96"]).check_address("nat64.test", ip("64:ff9b::808:808"))
    NetworkPolicy.from_settings(["10.0.0.0/8"], allow_private=False).check_host("64:ff9b::a00:1")


def test_aaaa_answer_embedding_a_metadata_address_is_refused_before_connecting():
    for answer in ("64:ff9b::a9fe:a9fe", "::169.254.169.254", "2002:a9fe:a9fe::", "2001:0:a9fe:a9fe::"):
        transport = PinnedTransport(NetworkPolicy(), resolver=stub_resolver({"v6.test": ["2606:4700::1", answer]}),
                                    inner=NoConnection())
        with pytest.raises(BlockedAddress):
            collect(SSEClient(options(url="http://v6.test/s"), transport=transport))


# -- name resolution bounded by the connect timeout (issue 18.5, DNS part) -----------------------------
@pytest.fixture
def silent_dns():
    """A resolver that never answers (released when the test ends)."""
    release = threading.Event()
    calls = []

    def resolve(host, port, type=0):
        calls.append(host)
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    resolve.calls = calls
    yield resolve
    release.set()


def test_a_resolver_that_never_answers_is_given_up_at_the_connect_timeout(silent_dns):
    transport = PinnedTransport(NetworkPolicy(), resolver=silent_dns, inner=NoConnection())
    request = httpx.Request("GET", "http://slow-dns.test/s", extensions={"timeout": {"connect": 0.3, "read": 5}})
    with pytest.raises(httpx.ConnectTimeout) as err:
        transport.handle_request(request)
    assert "cannot resolve host 'slow-dns.test' within 0.3 s" in str(err.value)
    assert silent_dns.calls == ["slow-dns.test"]


def test_a_run_against_a_silent_resolver_fails_with_one_line(silent_dns):
    client = SSEClient(options(url="http://slow-dns.test/s", timeout=1, max_retries=0), resolver=silent_dns)
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert "cannot resolve host 'slow-dns.test'" in str(err.value) and "\n" not in str(err.value)


def test_the_connect_gets_what_the_resolution_left_of_the_timeout():
    seen = []

    class Recorder(httpx.BaseTransport):
        def handle_request(self, request):
            seen.append(request.extensions["timeout"]["connect"])
            return httpx.Response(200)

    def slow(host, port, type=0):
        time.sleep(0.2)
        return stub_resolver({"slow.test": ["93.184.216.34"]})(host, port, type)

    transport = PinnedTransport(NetworkPolicy(), resolver=slow, inner=Recorder())
    transport.handle_request(httpx.Request("GET", "http://slow.test/", extensions={"timeout": {"connect": 5.0}}))
    assert len(seen) == 1 and seen[0] <= 4.8


GEVENT_PROBE = """
import sys
if sys.argv[1] == "imported-first":  # our modules imported before the SDK patches: the default resolver
    from utils.pinned_transport import PinnedTransport
from gevent import monkey; monkey.patch_all(sys=True)
import socket, time, gevent, httpx
from utils.network_policy import NetworkPolicy
from utils.pinned_transport import PinnedTransport
ticks = []
def ticker():
    while True:
        ticks.append(1); gevent.sleep(0.02)
def never(host, port, **kwargs):
    time.sleep(60)  # gevent's sleep once patched, as gevent's getaddrinfo waits on its resolver
gevent.spawn(ticker)
if sys.argv[1] == "imported-first":
    socket.getaddrinfo = never  # stands for gevent's getaddrinfo on a DNS server that never answers
    transport = PinnedTransport(NetworkPolicy())
else:
    transport = PinnedTransport(NetworkPolicy(), resolver=never)
try:
    transport.handle_request(httpx.Request("GET", "http://x.test/", extensions={"timeout": {"connect": 0.5}}))
except httpx.ConnectTimeout as exc:
    print("timeout", len(ticks), exc)
"""


@pytest.mark.parametrize("order", ["patched-first", "imported-first"])
def test_the_bounded_resolution_is_cooperative_under_gevent(order):
    result = subprocess.run([sys.executable, "-c", GEVENT_PROBE, order], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parent.parent)
    word, ticks, *_ = (result.stdout.split() or ["", "0"]) + [""]
    assert word == "timeout", result.stderr[-2000:]
    assert int(ticks) >= 5  # the other greenlet ran while the resolution was waited for


def test_allowed_hosts_entries_are_kept_as_names_and_networks_only():
    policy = NetworkPolicy.from_settings(["api.test", "127.1", "10.0.0.0/8"])
    assert policy == NetworkPolicy(("api.test",), (ipaddress.ip_network("127.0.0.1/32"),
                                                   ipaddress.ip_network("10.0.0.0/8")))
    assert not hasattr(policy, "allowed_hosts")
