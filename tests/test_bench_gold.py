"""The gold benchmarks' helpers (benchmarks/_gold.py) on a tiny LLMBar-shaped tree, and a smoke run of
benchmarks/judges.py on it (seconds)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import _gold as g  # noqa: E402


def _gz(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(obj, f)


def _order(text, winner):
    return {"completion": [text, "stop"], "winner": winner}


@pytest.fixture
def tiny(tmp_path):
    """Two subsets of two pairs; one judge with a Vanilla (list) and a CoT (string literal) result."""
    root = tmp_path / "data"
    for sub in g.SUBSETS[:2]:
        rows = [{"input": f"{sub} q{i}", "output_1": f"one {i}", "output_2": f"two {i}", "label": str(1 + i)}
                for i in range(2)]
        _gz(root / "llmbar" / sub / "dataset.json.gz", rows)
        folder = root / "llmbar" / sub / "evaluators" / "J"
        # the judge always says Output (a): right when label is 1 in swap=False, when label is 2 in swap=True
        res = [{**r, "results": [{"swap = False": _order("Output (a)", "1"), "swap = True": _order("Output (a)", "2")}]}
               for r in rows]
        _gz(folder / "Vanilla" / "result.json.gz", res)
        lit = [{**r, "results": repr([{"swap = False": _order("Output (b) is better.", "2"),
                                        "swap = True": _order("", None)}])} for r in rows]
        _gz(folder / "CoT" / "result.json.gz", lit)
        for m in ("Vanilla", "CoT"):
            _gz(folder / m / "statistics.json.gz", {"correct_average": "50.0%"})
        (folder / "Rating").mkdir()
    return root


def test_gold_pairs_take_the_labelled_output(tiny):
    rows = g.load_llmbar(tiny, g.SUBSETS[:2])
    pairs = g.llmbar_pairs(rows)
    assert [p["chosen"] for p in pairs[:2]] == ["one 0", "two 1"]
    assert [p["rejected"] for p in pairs[:2]] == ["two 0", "one 1"]
    assert pairs[2]["gold"] == g.SUBSETS[1]


def test_judge_outputs_are_oriented_to_chosen(tiny):
    out = g.judge_outputs(tiny, "J", "CoT", g.SUBSETS[:2])
    # label 1: chosen first is swap=False; label 2: chosen first is swap=True
    assert (out[0]["ab"], out[0]["ba"]) == ("Output (b) is better.", "")
    assert (out[1]["ab"], out[1]["ba"]) == ("", "Output (b) is better.")
    assert out[0]["author_ab"] is False and out[0]["author_ba"] is None
    assert g.verdict_methods(tiny, "J") == ["CoT", "Vanilla"]  # Rating* has no reply per order
    assert g.author_accuracy(tiny, "J", "Vanilla", g.SUBSETS[:2]) == pytest.approx(0.5)


def test_final_orders_takes_the_last_round():
    first = {"swap = False": _order("x", "1"), "swap = True": _order("y", "1")}
    final = {"swap = False": _order("z", "2"), "swap = True": _order("w", "2")}
    assert g.final_orders(["a generated rubric", first, final]) is final
    assert g.final_orders(repr([first]))["swap = True"]["completion"][0] == "y"


def test_prompt_folds_keep_a_prompt_in_one_fold():
    prompts = ["a", "b", "A ", "c", "d", "b", "e", "f"] * 3
    folds = g.prompt_folds(prompts, 3, seed=1)
    for p in set(x.strip().lower() for x in prompts):
        assert len({f for x, f in zip(prompts, folds) if x.strip().lower() == p}) == 1
    assert set(np.unique(folds)) <= {0, 1, 2}


def test_voting_steps_come_from_the_pipeline_yaml():
    specs = g.voting_steps(g.PIPELINE)
    names = [n for n, _ in specs]
    assert names == ["embed_bt_voter", "ensemble"]
    configured = _yaml_step("ensemble")  # whatever clean_preferences.yaml sets today
    assert dict(specs)["ensemble"] == configured
    steps = g.build_steps(specs, {"ensemble": {"route": False}})
    assert steps[1].options.route is False
    assert all(getattr(steps[1].options, k) == v for k, v in configured.items() if k != "route")


def _yaml_step(name: str) -> dict:
    import yaml

    doc = yaml.safe_load(g.PIPELINE.read_text())
    (step,) = [dict(s) for s in doc["steps"] if s["step"] == name]
    step.pop("step")
    return step


def test_shared_data_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(g.ENV_DATA, str(tmp_path))
    assert g.shared_data() == tmp_path
    assert g.shared_data(tmp_path / "x") == tmp_path / "x"


def test_judges_benchmark_smoke(tiny, capsys, monkeypatch):
    sys.path.insert(0, str(BENCH))
    import judges

    monkeypatch.setattr(g, "SUBSETS", g.SUBSETS[:2])
    monkeypatch.setattr(g, "BENCHDATA", tiny / "bench")
    judges.main(["--data", str(tiny), "--judges", "J"])
    out = capsys.readouterr().out
    # always "Output (a)": right in exactly one order of each pair → 50%, never position-consistent
    assert "| J | Vanilla |  50.0% |  50.0% | 100.0% |   0.0% |   0.0% |" in out
    assert "| J | CoT |" in out and "majority vote" in out


def test_false_positives_pipeline_is_the_yaml_voting_part(tmp_path):
    import false_positives as fp

    from curate.config import load_pipeline

    pairs = g.write_jsonl(g.llmbar_pairs([{"input": "q", "output_1": "x", "output_2": "y", "label": 2,
                                           "subset": "S"}]), tmp_path / "p.jsonl")
    cfg = load_pipeline(fp.pipeline_file(pairs, tmp_path / "run", g.PIPELINE))
    assert [s.step for s in cfg.steps] == ["embed_bt_voter", "ensemble"]
    assert cfg.steps[1].options == _yaml_step("ensemble") and cfg.input.format == "mapping"
    gold = {"path": "g.jsonl", "target_precision": 0.9}
    cfg = load_pipeline(fp.pipeline_file(pairs, tmp_path / "run2", g.PIPELINE, {"gold": gold}))
    assert cfg.steps[1].options["gold"] == gold and "gold" not in cfg.steps[0].options


def test_curation_effect_inject_flips_labels_and_tracks_orientation():
    import curation_effect as ce
    import polars as pl

    df = pl.DataFrame({"chosen": ["a", "b", "c", "d"], "rejected": ["w", "x", "y", "z"], "_sign": [1] * 4})
    out = ce.inject(df, 0.5, seed=0)
    swapped = out["chosen"] != df["chosen"]
    assert swapped.sum() == 2
    assert (out["_sign"] == -1).to_list() == swapped.to_list()
    assert out.filter(swapped)["chosen"].to_list() == df.filter(swapped)["rejected"].to_list()


def test_benchmark_pairs_equal_what_the_reader_reads_from_llmbar():
    # the benchmarks' own LLMBar conversion must agree with reading the published files "without
    # code": format mapping with a winner column (what a user writes in YAML)
    from curate.io.reader import Reader
    from tests.helpers.data import need_shared_data

    path = need_shared_data("llmbar", "Adversarial", "Manual", "dataset.json.gz")
    rows = g.load_llmbar(path.parents[3], ("Adversarial/Manual",))
    ours = [(p["prompt"][0]["content"], p["chosen"], p["rejected"]) for p in g.llmbar_pairs(rows)]
    reader = Reader(str(path), format="mapping",
                    columns={"prompt": "input", "response_a": "output_1", "response_b": "output_2", "winner": "label"},
                    format_options={"winner_values": {1: "response_a", 2: "response_b"}}, batch_size=1000)
    read = [(m[-1]["content"], c, r) for b in reader.batches() for m, c, r in
            zip(b.frame["prompt"].to_list(), b.frame["chosen"].to_list(), b.frame["rejected"].to_list())]
    assert len(ours) == 46 and read == ours
