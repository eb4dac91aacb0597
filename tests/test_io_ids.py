"""Record ids are content hashes users rely on across runs: these values are pinned, so a faster
reader (another hash routine, another canonical string, work moved into processes) cannot change
them unnoticed. Each path that computes ids is checked: the row path (``schema.pair_id``), the
vectorised fast path (threads) and the process pool."""

from __future__ import annotations

import hashlib
import json

import pytest

from curate.io.reader import Reader
from curate.schema import make_pair, pair_id, prompt_id

# ids of the shared HH sample (2,303 pairs), as written by curate before the ingest speed work
FIRST_IDS = ["5d8f2a705a320f84", "c977b62a327fe4df", "d4fe5030e2b2ecf4"]
LAST_ID = "c5b03753ce9b8246"
ALL_IDS_DIGEST = "69f174ff36209ab7"  # sha256 of the ids joined by spaces, first 16 hex digits


def test_hand_built_ids_are_pinned():
    prompt = [{"role": "user", "content": "Héllo 👋"}, {"role": "assistant", "content": "hi"},
              {"role": "user", "content": "again?"}]
    assert pair_id(prompt, "yes ✓", "no") == "407652a1409a2b59"
    assert make_pair(prompt, "yes ✓", "no")["id"] == "407652a1409a2b59"
    system = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Q"}]
    assert prompt_id(system) == "6b077dbe571ed0ae"


def _ids(path, processes: bool | None, batch_size: int) -> list[str]:
    r = Reader(str(path), format="hh", batch_size=batch_size)
    if processes is None:
        r.workers = 1  # no pool: the first chunk and every other on this interpreter
    else:
        r.workers = 2
        r.process_min_bytes = 0 if processes else 1 << 62
    return [i for b in r.batches() for i in b.frame["id"].to_list()]


@pytest.mark.parametrize("processes", [None, False, True])
def test_hh_sample_ids_are_pinned(hh_path, processes):
    ids = _ids(hh_path, processes, 400)
    assert len(ids) == 2303
    assert ids[:3] == FIRST_IDS and ids[-1] == LAST_ID
    assert hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16] == ALL_IDS_DIGEST


def test_row_path_ids_are_pinned(hh_path, tmp_path):
    # a row outside the vectorised case (an extra key) takes the row path; its id is the same
    import gzip

    rows = [json.loads(x) for x in gzip.open(hh_path, "rt")][:3]
    for r in rows:
        r["note"] = 1
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = [i for b in Reader(str(path), format="hh").batches() for i in b.frame["id"].to_list()]
    assert ids == FIRST_IDS
