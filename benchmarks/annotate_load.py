"""Throughput of the annotation app: N annotators answering through the JSON API of a real uvicorn
server on 127.0.0.1 (SQLite store, WAL). Prints answers per second and how many were stored.

    python benchmarks/annotate_load.py --annotators 20 --answers 25 --items 400
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from annotation_ui.loadclient import free_port, start, start_server
from curate.annotate.sqlite_store import SQLiteStore
from curate.schema import frame, make_pair


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--answers", type=int, default=25, help="answers per annotator")
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--overlap", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.db"
        store = SQLiteStore(db)
        store.create_task("bench", overlap=a.overlap)
        store.push_pairs("bench", frame([make_pair(f"question {i}?", f"good {i}", f"bad {i}")
                                         for i in range(a.items)]).iter_rows(named=True))
        names = [f"ann{i:03d}" for i in range(a.annotators)]
        for n in names:
            store.add_user(n, password="benchmark-password")
        store.assign("bench", names)
        port = free_port()
        proc = start_server(db, port)
        try:
            t0 = time.perf_counter()
            threads, result = start(f"http://127.0.0.1:{port}", names, "benchmark-password", "bench", a.answers)
            for t in threads:
                t.join(timeout=600)
            dt = time.perf_counter() - t0
        finally:
            proc.kill()
            proc.wait(10)
        stored = len(store.answers("bench"))
        print(f"annotators={a.annotators} answers_acked={len(result.acked)} stored={stored} "
              f"errors={len(result.errors)} seconds={dt:.2f} (incl. {a.annotators} scrypt logins) "
              f"answers_per_s={len(result.acked) / dt:.1f} retries={result.retries}")


if __name__ == "__main__":
    main()
