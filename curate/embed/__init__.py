"""Text embedders behind one interface (``curate.embed.base.Embedder``): sentence_transformers, hashing, fake.

``FakeEmbedder`` (deterministic vectors, no model) ships beside the real embedders so users can test pipelines.
"""

from curate.embed.fake import FakeEmbedder

__all__ = ["FakeEmbedder"]
