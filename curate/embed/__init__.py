"""Text embedders behind one interface (``curate.embed.base.Embedder``): sentence_transformers, fake."""
