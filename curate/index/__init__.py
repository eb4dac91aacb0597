"""Vector indexes behind one interface (``curate.index.base.VectorIndex``): faiss (CPU/GPU), numpy."""
