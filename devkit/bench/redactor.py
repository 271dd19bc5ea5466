"""``python -m devkit.bench.redactor``: what masking costs per event on the hot path (issue 18.3).

A run that carries secrets calls ``Redactor.found_in`` once per event. Prints the cost per event
for a small chat chunk and a 12 KB event, with a run's usual secrets (Bearer token, URL password
and its Basic pair, a signed-URL signature, a gateway key), next to a plain regex of the raw
secrets (what masking cost before every encoded form was masked). Not part of the test suite.
"""

from __future__ import annotations

import re
import timeit

from utils.secrets import Redactor

SECRETS = ["tok+en/0123456789=AbC", "Bearer tok+en/0123456789=AbC", "hunter2-pass/word", "alice:hunter2-pass/word",
           "sv+Sig/Abc=123 xyz", "sk-live-0123456789abcdef"]
CHUNK = ('{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"delta":{"content":'
         '"Hello world, a token"}}]}')


def main() -> None:
    redactor = Redactor(SECRETS)
    literal = re.compile("|".join(map(re.escape, sorted(SECRETS, key=len, reverse=True))))
    for name, text in (("chat chunk", CHUNK), ("12 KB event", CHUNK * 100)):
        number = 50_000 if len(text) < 1000 else 1_000
        ours = min(timeit.repeat(lambda text=text: redactor.found_in(text), number=number, repeat=3)) / number * 1e6
        plain = min(timeit.repeat(lambda text=text: literal.search(text), number=number, repeat=3)) / number * 1e6
        print(f"{name:12} {len(text):6} chars: found_in {ours:7.2f} us/event   raw-secrets regex {plain:7.2f} us/event")


if __name__ == "__main__":
    main()
