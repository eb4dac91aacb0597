"""The vectorised JSONL/HH path gives exactly the records, reasons, lines and batches of the row path."""

import gzip
import json

import polars as pl
import pytest

from curate.io.reader import Reader


def _both(path, **kw):
    fast = list(Reader(str(path), **kw).batches())
    slow_reader = Reader(str(path), **kw)
    slow_reader._convert_fast = lambda chunk: None
    return fast, list(slow_reader.batches())


def _key(b):
    return [(q["file"], q["line"], q["reason"], q["raw"]) for q in b.quarantined]


def test_fast_equals_slow_on_real_hh(hh_path):
    fast, slow = _both(hh_path, format="hh", batch_size=300)
    assert len(fast) == len(slow) == 8
    for a, b in zip(fast, slow):
        assert a.frame.equals(b.frame) and a.rows == b.rows and _key(a) == _key(b)
    assert sum(b.frame.height for b in fast) == 2303


def test_fast_path_with_edge_rows_and_blank_lines(tmp_path, hh_path):
    rows = [json.loads(x) for x in gzip.open(hh_path, "rt")][:50]
    rows[3]["rejected"] = rows[3]["chosen"]                                   # identical
    rows[7]["chosen"] += "\n\nHuman: and then?"                               # no final response
    rows[9] = {"chosen": "\n\nHuman: hi\n\nAssistant:  ", "rejected": "\n\nHuman: hi\n\nAssistant: yo"}  # empty
    rows[11]["extra"] = {"k": [1, 2]}                                          # metadata column
    lines = [json.dumps(r) for r in rows]
    lines.insert(20, "")                                                       # blank line
    lines.insert(30, "{not json")
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fast, slow = _both(path, format="hh", batch_size=16)
    for a, b in zip(fast, slow):
        assert a.frame.equals(b.frame) and _key(a) == _key(b)
    reasons = {q["line"]: q["reason"] for b in fast for q in b.quarantined}
    assert reasons == {4: "identical_responses", 8: "no_final_response", 10: "empty_response", 31: "invalid_json"}


# ------------------------------------------------------------------ fuzz: fast and row paths agree

_H = "\n\nHuman: {p}\n\nAssistant: {r}"


def _fuzz_lines(seed: int, n: int = 240) -> list[bytes]:
    """HH lines, most in the vectorised case, with the rows that once made the two paths disagree."""
    import random

    rng = random.Random(seed)
    specials = [
        b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: \\ud800 lone", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: no"}',
        b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: \\ud83d\\ude00 pair", '
        b'"rejected": "\\n\\nHuman: hi\\n\\nAssistant: no"}',
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: first", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r",'
        b' "chosen": "\\n\\nHuman: a\\n\\nAssistant: last"}',
        json.dumps({"chosen": _H.format(p="x\u001ey\u001fz", r="c"),
                    "rejected": _H.format(p="x\u001ey\u001fz", r="r")}).encode(),
        json.dumps({"chosen": _H.format(p="q", r="c\u001e"), "rejected": _H.format(p="q", r="r")}).encode(),
        # Python's strip() takes \x1c/\x1d for whitespace, polars' strip_chars does not
        json.dumps({"chosen": _H.format(p="\u001cq\u001d", r="\u001cc\u001d"),
                    "rejected": _H.format(p="\u001cq\u001d", r="r")}).encode(),
        json.dumps({"chosen": _H.format(p="q", r="\u001d"), "rejected": _H.format(p="q", r="r")}).encode(),
        b'{"chosen": 3, "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"}',
        b'{"chosen": "plain text", "rejected": "other text"}',
        b'{"chosen": "\\n\\nAssistant: a\\n\\nAssistant: b", "rejected": "\\n\\nAssistant: a\\n\\nAssistant: c"}',
        b'{"chosen": null, "rejected": "x"}',
        b'{"chosen": "\\n\\nHuman: s\\n\\nAssistant: same", "rejected": "\\n\\nHuman: s\\n\\nAssistant: same"}',
        b'{"chosen": "\\n\\nHuman: t\\n\\nAssistant: c", "rejected": "chosen"}',
        # lines a fixed all-string schema would misread (curate.io.scan.plain_string_rows keeps them out)
        b'{"chosen": 5, "rejected": "\\n\\nHuman: a\\n\\nAssistant: r", "x": null}',
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r", "x": "y"}',
        b'{"chosen":"\\n\\nHuman: a\\n\\nAssistant: c","rejected":"\\n\\nHuman: a\\n\\nAssistant: r"}',
        b'[{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"}]',
        b'{"chos\\u0065n": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"}',
        json.dumps({"chosen": _H.format(p='say "hi" \\', r='c "q" \\'),
                    "rejected": _H.format(p='say "hi" \\', r="r\\")}).encode(),
    ]
    lines = []
    for i in range(n):
        if rng.random() < 0.15:
            lines.append(rng.choice(specials))
        else:
            p = rng.choice(["hi", "how are you?", "tell me a joke", "ünïcödé ✓"])
            row = {"chosen": _H.format(p=p, r=f"good {i}"), "rejected": _H.format(p=p, r=f"bad {i}")}
            lines.append(json.dumps(row, ensure_ascii=rng.random() < 0.5).encode())
    return lines


@pytest.mark.parametrize("fmt", ["hh", "auto"])
@pytest.mark.parametrize("seed", range(3))
def test_fuzz_corpus_same_output_at_every_batch_size(tmp_path, seed, fmt):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(_fuzz_lines(seed)) + b"\n")
    reference = None
    for batch_size in (1, 7, 64, 1000):
        fast, slow = _both(path, format=fmt, batch_size=batch_size)
        for a, b in zip(fast, slow):
            assert a.frame.equals(b.frame) and _key(a) == _key(b) and a.rows == b.rows
        got = (pl.concat([b.frame for b in fast]), sorted(q for b in fast for q in _key(b)))
        if reference is None:
            reference = got
        assert got[0].equals(reference[0]) and got[1] == reference[1], batch_size
    # the rows that once disagreed: lone surrogate rejected, last repeated key wins, no invented turn
    texts = set(reference[0]["chosen"])
    assert "last" in texts and "first" not in texts and not any("\x00" in t for t in texts)
    assert all(len(p) == 1 for p in reference[0]["prompt"])


@pytest.mark.parametrize("text, maybe_lone, orjson_rejects", [
    (rb'"plain \u00e9 text"', False, False),
    (rb'"emoji \ud83d\ude00 and \uD83D\uDE03"', False, False),  # pairs, either case
    (rb'"\ud800 alone"', True, True),
    (rb'"\ude00 low alone"', True, True),
    (rb'"\ud83d\ud83d\ude00"', True, True),  # a high before a pair
    (rb'"\\ud83d\ude00"', True, True),  # escaped text, then a lone low escape
    (rb'"\\\ud83d\ude00"', True, False),  # an escaped backslash, then a pair: orjson decides
    (rb'"\ud83d\\ude00"', True, True),  # a lone high, then escaped text
])
def test_lone_surrogate_precheck(text, maybe_lone, orjson_rejects):
    from curate.io.scan import disagrees, maybe_lone_surrogate

    assert maybe_lone_surrogate(text) is maybe_lone
    line = b'{"chosen": ' + text + b"}"
    assert disagrees(line, [line]) is orjson_rejects  # a pair-only text is never sent to orjson


@pytest.mark.parametrize("special", range(6))
def test_one_odd_line_among_plain_ones(tmp_path, special):
    """Each line a fixed all-string schema could misread, alone among plain HH lines in one chunk:
    the fast path must give the row path's records and reasons."""
    odd = [
        b'{"chosen": 5, "rejected": "\\n\\nHuman: a\\n\\nAssistant: r", "x": null}',
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r", "x": "y"}',
        b'[{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"}]',
        b'{"chos\\u0065n": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"}',
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": {"k": "\\n\\nHuman: a"}}',
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: c", "rejected": "\\n\\nHuman: a\\n\\nAssistant: r"} ',
    ]
    plain = [json.dumps({"chosen": _H.format(p=f"q{i}", r=f"c{i}"),
                         "rejected": _H.format(p=f"q{i}", r=f"r{i}")}).encode() for i in range(9)]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(plain[:4] + [odd[special]] + plain[4:]) + b"\n")
    fast, slow = _both(path, format="hh", batch_size=100)
    assert len(fast) == len(slow) == 1
    assert fast[0].frame.equals(slow[0].frame) and _key(fast[0]) == _key(slow[0])
