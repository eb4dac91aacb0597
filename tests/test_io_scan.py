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


def test_escaped_quotes_by_backslash_runs():
    import numpy as np

    from curate.io.scan import escaped

    text = rb'a"b\"c\\"d\\\"e'  # quotes at 1 (plain), 4 (after one \), 8 (after two), 13 (after three)
    a = np.frombuffer(text, np.uint8)
    at = np.array([i for i, ch in enumerate(text) if ch == ord('"')])
    assert at.tolist() == [1, 4, 8, 13]
    assert escaped(a, at).tolist() == [False, True, False, True]


KEYS = ("chosen", "rejected")


@pytest.mark.parametrize("lines, plain", [
    ([b'{"chosen": "a", "rejected": "b"}', b'{"chosen":"c","rejected":"d"}'], True),  # both spacings
    ([rb'{"chosen": "say \"hi\"", "rejected": "ends in \\"}'], True),  # escaped quote, escaped backslash
    ([rb'{"rejected": "b", "chosen": "a"}'], True),  # key order is free
    ([b'{"chosen": "a", "rejected": "b", "x": 1}'], False),  # another key
    ([b'{"chosen": 5, "rejected": "b", "x": null}'], False),  # 8 quotes, but chosen is a number
    ([b'{"chosen": "a", "rejected": "b", "x": "y"}', b'{"chosen": 5, "rejected": "b"}'], False),  # 16 in all
    ([b'{"chosen": "a", "rejected": "b", "chosen": "c"}'], False),  # a repeated key
    ([b'{"chosen": "chosen", "rejected": "b"}'], True),  # a value that is a key's name: no colon after it
    ([b'{"chosen" : "a", "rejected": "b"}'], False),  # other spacing: inferred, not wrong
    ([b'{"nested": {"chosen": "a", "rejected": "b"}}'], False),
    ([b'[{"chosen": "a", "rejected": "b"}]'], True),  # not an object: polars refuses it, row path decides
])
def test_plain_string_rows_worked_examples(lines, plain):
    from curate.io.scan import plain_string_rows

    assert plain_string_rows(b"\n".join(lines), KEYS, len(lines)) is plain
    assert plain_string_rows(b"\n".join(lines) + b"\n", KEYS, len(lines)) is plain  # a range as read
