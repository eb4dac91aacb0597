"""Records for the export / card / hub tests: multi-turn prompts, a system message, shared prompts,
dedup clusters, two sources and the curation columns later stages add."""

from __future__ import annotations

import polars as pl

from curate.schema import add_votes, frame, make_pair


def curated_records(n: int = 60) -> pl.DataFrame:
    recs = []
    for i in range(n):
        prompt = [{"role": "user", "content": f"question {i % 40}: how do I fix thing {i % 40}?"}]
        if i % 3 == 0:
            prompt = [{"role": "system", "content": "Be brief."}, *prompt,
                      {"role": "assistant", "content": f"Which thing {i}?"},
                      {"role": "user", "content": "The big one,\n\nplease."}]
        recs.append(make_pair(prompt, f"good answer {i} " + "x" * (i % 7), f"bad answer {i}",
                              source="web" if i % 4 else "synth:tiny"))
    df = frame(recs)
    strength = [round((i % 10) / 10 + 0.05, 2) for i in range(n)]
    df = df.with_columns(pl.Series("strength", strength), pl.Series("p_chosen", [0.5 + s / 2 for s in strength]),
                         # clusters of 3 neighbours: ties prompts together beyond exact prompt equality
                         pl.Series("cluster_id", [f"c{i // 3}" if i % 5 else None for i in range(n)]))
    df = add_votes(df, "judge-a", "llm_judge", [0.9] * n)
    df = add_votes(df, "judge-b", "llm_judge", [0.8 if i % 6 else 0.2 for i in range(n)])
    return add_votes(df, "rm", "rm", [0.7] * n)
