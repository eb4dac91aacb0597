"""LLM backends behind one interface (``curate.llm.base.LLM``), chosen by name: openai, vllm, llamacpp, fake."""
