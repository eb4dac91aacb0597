"""Card figures that were wrong or hard to read: votes on repeated ids, clusters counted from the
dedup stats, a count listed once, one number format, named figure tables, the shorter-wins sentence."""

from __future__ import annotations

from curate import Pipeline
from curate.card.data_figures import vote_figures
from curate.card.render import _num
from curate.card.report import dedup, step_figures
from curate.dedup.exact import ExactDedup
from curate.export.step import Export
from curate.schema import add_votes, frame, make_pair


def test_votes_count_rows_not_ids():
    rows = [make_pair("Fix my bike?", "Check the chain.", "No.", metadata={"v": v}) for v in "xyz"]
    df = add_votes(add_votes(frame(rows), "a", "llm_judge", [0.9] * 3), "b", "llm_judge", [0.8] * 3)
    assert df["id"].n_unique() == 1  # the failing input: three rows, one id
    v = vote_figures(df)
    assert v["records_with_votes"] == 3 and v["votes"] == 6


STATS = {"steps": [{"name": "exact_dedup", "step": "exact_dedup", "records_in": 10, "records_out": 4,
                    "dropped": {"exact_pair_dup": 6}, "counts": {"clusters": 2},
                    "figures": {"clusters": 2, "removed": 6, "duplicate_rate": 0.6}}]}


def test_clusters_come_from_the_dedup_stats_and_are_listed_once():
    assert dedup(STATS) == [{"stage": "exact_dedup", "records_in": 10, "removed": 6, "clusters": 2,
                             "duplicate_rate": 0.6, "by_reason": {"exact_pair_dup": 6}}]
    keys = list(step_figures(STATS)[0]["figures"])
    assert keys.count("clusters") == 1 and "counts.clusters" not in keys


def test_one_number_format():
    assert [_num(x) for x in (1234, 0.5, 1.0, 0.0, 6.0, 12.25, 5825.0, 1234.56)] == \
        ["1,234", "0.500", "1.000", "0.000", "6", "12.2", "5,825", "1,234.6"]


def test_card_of_a_deduped_run_where_the_shorter_answer_wins(tmp_path):
    # 6 pairs, the chosen answer always shorter; each pair also arrives in a case variant (an exact dup)
    rows = []
    for i in range(6):
        for prompt in (f"Question number {i}?", f"question number  {i}?"):
            rows.append(make_pair(prompt, f"Yes {i}.", f"A much longer rejected answer, number {i}."))
    src = tmp_path / "in.parquet"
    frame(rows).write_parquet(src)
    Pipeline(input={"path": str(src)}, output={"dir": str(tmp_path / "run")}, batch_size=4, name="t",
             steps=[ExactDedup(), Export(license="mit", splits={"train": 0.5, "test": 0.5})]).run()
    card = (tmp_path / "run" / "export" / "README.md").read_text()
    assert "the shorter one in 100.0% of pairs" in card and "prefer shorter answers" in card
    section = card.split("\n### Dedup clusters\n", 1)[1]
    dedup_row = section.split("| step |", 1)[1].splitlines()[2]
    assert [c.strip() for c in dedup_row.strip("|").split("|")] == \
        ["exact_dedup", "12", "6", "6", "0.500", "exact_pair_dup 6"]
    assert "6 kept records stand for\n6 removed duplicates" in card
    assert "#### Dedup clusters\n\n| step | figure | value |" in card
    assert "`clusters` =" not in card  # no runs of dotted keys


def test_card_says_what_happened_to_unanswered_routed_pairs(tmp_path):
    from curate.card.render import render_card

    report = {"overview": {"records_out": 3}, "provenance": {"pipeline": "t", "versions": {}},
              "funnel": [], "drops": [], "topics": {}, "dedup": [], "data": {}, "step_figures": [],
              "export": {"layout": "trl", "splits": {"train": 1, "test": 1, "routed": 1}, "fractions": {"train": 0.5},
                         "grouped_by": ["prompt"], "seed": 0, "stratify": "source", "renamed_ids": 2,
                         "routed": {"mode": "own_split", "unresolved": 1, "excluded": 0}}}
    card = render_card(report, {})
    assert "1 pairs were routed to human annotators" in card and "a split of their own, `routed`" in card
    assert "2 rows repeat the id" in card


def test_figure_labels_read_as_words():
    from curate.card.report import label

    assert label("counts.outcome:position_flip") == "outcome: position flip (count)"
    assert label("longer_wins_by_ratio.1-1.25.pairs") == "longer wins by ratio › 1-1.25 › pairs"
