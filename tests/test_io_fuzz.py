"""Fuzz the JSONL reader with malformed lines: never crashes, every bad line quarantined with its number."""

import gzip
import json
import random

import pytest

from curate.io.reader import Reader

GOOD = {"prompt": "what is 2+2?", "chosen": "4", "rejected": "5"}


def _mutations(rng: random.Random):
    good = json.dumps(GOOD).encode()
    yield "truncated", good[: rng.randrange(1, len(good) - 1)], "invalid_json"
    yield "non_utf8", good[:10] + bytes([0xFF, 0xFE]) + good[10:], "non_utf8"
    yield "array", b"[1, 2, 3]", "not_an_object"
    yield "string", b'"just a string"', "not_an_object"
    yield "missing", json.dumps({"prompt": "x", "chosen": "y"}).encode(), None  # undetectable/missing
    yield "wrong_type", json.dumps({"prompt": "x", "chosen": 3, "rejected": "y"}).encode(), "wrong_type"
    yield "empty", json.dumps({"prompt": "x", "chosen": "", "rejected": "y"}).encode(), "empty_response"
    yield ("identical", json.dumps({"prompt": "x", "chosen": "same", "rejected": " same "}).encode(),
           "identical_responses")
    robot = [{"role": "robot", "content": "x"}]
    yield "bad_role", json.dumps({"prompt": robot, "chosen": "a", "rejected": "b"}).encode(), "prompt_invalid"
    yield "garbage", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))).replace(b"\n", b" "), None
    yield "nul", b"\x00\x00\x00", None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gz", [False, True])
def test_malformed_lines_are_quarantined_with_line_numbers(tmp_path, seed, gz):
    rng = random.Random(seed)
    lines, expect_bad, n_good = [], {}, 0
    muts = list(_mutations(rng))
    for i in range(1, 301):
        if rng.random() < 0.35:
            name, line, reason = rng.choice(muts)
            lines.append(line)
            expect_bad[i] = reason
        else:
            lines.append(json.dumps(dict(GOOD, chosen=f"4 ({i})")).encode())
            n_good += 1
    blob = b"\n".join(lines) + b"\n"
    path = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    path.write_bytes(gzip.compress(blob) if gz else blob)

    reader = Reader(str(path), format="trl", batch_size=64)
    good, bad = 0, []
    for b in reader.batches():
        good += b.frame.height
        bad.extend(b.quarantined)
    assert good == n_good
    # garbage lines can accidentally be valid JSON objects only if they parse; all bad lines are quarantined
    assert {q["line"] for q in bad} == set(expect_bad)
    for q in bad:
        assert q["file"] == str(path) and q["reason"] and isinstance(q["raw"], str)
        if expect_bad[q["line"]]:
            assert q["reason"] == expect_bad[q["line"]], q


def test_blank_lines_are_skipped_not_quarantined(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("\n" + json.dumps(GOOD) + "\n\n   \n" + json.dumps(dict(GOOD, chosen="four")) + "\n")
    batches = list(Reader(str(path)).batches())
    assert batches[0].frame.height == 2 and not batches[0].quarantined


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    blob = gzip.compress(b"".join(json.dumps(dict(GOOD, chosen=f"a{i}")).encode() + b"\n" for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    batches = list(Reader(str(path), batch_size=500).batches())
    good = sum(b.frame.height for b in batches)
    reasons = [q["reason"] for b in batches for q in b.quarantined]
    assert 0 < good < 2000 and "corrupt_file" in reasons
