"""Which hosts and addresses a run may reach. Pure decisions; the transport asks before connecting.

- ``allowed_hosts`` (empty: any host): exact names, ``*.example.com`` wildcards, IP addresses
  and CIDR ranges. A host must match a name, or every address it resolves to must lie in a
  listed range. When a proxy resolves the name (we never see its addresses), only a listed
  name can vouch for it.
- Private and loopback ranges are allowed unless ``allow_private`` is off (self-hosted Dify
  calls internal services such as ``http://api:5001``).
- Link-local and cloud metadata addresses are always refused unless listed explicitly (as an
  address, a range, or the exact host name): they are where credentials of the host live.

Hosts are read as the C resolver reads them (``inet_aton``: ``2852039166``, ``0xa9fea9fe``,
``169.254.43518``, ``127.1``, octal ``0251.0376.0251.0376``), and an IPv6 address that embeds
an IPv4 address (IPv4-mapped, IPv4-compatible, SIIT, NAT64, 6to4, Teredo) is judged by every
IPv4 address it embeds as well as by itself.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from utils.errors import BlockedAddress, InvalidParameter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local: AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "::/128",
        "224.0.0.0/4",  # multicast
        "ff00::/8",
        "255.255.255.255/32",
    )
)
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "198.18.0.0/15",  # benchmarking, also used by fake-IP proxies
        "::1/128",
        "fc00::/7",  # unique local
    )
)

# IPv6 ranges that carry an IPv4 address, and where (RFC 4291 2.5.5, RFC 2765, RFC 6052, RFC 8215,
# RFC 3056, RFC 4380).
_V4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (:: and ::1 excepted)
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use prefix, any RFC 6052 length >= /48

# One inet_aton part: hexadecimal (0x...), octal (leading 0) or decimal.
_Aton_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_ipv4_aton(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as ``inet_aton`` (glibc's resolver) reads it: one to four parts separated by
    dots, each decimal, octal (``0`` prefix) or hexadecimal (``0x``); the last part fills the
    remaining bytes (``127.1`` = 127.0.0.1, ``2852039166`` = 169.254.169.254). One trailing dot
    is accepted too (browsers read ``127.0.0.1.`` as an address). None when it is not an address."""
    if text.endswith("."):
        text = text[:-1]
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_Aton_PART.fullmatch(p) for p in parts):
        return None
    values = [int(p, 16) if p[1:2] in ("x", "X") else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address ``address`` carries, for the transition mechanisms a network may route:
    IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``,
    NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48`` (each RFC 6052 layout from /48 to /96),
    6to4 ``2002::/16``, Teredo ``2001::/32`` (server and client)."""
    number = int(address)
    found: list[int] = []
    if address.ipv4_mapped is not None or address in _SIIT or address in _NAT64:
        found.append(number & 0xFFFFFFFF)
    elif address in _V4_COMPATIBLE and number > 1:
        found.append(number)
    elif address in _NAT64_LOCAL:
        # The operator picks the layout; every reading is judged, except those in 0.0.0.0/8 (the
        # zero bits of another layout), which no translator forwards.
        bits = f"{number:0128b}"
        for layout in (bits[48:64] + bits[72:88], bits[56:64] + bits[72:96], bits[72:104], bits[96:128]):
            if int(layout, 2) >> 24:
                found.append(int(layout, 2))
    if address.sixtofour is not None:
        found.append(int(address.sixtofour))
    if address.teredo is not None:
        found.extend(int(a) for a in address.teredo)
    return tuple(ipaddress.IPv4Address(n) for n in dict.fromkeys(found))


@functools.lru_cache(maxsize=1024)  # a run asks about its host ~5 times (URL check, each hop, the connect)
def parse_ip(text: str) -> IPAddress | None:
    """A host as an address, or None for a name: IPv6 literals (brackets and zone id dropped;
    IPv4-mapped ones as their IPv4 address), every ``inet_aton`` form of IPv4, and those forms
    percent-encoded (``%31%32%37.0.0.1``), as a URL parser that decodes hosts would read them.
    The answer is immutable, so it is cached."""
    text = text.strip().strip("[]")
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
        return address.ipv4_mapped or address
    if "%" in text:
        text = unquote(text)
    return parse_ipv4_aton(text)


def _in(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address in net for net in networks if net.version == address.version)


def _is_localhost(host: str) -> bool:
    """RFC 6761: ``localhost`` and its subdomains always mean the loopback address."""
    return host == "localhost" or host.endswith(".localhost")


def check_host_name(host: str) -> None:
    """A host name DNS can carry (RFC 1035 §2.3.4: labels of 1 to 63 octets, 253 in all, as the
    ``idna`` codec checks them): anything else is refused here with one line, instead of failing
    later inside the resolver (a permanent error, not a reason to reconnect)."""
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError as exc:
        shown = host if len(host) <= 60 else host[:57] + "..."
        raise BlockedAddress(f"Host '{shown}' is not a valid host name ({exc})") from None
    if len(encoded) > 253:
        raise BlockedAddress(f"Host '{host[:57]}...' is not a valid host name (longer than 253 characters)")


@dataclass(frozen=True)
class NetworkPolicy:
    names: tuple[str, ...] = ()  # lower-case exact names and "*.suffix" wildcards
    networks: tuple[IPNetwork, ...] = ()
    allow_private: bool = True

    @classmethod
    def from_settings(cls, allowed_hosts: Iterable[str] = (), allow_private: bool = True,
                      name: str = "allowed_hosts") -> NetworkPolicy:
        names: list[str] = []
        networks: list[IPNetwork] = []
        for entry in (h.strip() for h in allowed_hosts if h and h.strip()):
            address = parse_ip(entry)
            if address is not None:
                networks.append(ipaddress.ip_network(address))
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError:
                    raise InvalidParameter(name, f"'{entry}' is not a valid IP address or CIDR range") from None
                continue
            host = entry.lower().rstrip(".")
            bare = host[2:] if host.startswith("*.") else host
            if not bare or not all(part and all(c.isalnum() or c in "-_" for c in part) for part in bare.split(".")):
                raise InvalidParameter(name, f"'{entry}' is not a host name, '*.domain' wildcard, IP or CIDR")
            names.append(host)
        return cls(tuple(names), tuple(networks), allow_private)

    @property
    def restricted(self) -> bool:
        return bool(self.names or self.networks)

    def _name_listed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.names:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False

    def _exact_name_listed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def check_host(self, host: str, resolved_by_proxy: bool = False) -> None:
        """The name-level check, done for every request and redirect hop (proxied or not).

        A host that is an address in any form the resolver accepts is judged as that address.
        ``resolved_by_proxy``: a proxy will resolve the name, so no address of it is ever checked
        here; only a name listed in allowed_hosts is let through a restricted policy, and
        ``localhost`` names are judged as 127.0.0.1.
        Raises ``BlockedAddress`` (one line naming the host)."""
        address = parse_ip(host)
        if address is not None:
            self.check_address(host, address)
            return
        check_host_name(host)
        if not self.restricted:
            if resolved_by_proxy and _is_localhost(host.lower().rstrip(".")):
                self.check_address(host, ipaddress.IPv4Address("127.0.0.1"))
            return
        if self._name_listed(host):
            return
        if not self.networks:
            raise BlockedAddress(f"Host '{host}' is not in the allowed hosts of this tool")
        if resolved_by_proxy:
            raise BlockedAddress(
                f"Host '{host}' is not in the allowed hosts of this tool (through a proxy, which resolves the "
                "name itself, only a listed host name can be checked, not an IP range)"
            )

    def check_address(self, host: str, address: IPAddress) -> None:
        """Checks one address that ``host`` resolved to (or is), with every IPv4 address it
        embeds. Raises ``BlockedAddress`` (one line naming the host and the address)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        forms: tuple[IPAddress, ...] = (address,)
        if isinstance(address, ipaddress.IPv6Address):
            forms += embedded_ipv4(address)
        named = parse_ip(host) is None
        listed_name = named and self._name_listed(host)
        exact_name = named and self._exact_name_listed(host)
        if self.restricted and not listed_name and not any(self._network_listed(f) for f in forms):
            raise BlockedAddress(f"Host '{host}' ({address}) is not in the allowed hosts of this tool")
        for form in forms:
            if self._network_listed(form):  # an explicit listing vouches for that address
                continue
            shown = f"{address}" if form == address else f"{address} (which carries {form})"
            if _in(form, _METADATA) and not exact_name:
                raise BlockedAddress(
                    f"Address {shown} of '{host}' is link-local or a cloud metadata address, which is always "
                    "refused unless listed in allowed_hosts"
                )
            if not self.allow_private and not listed_name and _in(form, _PRIVATE):
                raise BlockedAddress(
                    f"Address {shown} of '{host}' is private or loopback, and private networks are not allowed"
                )

    def _network_listed(self, address: IPAddress) -> bool:
        return _in(address, self.networks)
