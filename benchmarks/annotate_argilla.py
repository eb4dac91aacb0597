"""Push and pull through the argilla store, against the local Argilla stand-in (not a real Argilla
server: see curate/testing/argilla_standin.py). Pushes the HH sample's pairs, has two annotators
answer every record through the UI's REST endpoint, then pulls. Prints pairs/s and answers/s of the
store calls (the stand-in runs in-process, so this measures the SDK path and the store's mapping).

    python benchmarks/annotate_argilla.py --limit 2312
"""

from __future__ import annotations

import argparse
import os
import time

from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

from curate.annotate.argilla_store import ArgillaStore
from curate.cli.inspect import load_any
from curate.testing.argilla_standin import serve_argilla

HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2312, help="pairs of the HH sample to push")
    a = ap.parse_args()
    df = load_any(str(HH), None).head(a.limit)
    os.environ["ARGILLA_API_KEY"] = "bench.key"
    with serve_argilla(api_key="bench.key") as srv:
        store = ArgillaStore(api_url=srv.url)
        store.create_task("bench", overlap=2)
        t0 = time.perf_counter()
        new = store.push_pairs("bench", df.iter_rows(named=True))
        t_push = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = store.push_pairs("bench", df.iter_rows(named=True))
        t_repush = time.perf_counter() - t0
        for name in ("ann1", "ann2"):
            key = srv.add_user(name)
            for rec in srv.records("bench"):
                srv.submit(key, rec["id"], {"preference": {"value": "A"}})
        t0 = time.perf_counter()
        answers = store.answers("bench")
        t_pull = time.perf_counter() - t0
        store.close()
    print(f"pairs: {df.height}  pushed new: {new}  re-push new: {again}  answers pulled: {len(answers)}")
    print(f"push    {t_push:7.2f} s  {new / t_push:8.0f} pairs/s")
    print(f"re-push {t_repush:7.2f} s  (reads every record id, pushes nothing)")
    print(f"pull    {t_pull:7.2f} s  {len(answers) / t_pull:8.0f} answers/s")


if __name__ == "__main__":
    main()
