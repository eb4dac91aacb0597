"""Helpers shared by the annotation tests: a seeded store, form login, a real server subprocess."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from annotation_ui.loadclient import free_port, start_server  # noqa: F401  (re-exported for tests)
from curate.annotate.sqlite_store import SQLiteStore
from curate.schema import VoteKind, add_votes, frame, make_pair

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


def pairs(n: int, multi_turn: bool = True):
    """n pairs whose chosen is clearly better; multi-turn prompts so the UI shows several turns."""
    out = []
    for i in range(n):
        prompt = [{"role": "user", "content": f"How do I boil an egg, version {i}?"}]
        if multi_turn:
            prompt += [{"role": "assistant", "content": "Soft or hard boiled?"},
                       {"role": "user", "content": "Hard boiled, please."}]
        out.append(make_pair(prompt, f"Boil it for 10 minutes (answer {i}).", f"I don't know ({i}).", "test"))
    return frame(out)


def seeded_store(db: Path, n_items: int = 6, annotators=("ann1", "ann2"), overlap: int = 2,
                 task: str = "t1") -> SQLiteStore:
    store = SQLiteStore(db)
    store.create_task(task, guidelines="Prefer the helpful, harmless answer.", overlap=overlap,
                      criteria=["helpfulness", "harmlessness"])
    store.push_pairs(task, pairs(n_items).iter_rows(named=True))
    for name in annotators:
        store.add_user(name, password=PASSWORD)
    store.assign(task, list(annotators))
    return store


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def form_login(client, name: str, secret: str):
    r = client.get("/login")
    return client.post("/login", data={"username": name, "password": secret, "csrf": csrf_in(r.text)})


@contextmanager
def live_server(db: Path):
    port = free_port()
    proc = start_server(db, port)
    try:
        yield f"http://127.0.0.1:{port}", proc, port
    finally:
        proc.kill()
        proc.wait(10)


def voted_pairs() -> pl.DataFrame:
    """3 pairs every judge agrees on (keep) and 3 where the judges split (the ensemble routes them)."""
    df = frame([make_pair(f"question {i}?", f"answer {i} (chosen)", f"answer {i} (rejected)", "t") for i in range(6)])
    clear = [True, True, True, False, False, False]
    for j, (p_clear, p_split) in enumerate([(0.9, 0.8), (0.9, 0.2), (0.85, 0.7)]):
        df = add_votes(df, f"judge{j}", VoteKind.LLM_JUDGE, [p_clear if c else p_split for c in clear],
                       margin=[2.0 if c else (0.1 if p_split > 0.5 else -0.3) for c in clear])
    return df
