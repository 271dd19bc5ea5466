"""The transport every request goes through: it resolves the host itself, checks each address
against the network policy, and connects to the checked address (DNS cannot change its answer in
between); it also routes the proxy variables, which httpx ignores once a transport is given.
One TLS context per setting serves the whole process."""

from __future__ import annotations

import functools
import os
import socket
import ssl
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx

from utils.errors import BlockedAddress
from utils.network_policy import NetworkPolicy, parse_ip

Resolver = Callable[..., list[Any]]


def ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per setting for the whole process: building one loads the CA bundle, ~15 ms
    of CPU that stalls every other run in the process (greenlets), 50 times over for 50 runs.
    Keyed on the variables httpx reads too (SSL_CERT_FILE, SSL_CERT_DIR), so a change is seen."""
    return _ssl_context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _ssl_context(verify: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)


class PinnedTransport(httpx.BaseTransport):
    """Resolves the host itself, checks every address against the policy, and connects to the
    checked address (TLS still verifies the host name through ``sni_hostname``): a name that
    resolves to a refused address is refused, and DNS cannot change its answer in between.

    httpx ignores proxy variables once a transport is given, so this transport routes them
    itself, reading HTTP(S)_PROXY / ALL_PROXY / NO_PROXY with the standard library's rules. A
    proxied request gets the name-level checks (the request hook); the proxy resolves the name.
    """

    def __init__(self, policy: NetworkPolicy, verify: bool = True, resolver: Resolver = socket.getaddrinfo,
                 inner: httpx.BaseTransport | None = None, trust_env: bool = True) -> None:
        self._policy = policy
        self._resolver = resolver
        self._verify = verify
        self._inner = inner or httpx.HTTPTransport(verify=ssl_context(verify))
        self._proxy_env = urllib.request.getproxies_environment() if trust_env else {}
        self._proxies: dict[str, httpx.HTTPTransport] = {}

    def _proxy_for(self, url: httpx.URL) -> httpx.BaseTransport | None:
        proxy = self._proxy_env.get(url.scheme) or self._proxy_env.get("all")
        if not proxy or urllib.request.proxy_bypass_environment(f"{url.host}:{url.port or ''}".rstrip(":"),
                                                                self._proxy_env):
            return None
        if proxy not in self._proxies:
            self._proxies[proxy] = httpx.HTTPTransport(proxy=proxy, verify=ssl_context(self._verify))
        return self._proxies[proxy]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxied = self._proxy_for(request.url)
        if proxied is not None:
            return proxied.handle_request(request)
        host = request.url.host
        if parse_ip(host) is not None:
            self._policy.check_host(host)
            return self._inner.handle_request(request)
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            infos = self._resolver(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve host '{host}' ({exc.strerror or exc})", request=request) from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise httpx.ConnectError(f"host '{host}' has no address", request=request)
        for address in addresses:
            ip = parse_ip(address)
            if ip is None:
                raise BlockedAddress(f"Host '{host}' resolved to an unusable address")
            self._policy.check_address(host, ip)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        failure: httpx.ConnectError | None = None
        for address in addresses:  # in the resolver's order, as a connect() over a name would
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # keeps the original Host header
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self._inner.handle_request(pinned)
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def close(self) -> None:
        self._inner.close()
        for transport in self._proxies.values():
            transport.close()
