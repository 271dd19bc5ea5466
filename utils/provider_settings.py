"""The administrator's settings (the provider's credentials) in, typed settings out.

Shared by ``provider/`` (which validates them) and the tools (which apply them), so both read
the same field the same way, with the parsers the tools' parameters use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utils.network_policy import NetworkPolicy
from utils.parameters import as_boolean, as_text, check_url, parse_headers, parse_list


@dataclass(frozen=True)
class ProviderSettings:
    policy: NetworkPolicy
    default_headers: tuple[tuple[str, str], ...] = ()
    test_url: str = ""


def parse_settings(credentials: Mapping[str, Any] | None) -> ProviderSettings:
    creds = credentials or {}
    hosts = parse_list(as_text(creds.get("allowed_hosts"), "allowed_hosts"), "allowed_hosts")
    private = as_boolean(creds.get("allow_private_networks"), "allow_private_networks", True)
    policy = NetworkPolicy.from_settings(hosts, private)
    headers = parse_headers(as_text(creds.get("default_headers"), "default_headers"), "default_headers")
    test_url = as_text(creds.get("test_url"), "test_url").strip()
    if test_url:
        check_url(test_url, "test_url")
    return ProviderSettings(policy, tuple(headers), test_url)
