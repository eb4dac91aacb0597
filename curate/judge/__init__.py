"""LLM judges: position-swapped pairwise (``llm_judge``), multi-aspect rating (``rate_responses``),
rubric extraction with a merged rubric set (``extract_rubrics``) and the rubric-grounded judge
(``rubric_judge``). Prompts are Jinja files in ``curate/judge/templates/``."""
