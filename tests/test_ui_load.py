"""20 annotators submit 500 answers while the server is killed and restarted once midway:
every acknowledged answer is in the store exactly once."""

from __future__ import annotations

import time

import pytest

from annotation_ui.loadclient import start
from tests.helpers.annotate import PASSWORD, free_port, seeded_store, start_server

pytestmark = pytest.mark.slow


def test_load_with_restart(tmp_path):
    names = [f"ann{i:02d}" for i in range(20)]
    store = seeded_store(tmp_path / "a.db", n_items=400, annotators=names, overlap=2)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path / "a.db", port)
    try:
        threads, result = start(url, names, PASSWORD, "t1", per_user=25)
        for _ in range(1200):  # wait (bounded, ~2 min) until about half the answers are in
            if len(result.acked) >= 250 or not any(t.is_alive() for t in threads):
                break
            time.sleep(0.1)
        assert 0 < len(result.acked) < 500, "the restart must happen midway"
        proc.kill()  # no graceful shutdown: in-flight requests die with it
        proc.wait(10)
        proc = start_server(tmp_path / "a.db", port)
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads)
    finally:
        proc.kill()
        proc.wait(10)
    assert result.errors == []
    assert len(result.acked) == 500 and len(set(result.acked)) == 500
    stored = store.answers("t1")
    assert sorted(a.answer_id for a in stored) == sorted(result.acked)  # all acked, none twice, nothing extra
    assert len({(a.pair_id, a.annotator) for a in stored}) == 500
    assert max(store.progress("t1")["by_annotator"].values()) == 25
    print(f"retries={result.retries} duplicate acks={result.duplicates}")
