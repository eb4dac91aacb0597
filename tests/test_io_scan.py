"""The fast path's byte scans (curate/io/scan.py) against the plain Python scans they replace."""

import random
import re

import pytest

from curate.io.scan import keys_once, surrogate_escapes, token_count

ALPHABET = [b'"', b"chosen", b"rejected", b"\\", b"u", b"d", b"D", b"8", b"c", b"f", b"x", b" ", b":"]


def _texts(seed: int, n: int = 300):
    rng = random.Random(seed)
    for _ in range(n):
        yield b"".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))


@pytest.mark.parametrize("seed", range(3))
def test_token_count_matches_python(seed):
    for text in _texts(seed):
        for token in (b'"chosen"', b'"rejected"', b'"', b"x"):
            # every occurrence, overlapping ones included (bytes.count skips those)
            expect = sum(text.startswith(token, i) for i in range(len(text)))
            assert token_count(text, token) == expect, (text, token)
            assert token_count(text, token) >= text.count(token)


@pytest.mark.parametrize("seed", range(3))
def test_surrogate_escapes_match_regex(seed):
    pattern = re.compile(rb"\\u[dD][89a-fA-F]")
    for text in _texts(seed):
        assert surrogate_escapes(text).tolist() == [m.start() for m in pattern.finditer(text)], text


def test_keys_once_worked_example():
    rows = b'{"chosen": "a", "rejected": "b"}\n{"chosen": "c", "rejected": "d"}'
    assert keys_once(rows, ("chosen", "rejected"), 2)
    repeated = b'{"chosen": "a", "rejected": "b", "chosen": "c"}'
    assert not keys_once(repeated, ("chosen", "rejected"), 1)
    # a quoted key name inside a string is escaped in JSON, so it is not a key token
    escaped = b'{"chosen": "say \\"chosen\\"", "rejected": "b"}'
    assert keys_once(escaped, ("chosen", "rejected"), 1)
    # a value that is exactly a key's name counts: the chunk takes the row path (never wrong, only slower)
    assert not keys_once(b'{"chosen": "chosen", "rejected": "b"}', ("chosen", "rejected"), 1)
