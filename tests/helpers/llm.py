"""Fixtures shared by the LLM and synthesis tests: scripted fakes and a prompt file."""

from __future__ import annotations

import json
from pathlib import Path

from curate.llm.base import ChatRequest


def echo(req: ChatRequest) -> str:
    """A deterministic reply that differs per prompt and per seed: 'answer to <last msg> #<seed>'."""
    return f"answer to {req.messages[-1]['content']} #{req.params.seed}"


def write_prompts(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"question {i}: how do I do thing {i}?", "topic": "t"}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path
