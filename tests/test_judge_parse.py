"""Tolerant parsing of judge replies: JSON, the usual phrasings, and malformed replies."""

import pytest

from curate.judge.parse import extract_json, parse_ratings, parse_rubric, parse_verdict


@pytest.mark.parametrize("text, verdict", [
    ('{"reasoning": "B is vague.", "verdict": "A"}', "A"),
    ('```json\n{"verdict": "Response B"}\n```', "B"),
    ('Sure! {"winner": "tie", "reasoning": "both fine"}', "tie"),
    ('{"reasoning": "A {braces} inside", "verdict": "[[B]]"}', "B"),
    ("After weighing both, my final verdict is [[A]].", "A"),
    ("[[C]]", "tie"),
    ("Answer: B", "B"),
    ("Verdict - Response A", "A"),
    ("Response B is clearly better because it is accurate.", "B"),
    ("I prefer Assistant A.", "A"),
    ("B", "B"),
    ("a.", "A"),
    ("It's a tie.", "tie"),
    ('{"verdict": "first"}', "A"),
])
def test_verdicts(text, verdict):
    assert parse_verdict(text) == (verdict, None)


@pytest.mark.parametrize("text, reason", [
    (None, "llm_error"),
    ("   ", "empty"),
    ("I think this is a hard one and I cannot decide anything here.", "no_verdict"),
    ('{"reasoning": "cut off because the model ran out of tok', "no_verdict"),
    ("Response A is better. Actually Response B is better.", "ambiguous"),
    ("[[A]] ... no wait [[B]]", "ambiguous"),
])
def test_verdict_failures(text, reason):
    assert parse_verdict(text) == (None, reason)


def test_article_a_is_not_a_verdict():
    # a lowercase "a" in prose must not read as "Response A"
    assert parse_verdict("The answer is a good start but incomplete.") == (None, "no_verdict")


def test_extract_json_skips_broken_objects():
    assert extract_json('{broken {"verdict": "A"} tail') == {"verdict": "A"}
    assert extract_json("no json") is None


ASPECTS = ["helpfulness", "honesty", "instruction_following"]


@pytest.mark.parametrize("text, expected", [
    ('{"helpfulness": 4, "honesty": 5, "instruction_following": 3}',
     {"helpfulness": 4, "honesty": 5, "instruction_following": 3}),
    ('{"ratings": {"Helpfulness": {"rating": 2, "rationale": "meh"}, "instruction following": "4/5"}}',
     {"helpfulness": 2, "instruction_following": 4}),
    ("Helpfulness: 3\nHonesty - 4\nInstruction following: 5",
     {"helpfulness": 3, "honesty": 4, "instruction_following": 5}),
])
def test_ratings(text, expected):
    assert parse_ratings(text, ASPECTS, 5) == (expected, None)


@pytest.mark.parametrize("text, reason", [
    (None, "llm_error"), ("", "empty"), ("great answer!", "no_ratings"),
    ('{"helpfulness": 9}', "out_of_range"), ('{"helpfulness": true}', "no_ratings"),
])
def test_rating_failures(text, reason):
    assert parse_ratings(text, ASPECTS, 5) == ({}, reason)


def test_rubric_json_and_sections():
    r, why = parse_rubric('{"task_category": "coding", "must": ["runs", "runs", "explains"], '
                          '"penalize": "uses globals"}', 5)
    assert why is None and r == {"task_category": "coding", "must": ["runs", "explains"],
                                 "penalize": ["uses globals"]}
    text = "Category: advice\nMust:\n- be kind\n- be specific\nPenalise:\n1. lecturing\n"
    r, why = parse_rubric(text, 1)
    assert why is None and r == {"task_category": "advice", "must": ["be kind"], "penalize": ["lecturing"]}
    assert parse_rubric('{"task_category": "x", "must": []}', 5) == (None, "no_criteria")
    assert parse_rubric("no idea", 5) == (None, "no_criteria")
