"""Which hosts and addresses a run may reach. Pure decisions; the client asks before connecting.

- ``allowed_hosts`` (empty: any host): exact names, ``*.example.com`` wildcards, IP addresses
  and CIDR ranges. A host must match a name, or every address it resolves to must lie in a
  listed range.
- Private and loopback ranges are allowed unless ``allow_private`` is off (self-hosted Dify
  calls internal services such as ``http://api:5001``).
- Link-local and cloud metadata addresses are always refused unless listed explicitly (as an
  address, a range, or the exact host name): they are where credentials of the host live.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

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


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_ip(text: str) -> IPAddress | None:
    try:
        return _unmapped(ipaddress.ip_address(text.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


@dataclass(frozen=True)
class NetworkPolicy:
    names: tuple[str, ...] = ()  # lower-case exact names and "*.suffix" wildcards
    networks: tuple[IPNetwork, ...] = ()
    allow_private: bool = True
    allowed_hosts: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, allowed_hosts: Iterable[str] = (), allow_private: bool = True,
                      name: str = "allowed_hosts") -> NetworkPolicy:
        names: list[str] = []
        networks: list[IPNetwork] = []
        entries = tuple(h.strip() for h in allowed_hosts if h and h.strip())
        for entry in entries:
            if "/" in entry or parse_ip(entry) is not None:
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
        return cls(tuple(names), tuple(networks), allow_private, entries)

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

    def _network_listed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)

    def check_host(self, host: str) -> None:
        """The name-level check, done for every request and redirect hop (proxied or not)."""
        address = parse_ip(host)
        if address is not None:
            self.check_address(host, address)
            return
        if self.restricted and not self._name_listed(host) and not self.networks:
            raise BlockedAddress(f"Host '{host}' is not in the allowed hosts of this tool")

    def check_address(self, host: str, address: IPAddress) -> None:
        """Checks one address that ``host`` resolved to (or is)."""
        address = _unmapped(address)
        listed_name = parse_ip(host) is None and self._name_listed(host)
        if self._network_listed(address):
            return
        exact_name = listed_name and not any(p.startswith("*.") and host.lower().endswith(p[1:]) for p in self.names)
        if any(address in net for net in _METADATA if net.version == address.version):
            if not exact_name:
                raise BlockedAddress(
                    f"Address {address} of '{host}' is link-local or a cloud metadata address, which is always "
                    "refused unless listed in allowed_hosts"
                )
            return
        if self.restricted and not listed_name:
            raise BlockedAddress(f"Host '{host}' ({address}) is not in the allowed hosts of this tool")
        if not self.allow_private and not listed_name and any(
            address in net for net in _PRIVATE if net.version == address.version
        ):
            raise BlockedAddress(
                f"Address {address} of '{host}' is private or loopback, and private networks are not allowed"
            )
