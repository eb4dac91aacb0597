"""The runner core: drops by plain functions reach rejected/, health checks fail empty, mostly
quarantined or LLM-less runs, errors round-trip through pickle, engines come from a registry."""

from __future__ import annotations

import inspect
import json
import pickle
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import curate.errors as errors
from curate.cli.main import cli
from curate.io.writers import read_records
from curate.pipeline import Pipeline
from curate.registry import ENGINES
from curate.step import FunctionStep, Step
from curate.steps.basic import DropIdentical


def _pairs(path: Path, n: int, broken: int = 0, identical: int = 0) -> Path:
    rows = [json.dumps({"prompt": f"question {i}?", "chosen": "yes " * (i + 1),
                        "rejected": "yes " * (i + 1) if i < identical else f"no {i}"}) for i in range(n)]
    path.write_text("\n".join(rows + ["{broken"] * broken) + "\n")
    return path


def _rejected(run: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted((run / "rejected").glob("*.parquet"))], how="diagonal_relaxed")


# ---------------------------------------------------------------- rows removed by functions


def short_only(batch: pl.DataFrame) -> pl.DataFrame:  # the README's example, with a shorter limit
    return batch.filter(batch["chosen"].str.len_chars() < 20)


def test_rows_a_plain_function_removes_reach_rejected(tmp_path):
    data = _pairs(tmp_path / "d.jsonl", 10, identical=2)
    stats = Pipeline({"path": str(data)}, [DropIdentical(), short_only], {"dir": str(tmp_path / "run")}).run()
    kept = read_records(tmp_path / "run")
    rej = _rejected(tmp_path / "run")
    # "yes " * (i+1) is 4(i+1) chars, under 20 for i < 4: rows 0, 1 are identical (the reader
    # quarantines those), 2-3 kept, 4-9 removed by the function
    assert kept.height == 2
    by_fn = rej.filter(pl.col("_step") == "short_only")
    assert by_fn["_reason"].unique().to_list() == ["removed_by_function"]
    assert by_fn.height == 6 and set(by_fn["id"]).isdisjoint(set(kept["id"]))
    fn = next(s for s in stats["steps"] if s["name"] == "short_only")
    assert fn["dropped"] == {"removed_by_function": 6} and stats["rejected"] == 6


def test_a_function_that_adds_rows_or_drops_ids_tracks_nothing_wrong():
    grow = FunctionStep(lambda b: pl.concat([b, b]), name="grow")
    batch = pl.DataFrame({"id": ["a", "b"], "x": [1, 2]})
    assert grow(batch).height == 4 and grow.take_dropped() == [] and not grow.stats.dropped
    no_ids = FunctionStep(lambda b: b.select("x").head(1), name="no_ids")
    no_ids(batch)
    assert no_ids.take_dropped() == []  # no id to match rows by: nothing is claimed


def test_python_step_reports_its_label_and_rejects_what_it_removes(tmp_path, monkeypatch):
    (tmp_path / "my_filters.py").write_text(textwrap.dedent("""
        def odd_only(batch):
            return batch.filter(batch["prompt"].list.get(0).struct.field("content").str.contains("[13579]\\\\?$"))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    data = _pairs(tmp_path / "d.jsonl", 10)
    pipe = tmp_path / "p.yaml"
    pipe.write_text(f"name: t\ninput:\n  path: {data}\nsteps:\n  - step: python\n    function: my_filters:odd_only\n"
                    f"output:\n  dir: {tmp_path / 'run'}\n")
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress"])
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["steps"][0]["name"] == "odd_only" and stats["steps"][0]["step"] == "python"
    assert stats["steps"][0]["dropped"] == {"removed_by_function": 5}
    assert set(_rejected(tmp_path / "run")["_step"]) == {"odd_only"}
    sys.modules.pop("my_filters", None)


# ---------------------------------------------------------------- health checks


def _yaml(tmp_path: Path, data: Path, steps: str = "", extra: str = "") -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(f"name: t\ninput:\n  path: {data}\nsteps:\n{steps or '  - step: drop_identical'}\n"
                 f"output:\n  dir: {tmp_path / 'run'}\n{extra}")
    return p


def test_a_run_that_writes_nothing_fails_with_one_line_but_keeps_its_files(tmp_path):
    pipe = _yaml(tmp_path, _pairs(tmp_path / "d.jsonl", 4), steps="  - step: length_filter\n    max_response_chars: 2")
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress"])
    assert r.exit_code == 1
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: the run read 4 input rows but wrote 0 records") and "--allow-empty" in last
    assert (tmp_path / "run" / "stats.json").exists() and _rejected(tmp_path / "run").height == 4
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert [p["check"] for p in stats["health"]["problems"]] == ["empty"]
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress", "--overwrite", "--allow-empty"])
    assert r.exit_code == 0, r.output


def test_an_empty_input_is_not_an_empty_run(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("")
    r = CliRunner().invoke(cli, ["run", str(_yaml(tmp_path, data)), "--no-progress"])
    assert r.exit_code == 0, r.output


def test_quarantine_above_the_limit_fails_and_the_limit_is_configurable(tmp_path):
    data = _pairs(tmp_path / "d.jsonl", 4, broken=6)  # 6 of 10 rows quarantined
    r = CliRunner().invoke(cli, ["run", str(_yaml(tmp_path, data)), "--no-progress"])
    assert r.exit_code == 1 and "6 of 10 input rows (60%) were quarantined" in r.output
    assert "above max_quarantine_rate 0.5" in r.output
    r = CliRunner().invoke(cli, ["run", str(_yaml(tmp_path, data)), "--no-progress", "--overwrite",
                                 "--max-quarantine-rate", "0.7"])
    assert r.exit_code == 0, r.output
    pipe = _yaml(tmp_path, data, extra="checks:\n  max_quarantine_rate: 0.8\n")
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress", "--overwrite"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress", "--overwrite", "--max-quarantine-rate", "0.1"])
    assert r.exit_code == 1


def test_checks_do_not_change_the_digest(tmp_path):
    from curate.config import load_pipeline

    data = _pairs(tmp_path / "d.jsonl", 2)
    a = load_pipeline(_yaml(tmp_path, data)).digest()
    assert load_pipeline(_yaml(tmp_path, data, extra="checks:\n  allow_empty: true\n")).digest() == a


def test_python_api_raises_only_when_asked(tmp_path):
    data = _pairs(tmp_path / "d.jsonl", 3)
    p = Pipeline({"path": str(data)}, [short_only, lambda b: b.head(0)], {"dir": str(tmp_path / "a")})
    assert p.run()["health"]["problems"][0]["check"] == "empty"
    p = Pipeline({"path": str(data)}, [lambda b: b.head(0)], {"dir": str(tmp_path / "b")})
    with pytest.raises(errors.RunCheckFailed) as e:
        p.run(check=True)
    assert e.value.check == "empty" and (tmp_path / "b" / "stats.json").exists()


def test_llm_calls_to_a_closed_port_are_reported_and_fail_the_run(tmp_path):
    from curate.testing.llm_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    steps = (f"  - step: llm_judge\n    llm: {{backend: openai, model: m, base_url: '{url}', max_retries: 0, "
             f"cache: false, timeout_s: 2}}\n")
    pipe = _yaml(tmp_path, _pairs(tmp_path / "d.jsonl", 3), steps=steps)
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress"])
    assert r.exit_code == 1
    assert "LLM calls failed: 6 of 6" in r.output  # both orders of 3 pairs, in the summary line
    assert "step llm_judge: 6 of 6 LLM calls failed (100%), above max_failure_rate 0.5" in r.output
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress", "--overwrite", "--max-failure-rate", "1"])
    assert r.exit_code == 0 and "LLM calls failed: 6 of 6" in r.output


@pytest.mark.parametrize("name", ["llm_judge", "extract_rubrics", "rate_responses", "generate_responses"])
def test_every_llm_step_counts_calls_under_the_same_names(name, tmp_path):
    from curate.context import RunContext
    from curate.registry import STEPS
    from curate.schema import frame, make_candidate
    from curate.testing import make_pairs
    from curate.testing.llm_server import free_port

    llm = {"backend": "openai", "model": "m", "base_url": f"http://127.0.0.1:{free_port()}/v1",
           "max_retries": 0, "cache": False, "timeout_s": 2}
    options = {"generators": [{"llm": llm, "n": 2}]} if name == "generate_responses" else {"llm": llm}
    step = STEPS.get(name)(options)
    step.setup(RunContext.for_dir(tmp_path))
    if name in ("rate_responses", "generate_responses"):
        batch = frame([make_candidate(f"question {i}?", [{"text": "an answer"}]) for i in range(2)], "candidate")
    else:
        batch = make_pairs(2)
    step(batch)
    step.close()
    calls = {"llm_judge": 4, "extract_rubrics": 2, "rate_responses": 2, "generate_responses": 4}[name]
    assert step.stats.counts["llm_calls"] == calls and step.stats.counts["llm_failed"] == calls


# ---------------------------------------------------------------- errors, engines, hooks


def _error_examples():
    yield errors.MissingDependency("ray", "ray", "the ray engine")
    yield errors.Interrupted("runs/x", 1, 7)
    yield errors.RunCheckFailed("empty", "wrote nothing", 0, None)
    yield errors.RecordError("missing_field", "field 'x' is missing")
    for name, cls in vars(errors).items():
        if inspect.isclass(cls) and issubclass(cls, errors.CurateError) and "__init__" not in vars(cls):
            yield cls(f"a {name} happened")


@pytest.mark.parametrize("err", list(_error_examples()), ids=lambda e: type(e).__name__)
def test_every_error_round_trips_through_pickle(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and vars(back) == vars(err)


def test_every_curate_error_lives_in_errors_py():
    import curate.annotate.sqlite_store as store
    import curate.runner.local as local

    assert store.AnswerRejected is errors.AnswerRejected
    assert not any(inspect.isclass(v) and issubclass(v, Exception) and v.__module__ == local.__name__
                   for v in vars(local).values())


def test_engines_come_from_the_registry(tmp_path):
    assert {"local", "ray"} <= set(ENGINES.names())
    p = Pipeline({"path": str(_pairs(tmp_path / "d.jsonl", 2))}, [], {"dir": str(tmp_path / "r")})
    with pytest.raises(errors.ConfigError, match="unknown engine 'spark'"):
        p.run(engine="spark")
    with pytest.raises(errors.ConfigError, match="the local engine has no option ray_logs"):
        p.run(engine="local", ray_logs=True)


def test_stage_title_falls_back_to_copy():
    from curate.runner.local import stage_title

    assert stage_title(0, 2, []) == "stage 1/2: copy"
    assert stage_title(1, 2, [DropIdentical()]) == "stage 2/2: drop_identical"


def test_hooks_are_declared_with_defaults():
    from curate.io.formats.base import Format
    from curate.io.formats.helpsteer2 import HelpSteer2Format
    from curate.io.formats.hh import HHFormat

    step = DropIdentical()
    assert step.after_run(Path("."), {}) is None and step.vectors(pl.DataFrame()) is None
    assert not step.prefetches_vectors()
    assert HHFormat.converts_frames() and not Format.converts_frames()
    assert HelpSteer2Format.merge_adjacent and not HHFormat.merge_adjacent


def test_semantic_dedup_prefetches_only_with_a_cache():
    from curate.dedup.semantic import SemanticDedup

    assert SemanticDedup({"embedder": {"backend": "fake", "cache": True}}).prefetches_vectors()
    assert not SemanticDedup({"embedder": {"backend": "fake", "cache": False}}).prefetches_vectors()


def test_the_label_lives_in_one_place():
    a, b = DropIdentical(), DropIdentical()
    Pipeline({"path": "x.jsonl"}, [a, b], {"dir": "r"})
    assert (a.label, a.stats.name, b.label, b.stats.name) == ("drop_identical",) * 2 + ("drop_identical#2",) * 2
    from curate.stats import StepStats

    b.stats = StepStats("anything")  # fresh or restored counters take the step's label
    assert b.stats.name == "drop_identical#2"
    assert isinstance(b, Step)


def test_ray_logs_flag_needs_the_ray_engine(tmp_path):
    r = CliRunner().invoke(cli, ["run", str(_yaml(tmp_path, _pairs(tmp_path / "d.jsonl", 2))), "--ray-logs"])
    assert r.exit_code == 2 and "--ray-logs applies to the ray engine only" in r.output
