"""JSON Schemas of the judges' replies, for backends with constrained decoding.

With ``json_mode`` on, each judge sends its schema in ``GenParams.json_schema``: llama.cpp turns it
into a grammar, vLLM and OpenAI-compatible servers into structured output, so even a small model
answers in the expected shape. The verdict comes before the reasoning so that a reply cut off by
``max_tokens`` still carries it (the tolerant parser reads it from the partial text).
"""

from __future__ import annotations

import json


def _dump(schema: dict) -> str:
    return json.dumps(schema, sort_keys=False, separators=(",", ":"))


def verdict_schema(reasoning_chars: int = 300) -> str:
    return _dump({
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["A", "B", "tie"]},
            "reasoning": {"type": "string", "maxLength": reasoning_chars},
        },
        "required": ["verdict", "reasoning"],
    })


def ratings_schema(aspects: list[str], scale: int) -> str:
    return _dump({
        "type": "object",
        "properties": {a: {"type": "integer", "enum": list(range(1, scale + 1))} for a in aspects},
        "required": list(aspects),
    })


def rubric_schema(max_criteria: int, item_chars: int = 160) -> str:
    item = {"type": "string", "maxLength": item_chars}
    return _dump({
        "type": "object",
        "properties": {
            "task_category": {"type": "string", "maxLength": 60},
            "must": {"type": "array", "items": item, "minItems": 1, "maxItems": max_criteria},
            "penalize": {"type": "array", "items": item, "minItems": 1, "maxItems": max_criteria},
        },
        "required": ["task_category", "must", "penalize"],
    })
