"""Issue 14 regressions: validate-time checks, a bounded YAML loader, inspect on any folder,
`curate steps` with YAML keys and input formats, a one-line error for a blocked template."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli.main import cli
from curate.config import MAX_BYTES, load_pipeline
from curate.errors import ConfigError
from tests.helpers.export import curated_records

ROOT = Path(__file__).resolve().parents[1]
# 1 KB, nine levels of nine aliases: 9^9 values when expanded (took 40 s and 1.6 GB before the bound)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + \
    "input: {path: x.jsonl}\noutput: {dir: o}\n"


def _validate(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return CliRunner().invoke(cli, ["validate", str(p)])


def test_alias_bomb_is_refused_quickly_with_file_and_line(tmp_path):
    start = time.perf_counter()
    r = _validate(tmp_path, BOMB)
    assert r.exit_code == 2 and "p.yaml:" in r.output and "alias" in r.output and "Traceback" not in r.output
    assert time.perf_counter() - start < 10  # a correctness bound (it used to take 40 s), not a benchmark


def test_recursive_alias_and_huge_file_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"p.yaml:1: recursive YAML alias"):
        load_pipeline(_write(tmp_path, "a: &a [1, *a]\ninput: {path: x}\noutput: {dir: o}\n"))
    with pytest.raises(ConfigError, match="at most"):
        load_pipeline(_write(tmp_path, "# " + "x" * MAX_BYTES + "\ninput: {path: x}\noutput: {dir: o}\n"))


def test_shared_aliases_within_bounds_still_load(tmp_path):
    text = "input: {path: x, format: hh}\nsteps:\n  - &f {step: length_filter, min_response_chars: 2}\n  - *f\n" \
           "output: {dir: o}\n"
    assert [s.options for s in load_pipeline(_write(tmp_path, text)).steps] == [{"min_response_chars": 2}] * 2


def _write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,needle", [
    ("input:\n  path: x.jsonl\n  format: hhh\noutput: {dir: o}\n",
     "p.yaml:3: input.format: unknown input format 'hhh'"),
    ("input:\n  path: x.jsonl\n  format: mapping\noutput: {dir: o}\n",
     "p.yaml:3: input.columns: format 'mapping' needs"),
    ("input:\n  path: x.jsonl\n  format: mapping\n  columns: {prompt: q, chosen: c}\noutput: {dir: o}\n",
     "p.yaml:4: input.columns: format 'mapping' needs input.columns for ['rejected']"),
    # the winner layout (LLMBar's: response_a / response_b / winner) needs its winner_values
    ("input:\n  path: x.jsonl\n  format: mapping\n  columns: {prompt: q, response_a: a, response_b: b, winner: w}\n"
     "output: {dir: o}\n", "p.yaml:3: input.format_options: format 'mapping' with a winner column needs"),
    ("input:\n  path: x.jsonl\n  format: hh\n  format_options: {colour: red}\noutput: {dir: o}\n",
     "p.yaml:4: input.format_options: input format 'hh': unknown option 'colour'"),
    ("input: {path: x.jsonl, format: hh}\nsteps:\n  - step: drop_identical\n  - step: route_to_humans\n    task: t\n"
     "output: {dir: o}\n", "p.yaml:4: steps.1 (route_to_humans) reads column(s) decision"),
    ("input: {path: x.jsonl, format: hh}\nsteps:\n  - step: rubric_judge\n  - step: extract_rubrics\n"
     "output: {dir: o}\n",
     "p.yaml:3: steps.0 (rubric_judge) reads column(s) rubric"),
])
def test_validate_checks_format_mapping_and_step_inputs(tmp_path, text, needle):
    r = _validate(tmp_path, text)
    assert r.exit_code == 2 and needle in r.output, r.output


@pytest.mark.parametrize("text", [
    # ensemble after a labeler; the python step may add anything, so what follows it is not checked
    "input: {path: x, format: hh}\nsteps:\n  - step: llm_judge\n    llm: {backend: fake}\n  - step: ensemble\n"
    "  - step: route_to_humans\n    task: t\noutput: {dir: o}\n",
    "input: {path: x, format: hh}\nsteps:\n  - step: python\n    function: json:loads\n  - step: route_to_humans\n"
    "    task: t\noutput: {dir: o}\n",
    # a previous run's output (auto / curate) may carry any column
    "input: {path: x}\nsteps:\n  - step: route_to_humans\n    task: t\noutput: {dir: o}\n",
])
def test_column_flow_accepts_what_can_be_there(tmp_path, text):
    r = _validate(tmp_path, text)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("pipeline", sorted((ROOT / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate(pipeline):
    load_pipeline(pipeline)


def test_inspect_export_folder_and_run_quarantine(tmp_path):
    from curate.export import export_dataset

    export_dataset(curated_records(), tmp_path / "exp", layout="trl")
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "exp"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["records"] == 60 and d["chars"]["chosen"]["min"] > 0 and d["quarantined"] == 0
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "exp"), "-n", "1"])
    assert r.exit_code == 0 and "chosen: assistant:" in r.output

    data = tmp_path / "d.jsonl"
    good = "".join(json.dumps({"prompt": f"q{i}", "chosen": f"yes {i}", "rejected": "no"}) + "\n" for i in range(5))
    same = json.dumps({"prompt": "q", "chosen": "same", "rejected": "same"}) + "\n"
    data.write_text(good + "{broken\n" + same)
    r = CliRunner().invoke(cli, ["inspect", str(data), "--json"])
    assert json.loads(r.output)["quarantined_by_reason"] == {"invalid_json": 1, "identical_responses": 1}
    pipe = _write(tmp_path, f"input: {{path: {data}}}\noutput: {{dir: {tmp_path / 'run'}}}\n")
    assert CliRunner().invoke(cli, ["run", str(pipe), "--no-progress"]).exit_code == 0
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "run")])
    assert r.exit_code == 0 and "5 records, 2 quarantined rows" in r.output and "invalid_json=1" in r.output


def test_inspect_foreign_file_is_one_line(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"not parquet at all")
    r = CliRunner().invoke(cli, ["inspect", str(bad)])
    assert r.exit_code != 0 and r.output.startswith("error: ") and "Traceback" not in r.output


def test_steps_shows_yaml_keys_and_input_formats():
    r = CliRunner().invoke(cli, ["steps"])
    assert r.exit_code == 0 and "    --" not in r.output and "      max_response_chars: int" in r.output
    assert "input formats" in r.output and "\nhh  (pair)" in r.output
    fmts = {d["name"]: d for d in json.loads(CliRunner().invoke(cli, ["steps", "--formats", "--json"]).output)}
    assert {"hh", "trl", "mapping", "prompts"} <= set(fmts) and "columns" in fmts["mapping"]["options"]
    assert fmts["prompts"]["kind"] == "candidate" and ".jsonl" in fmts["hh"]["extensions"]
    r = CliRunner().invoke(cli, ["steps", "trl"])
    assert r.exit_code == 0 and '{"prompt": str, "chosen": str, "rejected": str}' in r.output


def test_blocked_template_is_a_config_error_naming_the_file(tmp_path):
    from curate.judge.prompts import PromptTemplate

    t = tmp_path / "evil.j2"
    t.write_text("{{ chosen.__class__.__mro__ }}")
    with pytest.raises(ConfigError, match=r"evil\.j2: the template sandbox blocked this"):
        PromptTemplate(str(t)).render(chosen="a")


def test_the_readmes_llmbar_input_validates(tmp_path):
    # the winner layout from the README (LLMBar's published files) passes validate as it passes the reader
    text = ("input:\n  path: x.json.gz\n  format: mapping\n"
            "  columns: {prompt: input, response_a: output_1, response_b: output_2, winner: label}\n"
            "  format_options: {winner_values: {1: response_a, 2: response_b}}\n"
            "steps:\n  - step: drop_identical\noutput: {dir: o}\n")
    r = _validate(tmp_path, text)
    assert r.exit_code == 0, r.output
