"""One text field of a stream whose events carry either deltas or the whole text so far.

Some APIs repeat the whole text in every event (DashScope without ``incremental_output``, many
company gateways); others send only what is new. ``TextField.add(text)`` turns either into the
delta to stream now, and says when the text kept for the answer must be replaced.
"""

from __future__ import annotations

import os

DELTA = "delta"
CUMULATIVE = "cumulative"
CONFIRM_TEXTS = 4  # a detected cumulative stream is taken as sure after this many texts, each longer than the last


class TextField:
    """``mode``: ``"delta"`` (each text is new), ``"cumulative"`` (each text is the whole text so far)
    or ``None`` (detect it from the data, as DashScope's ``incremental_output`` cannot be seen).

    Empty texts mean "nothing in this event" in every mode, never "the text is now empty".

    Cumulative: the delta is what a text adds to the previous one. A text that does not extend the
    previous one is a rewrite (``rewrites`` counts them): the answer becomes the new text and the
    live stream gets the new text after the part both share (a live stream can only append).

    Detection: the first text is streamed whole (it is that in both modes). The second decides:
    cumulative if it starts with the first, otherwise delta. A cumulative guess is checked on the
    next texts until the first text and ``CONFIRM_TEXTS - 1`` texts longer than their predecessor
    came (a text equal to the previous one confirms nothing): if one does not extend its predecessor, the stream was
    incremental after all (a repeated token such as ``"**"``, ``"**"``): the mode turns to delta
    and the answer is rebuilt from every text received (the live stream missed the repeats).
    """

    __slots__ = ("_grown", "_lengths", "mode", "rewrites", "text")

    def __init__(self, mode: str | None = None) -> None:
        if mode not in (None, DELTA, CUMULATIVE):
            raise ValueError(f"mode must be None, {DELTA!r} or {CUMULATIVE!r}")
        self.mode = mode
        self.text = ""  # cumulative or undecided: the last whole text
        self.rewrites = 0
        self._lengths: list[int] | None = None  # a cumulative guess not yet sure: each text's length
        self._grown = 0  # texts of the guess longer than the one before them

    def add(self, text: str) -> tuple[str, str | None]:
        """Returns (the text to stream now, the whole text when it replaces what was kept, else None:
        the delta is then to be appended)."""
        if not text:
            return "", None
        mode = self.mode
        if mode == DELTA:
            return text, None
        previous = self.text
        if mode is None:
            self.text = text
            if not previous:  # the first text: the same in both modes
                return text, None
            if text.startswith(previous):
                self.mode, self._lengths = CUMULATIVE, [len(previous), len(text)]
                self._grown = 1 + (len(text) > len(previous))
                return text[len(previous):], text
            self.mode = DELTA
            return text, None
        self.text = text
        if text.startswith(previous):
            lengths = self._lengths
            if lengths is not None:
                lengths.append(len(text))
                self._grown += len(text) > len(previous)
                if self._grown >= CONFIRM_TEXTS:
                    self._lengths = None
            return text[len(previous):], text
        if self._lengths is not None:  # guessed cumulative, but it was a stream of deltas
            whole = "".join(previous[:n] for n in self._lengths) + text
            self.mode, self._lengths, self.text = DELTA, None, ""
            return text, whole
        self.rewrites += 1
        shared = len(os.path.commonprefix((previous, text)))
        return text[shared:], text
