"""The network policy: decided per host name, per resolved address and per redirect hop.

No test here sends a packet beyond loopback: refused addresses are refused before any
connection, and names are resolved by a stub resolver."""

from __future__ import annotations

import ipaddress
import socket

import httpx
import pytest

from tests.helpers import collect, options, run
from utils.errors import BlockedAddress, InvalidParameter
from utils.network_policy import NetworkPolicy
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
