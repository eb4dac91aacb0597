"""Word n-gram overlap, the test GPT-3 and Llama used for benchmark contamination.

Texts are lower-cased and split into word tokens. A record is contaminated when it shares one
n-gram (default 13 words) with a benchmark prompt. Benchmark prompts shorter than n words are
matched whole (their full token sequence must occur in the record), down to ``min_tokens``;
shorter ones are left to the embedding test, since a 3-word phrase occurs everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class NgramIndex:
    def __init__(self, n: int = 13, min_tokens: int = 8):
        self.n, self.min_tokens = n, min_tokens
        self._grams: dict[int, dict[tuple[str, ...], int]] = {}  # length → gram → benchmark item
        self.skipped = 0
        self._count = 0

    def add(self, items: Iterable[str]) -> None:
        """Add benchmark texts; item numbers continue across calls (0, 1, 2, ... in order added)."""
        for text in items:
            item, self._count = self._count, self._count + 1
            t = tokens(text)
            size = min(self.n, len(t))
            if size < self.min_tokens:
                self.skipped += 1
                continue
            grams = self._grams.setdefault(size, {})
            for j in range(len(t) - size + 1):
                grams.setdefault(tuple(t[j:j + size]), item)

    def match(self, text: str) -> tuple[int, str] | None:
        """(benchmark item, matched words) of the first shared n-gram, or None."""
        t = tokens(text)
        for size, grams in self._grams.items():
            for j in range(len(t) - size + 1):
                item = grams.get(tuple(t[j:j + size]))
                if item is not None:
                    return item, " ".join(t[j:j + size])
        return None

    def __len__(self) -> int:
        return sum(len(g) for g in self._grams.values())
