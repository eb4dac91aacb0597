"""SeenKeys (exact_dedup's memory of kept pairs) against a dict, and exact_dedup over many
batches against the dict walk it replaced."""

import numpy as np
import polars as pl

from curate.dedup.exact import ExactDedup
from curate.dedup.rule import rank_order
from curate.dedup.seen_keys import SeenKeys
from curate.dedup.text import stable_hashes
from curate.schema import frame, make_pair


def test_lookups_match_a_dict_through_many_merges(monkeypatch):
    monkeypatch.setattr(SeenKeys, "MAX_RUN", 300)  # big runs stop merging: several of them searched
    rng = np.random.default_rng(0)
    pool = rng.integers(-2**63, 2**63 - 1, size=5000, dtype=np.int64)
    seen, ref = SeenKeys(), {}
    for b in range(60):
        batch = rng.choice(pool, size=int(rng.integers(1, 120)))
        got = seen.get(batch)
        assert got == [ref.get(int(k)) for k in batch], b
        new = {}
        for k in batch:
            if int(k) not in ref and int(k) not in new:
                new[int(k)] = f"id-{b}-{len(new)}"
        seen.add(new.keys(), new.values())
        ref.update(new)
    assert len(seen) == len(ref) and len(seen._keys) > 3
    assert max(len(r) for r in seen._keys) < 2 * 300 + 120
    back = SeenKeys.from_frame(seen.frame())
    probe = np.concatenate([pool, rng.integers(-2**63, 2**63 - 1, size=100, dtype=np.int64)])
    assert back.get(probe) == [ref.get(int(k)) for k in probe]
    assert seen.frame()["id"].to_list() == list(ref.values())  # saved in the order added


def test_empty_and_mismatched():
    s = SeenKeys()
    assert s.get(np.array([1, 2], dtype=np.int64)) == [None, None]
    s.add([], [])
    assert len(SeenKeys.from_frame(s.frame())) == 0
    try:
        s.add([1, 2], ["a"])
    except ValueError as e:
        assert "2 keys but 1 ids" in str(e)
    else:
        raise AssertionError("mismatched keys and ids were accepted")


def _reference(batches, fields):
    """The walk exact_dedup did with a dict per field before SeenKeys (the same rank order)."""
    step = ExactDedup(fields=fields)
    seen = {f: {} for f in fields}
    kept, removed = [], {}
    for df in batches:
        df = df.with_row_index("_row_")[rank_order(df, ["strength"])]
        keys = {f: stable_hashes(step._texts(df, f)) for f in fields}
        for i, rid in enumerate(df["id"].to_list()):
            for f in fields:
                rep = seen[f].get(keys[f][i])
                if rep is not None:
                    removed[rid] = (rep, f)
                    break
            else:
                kept.append(rid)
                for f in fields:
                    seen[f].setdefault(keys[f][i], rid)
    return kept, removed


def test_exact_dedup_equals_the_dict_walk():
    rng = np.random.default_rng(1)
    prompts = [f"question {k}" for k in range(40)]
    answers = [f"answer {k}" for k in range(6)]
    rows = [make_pair(prompts[rng.integers(40)], answers[rng.integers(6)], answers[rng.integers(6)] + "!")
            for _ in range(900)]
    df = frame(rows).with_columns(pl.Series("strength", rng.random(900)),
                                  pl.Series("id", [f"r{i:04d}" for i in range(900)]))  # repeats are other records
    batches = [df.slice(s, 37) for s in range(0, df.height, 37)]
    for fields in (["pair"], ["pair", "prompt"], ["prompt", "pair"]):
        step = ExactDedup(fields=fields)
        kept = [x for b in batches for x in step(b)["id"].to_list()]
        gone = pl.concat(step.take_dropped())
        want_kept, want_removed = _reference(batches, fields)
        assert sorted(kept) == sorted(want_kept), fields
        got = {r: (k, reason) for r, k, reason in gone.select("id", "kept_id", "_reason").iter_rows()}
        assert got == {r: (k, f"exact_{f}_dup") for r, (k, f) in want_removed.items()}, fields
        assert len(want_removed) > 100 and len(want_kept) >= 40
