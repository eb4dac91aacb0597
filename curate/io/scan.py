"""Byte scans of a JSONL chunk that decide whether polars may parse it (the reader's fast path).

polars and orjson read two kinds of line differently: a lone surrogate escape (polars writes NUL,
orjson rejects the line) and a repeated key (polars keeps the first value, orjson the last). The
reader checks a chunk's text for both before it hands the chunk to polars, with numpy passes over
the bytes a window at a time: on a 20k-line, 29 MB HH chunk ~11 ms for both keys' counts where
``bytes.count`` took ~40, and ~8 ms for the surrogate escapes where ``re.finditer`` took ~18
(benchmarks/README.md, "Ingest"), time the reader's one interpreter spent holding the GIL.
"""

from __future__ import annotations

import re

import numpy as np

from curate.io.rows import JSONError, loads

_BACKSLASH, _QUOTE_BYTE = 0x5C, 0x22
_HIGH_HEX = np.frombuffer(b"89abcdefABCDEF", np.uint8)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


WINDOW = 1 << 18  # bytes compared at a time: a reused 256 KB mask, where one mask of the whole
# 29 MB chunk cost more in fresh pages than the comparison itself (16 ms against ~3)


def positions(a: np.ndarray, head: bytes) -> np.ndarray:
    """Offsets in the uint8 array `a` where `head` (one or two bytes) starts, found a window at a time
    into reused masks; two bytes are compared as two shifted views, so a common first byte (the
    backslash of every ``\\n``) does not yield an offset to narrow."""
    n = len(a) - len(head) + 1
    mask, pair = np.empty(max(0, min(WINDOW, n)), bool), np.empty(max(0, min(WINDOW, n)), bool)
    found = [np.zeros(0, np.int64)]
    for at in range(0, max(0, n), WINDOW):
        w = min(WINDOW, n - at)
        np.equal(a[at:at + w], head[0], out=mask[:w])
        if len(head) > 1:
            np.equal(a[at + 1:at + 1 + w], head[1], out=pair[:w])
            mask[:w] &= pair[:w]
        found.append(np.flatnonzero(mask[:w]) + at)
    return np.concatenate(found)


def _narrow(a: np.ndarray, at: np.ndarray, tail: bytes, skip: int = 1) -> np.ndarray:
    """The offsets of `at` whose bytes from ``at + skip`` on are `tail` (the caller matched the first `skip`)."""
    at = at[at + skip + len(tail) <= len(a)]
    for j, byte in enumerate(tail, skip):
        at = at[a[at + j] == byte]
    return at


def token_count(text: bytes | np.ndarray, token: bytes, first: np.ndarray | None = None) -> int:
    """Occurrences of `token` in `text`, overlapping ones each counted (so never fewer than
    ``bytes.count`` finds); `first`: the offsets of the token's first byte, when already known."""
    a = np.frombuffer(text, np.uint8) if isinstance(text, bytes) else text
    if not token:
        return 0
    if first is None:
        return len(_narrow(a, positions(a, token[:2]), token[2:], skip=len(token[:2])))
    return len(_narrow(a, first, token[1:]))


def surrogate_escapes(text: bytes | np.ndarray) -> np.ndarray:
    """Offsets of every ``\\uD8``-``\\uDF`` escape (either case) in `text`, in order: where a lone
    surrogate could be. No two overlap (each is four bytes that hold one backslash)."""
    a = np.frombuffer(text, np.uint8) if isinstance(text, bytes) else text
    at = positions(a, b"\\u")
    at = at[at + 3 < len(a)]
    at = at[(a[at + 2] | 0x20) == ord("d")]
    return at[np.isin(a[at + 3], _HIGH_HEX)]


def maybe_lone_surrogate(blob: bytes) -> bool:
    """False when every surrogate escape in `blob` is half of a high+low pair whose backslash does not
    follow another backslash (``\\\\ud83d`` may be escaped text, or an escape after escaped text, so
    it counts as maybe lone, and orjson decides). A chunk of ASCII-escaped chat holds a few hundred
    emoji in tens of thousands of lines: the escapes are found in numpy, then checked one by one."""
    pair_end = -1
    for i in surrogate_escapes(blob).tolist():
        if i == pair_end:
            continue  # the low half of the pair just seen
        if (i and blob[i - 1] == _BACKSLASH) or not _PAIR.match(blob, i):
            return True
        pair_end = i + 6
    return False


def disagrees(blob: bytes, lines: list[bytes]) -> bool:
    """Whether polars would read some line differently from orjson: a lone surrogate escape.

    Paired surrogates (emoji in ASCII-escaped JSON) are common and read alike, so only a blob with
    an escape that may be a lone one has its lines with surrogate escapes checked, with orjson.
    """
    if not maybe_lone_surrogate(blob):
        return False
    for line in lines:  # rare (a maybe-lone escape in the chunk): a regex per line is cheap enough
        if _SURROGATE.search(line):
            try:
                loads(line)
            except JSONError:
                return True
    return False


def keys_once(blob: bytes, keys: tuple[str, ...], rows: int) -> bool:
    """Whether `blob` (`rows` JSON objects) can hold each of `keys` at most once per row: the quoted
    keys appear exactly ``len(keys) * rows`` times in all. A repeated key (or a string value that is
    exactly a key's name) makes the count differ and sends the chunk to the row path."""
    a = np.frombuffer(blob, np.uint8)
    quotes = positions(a, b'"')  # found once for every key
    return sum(token_count(a, f'"{k}"'.encode(), quotes) for k in keys) == len(keys) * rows


def escaped(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per offset in `at`, whether the byte there is escaped: after an odd run of backslashes."""
    run = np.zeros(len(at), np.int64)
    live = np.ones(len(at), bool)
    while live.any():  # one step back per pass; runs longer than one backslash are rare
        back = at - run - 1
        live &= back >= 0
        live[live] = a[back[live]] == _BACKSLASH
        run += live
    return run % 2 == 1


def plain_string_rows(blob: bytes, keys: tuple[str, ...], rows: int, newlines: np.ndarray | None = None) -> bool:
    """Whether each of the `rows` lines of `blob` holds each of `keys` once, as a string, and nothing
    else: then polars may parse the chunk with a fixed all-string schema instead of inferring one from
    every row (~20 ms against ~50 for a 20k-line HH chunk). A fixed schema is only safe on such lines:
    polars drops a key the schema lacks and reads a number as text, where the row path sees them.

    Read from the bytes, per line: exactly four unescaped quotes per key, and each key's quoted name
    once, followed by ``": "`` or ``":"`` and a quote. A key's name takes two of its four quotes and
    its string value the other two, so no quote is left for another key or string. Any other line
    (more keys, a non-string value, other spacing, a repeated key) returns False, and the reader
    infers the schema as before. A line that is not an object at all polars refuses either way.
    `newlines`: the offsets of `blob`'s newlines, when the caller has them (``Lines.newlines``).
    """
    a = np.frombuffer(blob, np.uint8)
    quotes = positions(a, b'"')
    real = quotes[~escaped(a, quotes)]
    # line i is before ends[i]; the last line may have no newline
    ends = positions(a, b"\n") if newlines is None else newlines
    if len(ends) not in (rows - 1, rows) or len(real) != 4 * len(keys) * rows:
        return False
    if (np.bincount(np.searchsorted(ends, real), minlength=rows) != 4 * len(keys)).any():
        return False
    for key in keys:
        token = f'"{key}"'.encode()
        at = _narrow(a, real, token[1:]) + len(token)
        at = at[at + 2 < len(a)]
        at = at[a[at] == ord(":")]
        spaced = a[at + 1] == ord(" ")
        at = at[np.where(spaced, a[np.minimum(at + 2, len(a) - 1)], a[at + 1]) == _QUOTE_BYTE]
        if len(at) != rows or (np.bincount(np.searchsorted(ends, at), minlength=rows) != 1).any():
            return False
    return True
