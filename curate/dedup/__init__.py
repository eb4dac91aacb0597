"""Deduplication and decontamination: exact_dedup, semantic_dedup, decontaminate."""
