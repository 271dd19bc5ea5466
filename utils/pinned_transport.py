"""The transport every request goes through: it resolves the host itself, checks each address
against the network policy, and connects to the checked address (DNS cannot change its answer in
between); it also routes the proxy variables, which httpx ignores once a transport is given.
One TLS context per setting serves the whole process."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx

from utils.errors import BlockedAddress, ConnectFailed
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


@functools.cache
def plain_context() -> ssl.SSLContext:
    """The context given to the transport of ``http://`` origins, which never starts TLS (httpcore
    keys its connections by scheme, host and port): a bare client context, no CA bundle loaded, so
    the first ``http://`` call of a process does not pay ~15-50 ms for a context it never uses
    (issue 19). Were it ever used, it would verify against no CA at all: it fails closed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def system_resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
    """``socket.getaddrinfo`` as it is when called: gevent's cooperative one once the SDK has
    monkey-patched, even if this module was imported before the patch."""
    return socket.getaddrinfo(host, port, **kwargs)


class PinnedTransport(httpx.BaseTransport):
    """Resolves the host itself, checks every address against the policy, and connects to the
    checked address (TLS still verifies the host name through ``sni_hostname``): a name that
    resolves to a refused address is refused, and DNS cannot change its answer in between.

    A host written as an address in any form the C resolver reads (``127.1``, ``0x7f000001``)
    is checked and sent as its dotted form, so neither the connection nor a proxy reads it
    another way. Name resolution is bounded by the attempt's connect timeout (httpx passes it in
    ``request.extensions["timeout"]``); the connect gets what is left of it. Under gevent (the
    SDK monkey-patches) the resolution runs in a green thread and the wait is cooperative.

    httpx ignores proxy variables once a transport is given, so this transport routes them
    itself, reading HTTP(S)_PROXY / ALL_PROXY / NO_PROXY with the standard library's rules. A
    proxied request (every redirect hop passes here too) gets the policy's host checks with
    ``resolved_by_proxy``: the proxy resolves the name, so only a listed name vouches for it.
    """

    def __init__(self, policy: NetworkPolicy, verify: bool = True, resolver: Resolver | None = None,
                 inner: httpx.BaseTransport | None = None, trust_env: bool = True) -> None:
        self._policy = policy
        self._resolver = resolver or system_resolver
        self._verify = verify
        self._given = inner
        self._inners: dict[str, httpx.BaseTransport] = {}  # per scheme, built on first use
        self._proxy_env = urllib.request.getproxies_environment() if trust_env else {}
        self._proxies: dict[str, httpx.HTTPTransport] = {}

    def _inner(self, scheme: str) -> httpx.BaseTransport:
        """The direct transport for ``scheme``: only an ``https`` one loads the CA bundle."""
        if self._given is not None:
            return self._given
        transport = self._inners.get(scheme)
        if transport is None:
            context = ssl_context(self._verify) if scheme == "https" else plain_context()
            transport = self._inners[scheme] = httpx.HTTPTransport(verify=context)
        return transport

    def _proxy_for(self, url: httpx.URL) -> httpx.BaseTransport | None:
        proxy = self._proxy_env.get(url.scheme) or self._proxy_env.get("all")
        if not proxy or urllib.request.proxy_bypass_environment(f"{url.host}:{url.port or ''}".rstrip(":"),
                                                                self._proxy_env):
            return None
        if "://" not in proxy:
            proxy = "http://" + proxy  # host:port, as curl, requests and httpx read it
        if proxy not in self._proxies:
            try:
                self._proxies[proxy] = httpx.HTTPTransport(proxy=proxy, verify=ssl_context(self._verify))
            except (ValueError, ImportError, httpx.InvalidURL) as exc:
                shown = re.sub(r"//[^/@]*@", "//***@", proxy)[:100]
                reason = " ".join(str(exc).split())[:100].replace(proxy, shown)
                raise ConnectFailed(f"The proxy '{shown}' set in the environment (HTTP_PROXY, HTTPS_PROXY or "
                                    f"ALL_PROXY) cannot be used: {reason}") from None
        return self._proxies[proxy]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        address = parse_ip(host)
        if address is not None and isinstance(address, ipaddress.IPv4Address) and str(address) != host:
            request = _with_host(request, str(address), request.extensions)  # 127.1 -> 127.0.0.1
        proxied = self._proxy_for(request.url)
        if proxied is not None:
            self._policy.check_host(host, resolved_by_proxy=True)
            return proxied.handle_request(request)
        if address is not None:
            self._policy.check_address(host, address)
            return self._inner(request.url.scheme).handle_request(request)
        started = time.monotonic()
        connect_timeout = (request.extensions.get("timeout") or {}).get("connect")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        infos = self._resolve(request, host, port, connect_timeout)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise httpx.ConnectError(f"host '{host}' has no address", request=request)
        for resolved in addresses:
            ip = parse_ip(resolved)
            if ip is None:
                raise BlockedAddress(f"Host '{host}' resolved to an unusable address")
            self._policy.check_address(host, ip)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        if connect_timeout is not None:  # the connect gets what the resolution left of the timeout
            left = max(0.001, connect_timeout - (time.monotonic() - started))
            extensions["timeout"] = {**extensions["timeout"], "connect": left}
        failure: httpx.ConnectError | None = None
        for resolved in addresses:  # in the resolver's order, as a connect() over a name would
            try:
                return self._inner(request.url.scheme).handle_request(_with_host(request, resolved, extensions))
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def _resolve(self, request: httpx.Request, host: str, port: int, timeout: float | None) -> list[Any]:
        """getaddrinfo, given up after ``timeout`` seconds (None: the resolver's own limits).

        The call runs in a daemon thread (a greenlet once gevent has patched ``threading``, with
        ``getaddrinfo`` on gevent's resolver), and the wait for it is an Event's: cooperative
        either way. A resolution given up on finishes unseen in the background."""
        try:
            if timeout is None:
                return self._resolver(host, port, type=socket.SOCK_STREAM)
            outcome: list[Any] = []
            done = threading.Event()

            def work() -> None:
                try:
                    outcome.append(self._resolver(host, port, type=socket.SOCK_STREAM))
                except BaseException as exc:  # handed to the waiting caller
                    outcome.append(exc)
                finally:
                    done.set()

            threading.Thread(target=work, name="resolve", daemon=True).start()
            if not done.wait(timeout):
                raise httpx.ConnectTimeout(f"cannot resolve host '{host}' within {timeout:g} s", request=request)
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise httpx.ConnectError(f"cannot resolve host '{host}' ({reason})", request=request) from None

    def close(self) -> None:
        if self._given is not None:
            self._given.close()
        for inner in self._inners.values():
            inner.close()
        for transport in self._proxies.values():
            transport.close()


def _with_host(request: httpx.Request, host: str, extensions: dict[str, Any]) -> httpx.Request:
    """The same request sent to ``host``; the ``Host`` header still names the original host."""
    return httpx.Request(request.method, request.url.copy_with(host=host), headers=request.headers,
                         stream=request.stream, extensions=extensions)
