"""The administrator's settings (the provider's credentials) in, typed settings out.

Shared by ``provider/`` (which validates them) and the tools (which apply them), so both read
the same field the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utils.network_policy import NetworkPolicy
from utils.request_options import boolean, check_url
from utils.user_input import parse_headers, parse_list


@dataclass(frozen=True)
class ProviderSettings:
    policy: NetworkPolicy
    default_headers: tuple[tuple[str, str], ...] = ()
    test_url: str = ""


def parse_settings(credentials: Mapping[str, Any] | None) -> ProviderSettings:
    creds = credentials or {}
    hosts = parse_list(str(creds.get("allowed_hosts") or ""))
    policy = NetworkPolicy.from_settings(hosts, boolean(creds, "allow_private_networks", True))
    headers = parse_headers(str(creds.get("default_headers") or ""), "default_headers")
    test_url = str(creds.get("test_url") or "").strip()
    if test_url:
        check_url(test_url, "test_url")
    return ProviderSettings(policy, tuple(headers), test_url)
