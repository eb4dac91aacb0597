"""For testing pipelines without models or servers: ships with the library so users can use it too.

    from curate.testing import FakeLLM, FakeEmbedder, make_pairs

The fakes of curate's own interfaces live beside the real backends (``curate/llm/fake.py``,
``curate/embed/fake.py``) and are re-exported here. The modules of this package are local
stand-ins of other vendors' servers, imported by name because they need the ``ui`` extra:

* ``curate.testing.llm_server``: an OpenAI-compatible server over any curate LLM, with fault injection
* ``curate.testing.argilla_standin`` (state in ``argilla_state``): the Argilla REST endpoints the SDK calls
* ``curate.testing.hub_standin``: the Hugging Face Hub endpoints ``upload_folder`` calls
* ``curate.testing.localserver``: ``ThreadedServer``, the thread that serves each of them on 127.0.0.1
* ``curate.testing.tiny_rm``: builds a random, local sequence-classification reward model
"""

from __future__ import annotations

from curate.embed import FakeEmbedder
from curate.llm import FakeLLM
from curate.schema import frame, make_pair


def make_pairs(n: int, prefix: str = "q", source: str = "test"):
    """A DataFrame of n distinct, valid pairs (prompt i, chosen 'good answer i', rejected 'bad answer i')."""
    return frame([make_pair(f"{prefix} {i}: how do I do thing {i}?", f"good answer {i}", f"bad answer {i}", source)
                  for i in range(n)])


__all__ = ["FakeEmbedder", "FakeLLM", "make_pairs"]
