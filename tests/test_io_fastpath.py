"""The vectorised JSONL/HH path gives exactly the records, reasons, lines and batches of the row path."""

import gzip
import json

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
