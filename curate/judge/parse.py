"""Tolerant parsing of judge replies: JSON first, then the phrasings models use instead.

Every parser returns a value *and* a failure reason (``None`` when it worked), never raises: the
caller keeps the raw text and counts the reason. Reasons: ``llm_error`` (the call failed),
``empty``, ``no_verdict`` (no recognisable answer), ``ambiguous`` (two different answers at the
same level of evidence), ``no_ratings``, ``out_of_range``, ``no_criteria``.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Verdict labels a judge can give about the order it saw: A, B or a tie.
A, B, TIE = "A", "B", "tie"

_VERDICT_KEYS = ("verdict", "winner", "answer", "choice", "better", "better_response", "preferred",
                 "preference", "result", "final_verdict", "output")
_TIE_WORDS = {"tie", "c", "equal", "same", "both", "neither", "draw", "none"}

# Fallback patterns, strongest evidence first. Letters are matched case-sensitively (an "a" in
# prose is an article); the surrounding words are not. A lower-case letter counts only in
# parentheses after a name ("Output (a)", a common judge wording), where it cannot be an article.
_NAME = r"(?i:response|assistant|output)"
_LETTER = r"(?:[\(\[]?(A|B)[\)\]]?|\((a|b)\))"
_BETTER = r"(?i:clearly\s+|slightly\s+|much\s+)?(?i:better|preferred|superior|stronger)"
_PATTERNS = [
    re.compile(r"\[\[\s*(A|B|C|(?i:tie))\s*\]\]"),
    re.compile(r"(?i:verdict|final answer|answer|winner|choice|decision|better response|preferred response)"
               r"[\"']?\s*(?i:is)?\s*[:=\-]?\s*[\*\"'\(\[]*\s*" + _NAME + r"?\s*(?:\((a|b)\)|[\"'\(\[]*"
               r"\s*(A|B|(?i:tie))\b)"),
    # a concluding sentence ("Therefore, Output (a) is better.") outweighs comparisons made on the way
    re.compile(r"(?i:therefore|thus|hence|in conclusion|in summary|overall|so)\b[^.\n]{0,80}?" + _NAME
               + r"\s*" + _LETTER + r"\s+(?i:is|was)\s+(?i:the\s+)?" + _BETTER),
    re.compile(_NAME + r"\s*" + _LETTER + r"\s*(?i:is|was|seems|appears)\s+(?i:the\s+)?" + _BETTER),
    re.compile(r"(?i:prefer|choose|pick|select)\s+" + _NAME + r"?\s*" + _LETTER + r"(?![a-z])"),
    # "Output (a) is more concise" compares one aspect: weaker than "is better", so a reply that says
    # "Output (a) is better. ... Output (b) is more verbose" is not ambiguous
    re.compile(_NAME + r"\s*" + _LETTER + r"\s*(?i:is|was|seems|appears)\s+(?i:more\s+\w+)"),
    re.compile(r"\b((?i:tie|equally good|equally helpful|both (?:are )?equally))\b"),
]


def extract_json(text: str) -> Any | None:
    """The first JSON object in the text (code fences and chatter around it allowed), or None."""
    start = text.find("{")
    decoder = json.JSONDecoder()
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text[start:])
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
        start = text.find("{", start + 1)
    return None


def normalise_verdict(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = re.sub(r"[\s\[\]\(\)\"'*.:]+", " ", value).strip()
    low = v.lower()
    if low in _TIE_WORDS or low.startswith("tie"):
        return TIE
    for prefix in ("response ", "assistant ", "output ", "model "):
        if low.startswith(prefix):
            low = low[len(prefix):]
    if low in ("a", "1", "first"):
        return A
    if low in ("b", "2", "second"):
        return B
    return None


def parse_verdict(text: str | None) -> tuple[str | None, str | None]:
    """(verdict, failure reason): verdict is "A", "B" or "tie" about the order the judge saw."""
    if text is None:
        return None, "llm_error"
    if not text.strip():
        return None, "empty"
    obj = extract_json(text)
    if obj is not None:
        for key in _VERDICT_KEYS:
            if key in obj:
                v = normalise_verdict(obj[key])
                if v is not None:
                    return v, None
    whole = normalise_verdict(text)
    if whole is not None:
        return whole, None
    for pattern in _PATTERNS:
        found = {_label(m) for m in pattern.finditer(text)}
        if len(found) == 1:
            return found.pop(), None
        if len(found) > 1:
            return None, "ambiguous"
    return None, "no_verdict"


def _label(m: re.Match) -> str:
    s = next(g for g in m.groups() if g is not None)
    s = s.upper() if s in ("a", "b") else s
    return s if s in (A, B) else TIE


# ---------------------------------------------------------------- ratings


def _aspect_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _as_rating(v: Any) -> float | None:
    if isinstance(v, dict):  # {"rating": 4, "rationale": ...}
        v = next((v[k] for k in ("rating", "score", "value") if k in v), None)
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        m = re.search(r"-?\d+(?:\.\d+)?", v)
        return float(m.group()) if m else None
    return None


def parse_ratings(text: str | None, aspects: list[str], scale: int) -> tuple[dict[str, float], str | None]:
    """Ratings per aspect found in the reply; reason is set when none (or an invalid one) was found."""
    if text is None:
        return {}, "llm_error"
    if not text.strip():
        return {}, "empty"
    wanted = {_aspect_key(a): a for a in aspects}
    found: dict[str, float] = {}
    obj = extract_json(text)
    if obj is not None:
        if isinstance(obj.get("ratings"), dict):
            obj = obj["ratings"]
        for k, v in obj.items():
            name = wanted.get(_aspect_key(str(k)))
            r = _as_rating(v)
            if name and r is not None:
                found[name] = r
    if not found:
        for _, name in wanted.items():
            words = r"[\s_\-]*".join(re.escape(w) for w in re.split(r"[\s_\-]+", name))
            m = re.search(rf"(?i:{words})\W{{0,6}}(-?\d+(?:\.\d+)?)", text)
            if m:
                found[name] = float(m.group(1))
    if not found:
        return {}, "no_ratings"
    if any(not 1 <= r <= scale for r in found.values()):
        return {}, "out_of_range"
    return found, None


# ---------------------------------------------------------------- rubrics

_MUST_KEYS = ("must", "must_do", "criteria", "requirements", "should", "good_response")
_PEN_KEYS = ("penalize", "penalise", "penalties", "avoid", "must_not", "should_not", "penalize_if")
_CAT_KEYS = ("task_category", "category", "task", "type")


def _str_list(v: Any, limit: int) -> list[str]:
    items = v if isinstance(v, list) else [v] if isinstance(v, str) else []
    out: list[str] = []
    for x in items:
        s = (x if isinstance(x, str) else str(x.get("text", "")) if isinstance(x, dict) else "").strip()
        if s and s not in out:
            out.append(s)
    return out[:limit]


def parse_rubric(text: str | None, max_criteria: int) -> tuple[dict | None, str | None]:
    """{"task_category", "must", "penalize"} from a reply, or (None, reason)."""
    if text is None:
        return None, "llm_error"
    if not text.strip():
        return None, "empty"
    obj = extract_json(text)
    if obj is not None:
        low = {str(k).lower(): v for k, v in obj.items()}
        get = lambda keys: next((low[k] for k in keys if k in low), None)  # noqa: E731
        cat = get(_CAT_KEYS)
        rubric = {"task_category": cat.strip() if isinstance(cat, str) else "",
                  "must": _str_list(get(_MUST_KEYS), max_criteria),
                  "penalize": _str_list(get(_PEN_KEYS), max_criteria)}
    else:
        rubric = _rubric_from_sections(text, max_criteria)
    if not rubric["must"] and not rubric["penalize"]:
        return None, "no_criteria"
    return rubric, None


def _rubric_from_sections(text: str, limit: int) -> dict:
    """Plain-text replies: 'Category: ...', then bullets under a 'Must' and a 'Penalise' heading."""
    rubric: dict = {"task_category": "", "must": [], "penalize": []}
    section = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"(?i)(?:task[ _]?)?category\s*[:\-]\s*(.+)", s)
        if m:
            rubric["task_category"] = m.group(1).strip()
            continue
        head = s.lower()
        if re.match(r"(must|criteria|a good response)", head) and len(s) < 60 and not s.startswith(("-", "*")):
            section = "must"
        elif re.match(r"(penali[sz]e|avoid|penalt)", head) and len(s) < 60:
            section = "penalize"
        elif section and re.match(r"^(?:[-*•]|\d+[.)])\s+", s):
            item = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", s).strip()
            if item and item not in rubric[section] and len(rubric[section]) < limit:
                rubric[section].append(item)
    return rubric
