"""The dataset's rubric set: prompt-specific criteria merged into a compact list of reusable rubrics.

Criteria arrive batch by batch. Each one joins the first rubric of the same kind (``must`` or
``penalize``) whose representative text it is at least ``threshold`` cosine-similar to, or starts a
new rubric. The representative is the first text seen, so ids never drift as the set grows and the
result depends only on the order of the data (the same input gives the same set). Exact repeats
(after case and space normalisation) skip the embedder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

MAX_VARIANTS = 5  # a few merged phrasings kept per rubric, so a reader can check the merges


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


class RubricSet:
    def __init__(self, threshold: float):
        self.threshold = threshold
        self.rubrics: list[dict] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self._kinds: list[str] = []
        self._exact: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self.rubrics)

    def assign(self, items: Sequence[tuple[str, str, str]],
               embed: Callable[[list[str]], np.ndarray]) -> list[str]:
        """Rubric id for each (kind, text, task_category), adding new rubrics as needed."""
        fresh = sorted({t for k, t, _ in items if (k, _norm(t)) not in self._exact})
        vecs = dict(zip(fresh, embed(fresh))) if fresh else {}
        ids = []
        for kind, text, category in items:
            key = (kind, _norm(text))
            rid = self._exact.get(key)
            if rid is None:
                rid = self._nearest(kind, vecs[text]) or self._new(kind, text, vecs[text])
                self._exact[key] = rid
            ids.append(rid)
            self._seen(rid, text, category)
        return ids

    def _nearest(self, kind: str, vec: np.ndarray) -> str | None:
        if not self.rubrics:
            return None
        sims = self.vectors @ vec
        sims[np.asarray(self._kinds) != kind] = -np.inf
        best = int(np.argmax(sims))
        return self.rubrics[best]["id"] if sims[best] >= self.threshold else None

    def _new(self, kind: str, text: str, vec: np.ndarray) -> str:
        rid = f"R{len(self.rubrics) + 1:05d}"
        self.rubrics.append({"id": rid, "kind": kind, "text": text, "count": 0, "variants": [],
                             "task_categories": {}})
        vec = np.asarray(vec, dtype=np.float32)[None, :]
        self.vectors = vec if not self.vectors.size else np.vstack([self.vectors, vec])
        self._kinds.append(kind)
        return rid

    def _seen(self, rid: str, text: str, category: str) -> None:
        r = self.rubrics[int(rid[1:]) - 1]
        r["count"] += 1
        if text != r["text"] and text not in r["variants"] and len(r["variants"]) < MAX_VARIANTS:
            r["variants"].append(text)
        if category:
            r["task_categories"][category] = r["task_categories"].get(category, 0) + 1

    # ------------------------------------------------------------ persistence
    def to_json(self) -> dict:
        return {"threshold": self.threshold, "size": len(self.rubrics),
                "criteria_merged": sum(r["count"] for r in self.rubrics), "rubrics": self.rubrics}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "rubrics.json").write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1),
                                                encoding="utf-8")
        np.save(directory / "rubric_vectors.npy", self.vectors)
        # every text already assigned, so a resumed run gives each the same id as before
        seen = [[k, t, rid] for (k, t), rid in self._exact.items()]
        (directory / "rubric_texts.json").write_text(json.dumps(seen, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RubricSet:
        data = json.loads((directory / "rubrics.json").read_text(encoding="utf-8"))
        s = cls(data["threshold"])
        s.rubrics = data["rubrics"]
        s.vectors = np.load(directory / "rubric_vectors.npy")
        s._kinds = [r["kind"] for r in s.rubrics]
        texts = directory / "rubric_texts.json"
        if texts.exists():
            s._exact = {(k, t): rid for k, t, rid in json.loads(texts.read_text(encoding="utf-8"))}
        return s
