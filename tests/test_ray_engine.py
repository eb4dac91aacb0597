"""The Ray Data engine on local Ray gives the local engine's output, rejected rows, quarantine and counts.

One local Ray instance (2 CPUs, 127.0.0.1) serves the whole module. The pipeline runs over the HH
sample and covers every way the engine places a step: fused stateless tasks (registered steps and a
plain function), an actor pool (a step that loads a model), the driver (a stateful dedup) and a
full pass (fit on the driver, then spread out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from curate.errors import ConfigError
from curate.pipeline import Pipeline
from curate.schema import prompt_text_expr
from curate.step import Step
from curate.steps.basic import DropIdentical, LengthFilter
from tests.helpers.runs import assert_same_run, counts

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[1]  # on PYTHONPATH: `tests.helpers.slow_step` imports from here


@pytest.fixture(scope="module")
def local_ray():
    import cloudpickle

    # workers import this module's steps by value: they need not find tests/ on their path
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING", runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        yield ray
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


# ---------------------------------------------------------------- steps of every kind


def chosen_words(batch: pl.DataFrame) -> pl.DataFrame:
    return batch.with_columns(pl.col("chosen").str.split(" ").list.len().alias("chosen_words"))


class FirstPromptOnly(Step):
    """Keep the first pair of each prompt text (stateful: remembers prompts across batches).

    Reads: prompt. Drops with reason ``repeated_prompt``.
    """

    name = "first_prompt_only"
    inputs = ("prompt",)
    stateful = True

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.seen: set[str] = set()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        text = batch.select(prompt_text_expr()).to_series().to_list()
        repeated = []
        for t in text:
            repeated.append(t in self.seen)
            self.seen.add(t)
        return self.drop(batch, pl.Series(repeated), "repeated_prompt")

    def save_state(self, directory: Path) -> None:
        (directory / "seen.json").write_text(json.dumps(sorted(self.seen)))

    def load_state(self, directory: Path) -> None:
        self.seen = set(json.loads((directory / "seen.json").read_text()))


class EmbedSimilarity(Step):
    """Cosine similarity of chosen and rejected under an embedder loaded in setup (a model step).

    Reads: chosen, rejected. Writes: cr_similarity. Counts ``near_identical`` (similarity > 0.95).
    """

    name = "embed_similarity"
    inputs = ("chosen", "rejected")
    outputs = ("cr_similarity",)
    uses_model = True

    def setup(self, ctx) -> None:
        from curate.testing import FakeEmbedder

        self.model = FakeEmbedder()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        a = self.model.embed(batch["chosen"].to_list())
        b = self.model.embed(batch["rejected"].to_list())
        sim = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)
        self.stats.count("near_identical", int((sim > 0.95).sum()))
        return batch.with_columns(pl.Series("cr_similarity", sim.astype(np.float64)))


class LongerThanMedian(Step):
    """Flag pairs whose chosen is longer than the median over the whole dataset (a full pass).

    Reads: chosen. Writes: long_chosen. Counts ``long``.
    """

    name = "longer_than_median"
    inputs = ("chosen",)
    outputs = ("long_chosen",)
    needs_full_pass = True

    def fit(self, batches) -> None:
        lengths = np.concatenate([b["chosen"].str.len_chars().to_numpy() for b in batches()])
        self.median = float(np.median(lengths))

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        flag = batch["chosen"].str.len_chars() > self.median
        self.stats.count("long", int(flag.sum()))
        return batch.with_columns(flag.alias("long_chosen"))


def _steps() -> list:
    return [DropIdentical(), LengthFilter(min_response_chars=20, max_response_chars=2000), chosen_words,
            FirstPromptOnly(), EmbedSimilarity(), LongerThanMedian()]


@pytest.fixture(scope="module")
def both_engines(local_ray, hh_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray-eq")
    out = {}
    for engine in ("local", "ray"):
        p = Pipeline({"path": str(hh_path), "format": "hh"}, _steps(), {"dir": str(tmp / engine)},
                     batch_size=300, name="ray-eq")
        out[engine] = p.run(engine=engine)
    return tmp, out


def test_ray_matches_local_on_every_kind_of_step(both_engines):
    tmp, stats = both_engines
    assert_same_run(tmp / "local", tmp / "ray", stats["local"], stats["ray"])
    steps = {s["name"]: s for s in stats["ray"]["steps"]}
    # each kind of step did real work, so the comparison above means something
    assert steps["length_filter"]["dropped"]["response_too_short"] > 0
    assert steps["first_prompt_only"]["dropped"]["repeated_prompt"] > 0
    assert steps["longer_than_median"]["counts"]["long"] > 0
    assert steps["embed_similarity"]["records_in"] == steps["first_prompt_only"]["records_out"]
    assert stats["ray"]["quarantined"] > 0


def test_ray_run_dir_layout(both_engines):
    tmp, _ = both_engines
    run = tmp / "ray"
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["data", "rejected", "quarantine", "state", "stats.json"])
    assert all(f.name.startswith("part-") for f in (run / "data").iterdir())
    assert json.loads((run / "state" / "progress.json").read_text())["finished"] is True


def test_cli_engine_ray_from_yaml(local_ray, hh_path, tmp_path):
    from curate.cli.main import cli

    def yaml(engine: str) -> Path:
        f = tmp_path / f"{engine}.yaml"
        f.write_text(f"""
name: ray-cli
engine: {engine}
input: {{path: "{hh_path}", format: hh, limit: 900}}
batch_size: 200
steps:
  - step: drop_identical
  - step: python
    function: tests.helpers.slow_step:slow
  - step: length_filter
    min_response_chars: 10
output: {{dir: "{tmp_path / engine}"}}
""")
        return f

    sys.path.insert(0, str(ROOT))  # the driver imports `tests.helpers.slow_step` too
    try:
        res = CliRunner().invoke(cli, ["run", str(yaml("ray")), "--no-progress"])
        assert res.exit_code == 0, res.output
        assert "wrote" in res.output
        s_local = Pipeline.from_yaml(yaml("local")).run()
    finally:
        sys.path.remove(str(ROOT))
    s_ray = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert_same_run(tmp_path / "local", tmp_path / "ray", s_local, s_ray)


def test_ray_resume_of_a_finished_run_is_a_no_op_and_a_fresh_one_refuses(local_ray, hh_path, tmp_path):
    p = Pipeline({"path": str(hh_path), "format": "hh", "limit": 300}, [DropIdentical(), FirstPromptOnly()],
                 {"dir": str(tmp_path)}, batch_size=100)
    first = p.run(engine="ray")
    again = p.run(engine="ray", resume=True)  # every stage is done: same counts, nothing redone
    assert counts(first) == counts(again)
    with pytest.raises(ConfigError, match="--overwrite"):
        p.run(engine="ray")


def test_semantic_dedup_embeds_in_actors_then_indexes_on_driver(local_ray, hh_path, tmp_path):
    from curate.dedup.semantic import SemanticDedup

    runs = {}
    for engine in ("local", "ray"):
        dedup = SemanticDedup(embedder={"backend": "fake"}, fields=["prompt", "response"], threshold=0.9)
        p = Pipeline({"path": str(hh_path), "format": "hh", "limit": 1200}, [DropIdentical(), dedup],
                     {"dir": str(tmp_path / engine)}, batch_size=250, cache_dir=str(tmp_path / f"cache-{engine}"))
        runs[engine] = (p.run(engine=engine), dedup)
    assert_same_run(tmp_path / "local", tmp_path / "ray", runs["local"][0], runs["ray"][0])
    assert sum(runs["ray"][0]["steps"][1]["dropped"].values()) > 0
    # every vector the driver needed was embedded beforehand by the actor pool
    driver = runs["ray"][1].embedder
    assert driver.misses == 0 and driver.hits > 0


def refuse_batch(batch: pl.DataFrame) -> pl.DataFrame:
    from curate.errors import SchemaError

    raise SchemaError("step refuse_batch: column 'strength' is missing; add a vote step before it")


def test_worker_error_reaches_the_user_as_is(local_ray, hh_path, tmp_path):
    from curate.errors import SchemaError

    p = Pipeline({"path": str(hh_path), "format": "hh", "limit": 200}, [DropIdentical(), refuse_batch],
                 {"dir": str(tmp_path / "err")}, batch_size=100)
    with pytest.raises(SchemaError, match="column 'strength' is missing"):
        p.run(engine="ray")


def test_ray_matches_local_on_the_registered_stages(local_ray, hh_path, tmp_path):
    """Dedup, an LLM judge, a full-pass voter and the ensemble, with fake backends, on both engines."""
    from curate.config import load_pipeline
    from curate.registry import STEPS

    wanted = ["exact_dedup", "semantic_dedup", "llm_judge", "embed_bt_voter", "ensemble"]
    missing = [n for n in wanted if n not in STEPS.names()]
    if missing:
        pytest.skip(f"steps not registered: {missing}")
    (tmp_path / "p.yaml").write_text(f"""
name: ray-stages
input: {{path: "{hh_path}", format: hh, limit: 600}}
batch_size: 150
steps:
  - step: drop_identical
  - step: exact_dedup
  - step: semantic_dedup
    embedder: {{backend: fake}}
    threshold: 0.9
  - step: llm_judge
    llm: {{backend: fake}}
  - step: embed_bt_voter
    embedder: {{backend: fake}}
    folds: 3
  - step: ensemble
output: {{dir: "{tmp_path / 'out'}"}}
""")
    stats = {e: Pipeline.from_config(load_pipeline(tmp_path / "p.yaml")).run(run_dir=tmp_path / e, engine=e)
             for e in ("local", "ray")}
    assert_same_run(tmp_path / "local", tmp_path / "ray", stats["local"], stats["ray"])
    assert stats["ray"]["rejected"] > 0


def test_ray_logs_are_quiet_unless_asked(local_ray, hh_path, tmp_path, capfd):
    import logging

    class Keep(logging.Handler):  # Ray Data's records, wherever logging is set up to print them
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler, err = Keep(), {}
    logging.getLogger("ray.data").addHandler(handler)
    try:
        for logs in (False, True):
            seen: list[str] = []
            p = Pipeline({"path": str(hh_path), "format": "hh", "limit": 50}, [LengthFilter(min_response_chars=5)],
                         {"dir": str(tmp_path / f"logs-{logs}")}, batch_size=25)
            capfd.readouterr()
            p.run(engine="ray", progress=True, ray_logs=logs)  # progress: as `curate run` does by default
            err[logs] = capfd.readouterr().err + "\n".join(seen)
    finally:
        logging.getLogger("ray.data").removeHandler(handler)
    assert "Starting execution" not in err[False] and "INFO" not in err[False], err[False]
    assert "Starting execution" in err[True]
