"""Every form a secret may take in text that leaves the plugin (issue 18.3), for the tests that
scan output for them: the secret itself, percent-encoded (upper and lower hex, ``+`` for a
space, only the reserved characters or every one), the Base64 of a ``user:password`` pair as a
Basic header carries it, and a header value's credential after ``Bearer ``."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus


def forms(secret: str) -> list[str]:
    found = [secret, quote(secret, safe=""), quote(secret, safe="").lower(), quote_plus(secret, safe=""),
             quote(secret), secret.lower()]
    found = [f[:1] + f[1:].replace("%2F", "%2f") for f in found]  # also a mixed-case form
    found += [secret, quote(secret, safe="")]
    if ":" in secret:
        found.append(base64.b64encode(secret.encode()).decode())
    if secret.startswith("Bearer "):
        found.append(secret[len("Bearer "):])
    return list(dict.fromkeys(f for f in found if len(f) >= 8))


def all_forms(*secrets: str) -> list[str]:
    return list(dict.fromkeys(f for s in secrets for f in forms(s)))
