"""Fakes for testing pipelines without models or servers: ship with the library so users can use them.

    from curate.testing import FakeLLM, FakeEmbedder, make_pairs
"""

from __future__ import annotations

from curate.embed.fake import FakeEmbedder
from curate.llm.fake import FakeLLM
from curate.schema import frame, make_pair


def make_pairs(n: int, prefix: str = "q", source: str = "test"):
    """A DataFrame of n distinct, valid pairs (prompt i, chosen 'good answer i', rejected 'bad answer i')."""
    return frame([make_pair(f"{prefix} {i}: how do I do thing {i}?", f"good answer {i}", f"bad answer {i}", source)
                  for i in range(n)])


__all__ = ["FakeEmbedder", "FakeLLM", "make_pairs"]
