"""Synthesis: generate candidate responses with LLMs and build preference pairs from scored candidates."""
