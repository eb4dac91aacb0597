"""LLM backends behind one interface (``curate.llm.base.LLM``), chosen by name: openai, vllm, llamacpp, fake.

``FakeLLM`` (scripted replies, no model) ships beside the real backends so users can test pipelines.
"""

from curate.llm.fake import FakeLLM

__all__ = ["FakeLLM"]
