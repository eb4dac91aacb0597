"""Pipeline validation errors with file:line, and the CLI's one-line errors and exit codes."""

import json

import pytest
from click.testing import CliRunner

from curate.cli.main import cli
from curate.config import load_pipeline
from curate.errors import ConfigError

GOOD = """name: t
input:
  path: {data}
steps:
  - step: drop_identical
  - step: length_filter
    max_response_chars: 100
output:
  dir: {out}
"""


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"q{i}", "chosen": f"yes {i}", "rejected": "no" * (i + 1)}) + "\n"
                         for i in range(60)) + "{broken\n")
    return p


def _write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,needle", [
    ("name: t\ninput:\n  path: x\nsteps:\n  - step: drop_identicl\noutput:\n  dir: o\n",
     "p.yaml:5: steps.0: unknown step 'drop_identicl'. Did you mean 'drop_identical'"),
    ("name: t\ninput:\n  path: x\n  colour: red\noutput:\n  dir: o\n",
     "p.yaml:4: input.colour: Extra inputs are not permitted"),
    ("name: t\ninput:\n  path: x\nsteps:\n  - step: length_filter\n    max_response_chars: lots\n"
     "output:\n  dir: o\n", "p.yaml:6: steps.0.max_response_chars"),
    ("name: t\ninput:\n  path: x\nsteps:\n  - step: length_filter\n    maxx: 3\noutput:\n  dir: o\n",
     "p.yaml:6: steps.0.maxx: Extra inputs"),
    ("name: t\ninput: [1\n", "p.yaml:3: not valid YAML"),
    ("name: t\noutput:\n  dir: o\n", "input: Field required"),
])
def test_config_errors_name_file_line_and_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as e:
        load_pipeline(_write(tmp_path, text))
    assert needle in str(e.value)


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError):
        load_pipeline(_write(tmp_path, "!!python/object/apply:os.system ['echo hi']\n"))


def test_cli_run_inspect_validate_steps(tmp_path, data):
    pipe = _write(tmp_path, GOOD.format(data=data, out=tmp_path / "out"))
    r = CliRunner().invoke(cli, ["validate", str(pipe)])
    assert r.exit_code == 0 and "2 steps in 1 stage" in r.output
    r = CliRunner().invoke(cli, ["run", str(pipe), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "read 61 rows → 60 records (1 quarantined · invalid_json=1)" in r.output
    assert "response_too_long" in r.output
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["output"]["records"] == 60 - stats["steps"][1]["dropped"]["response_too_long"]
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine" / "part-00000.jsonl").read_text().splitlines()]
    assert q == [{"file": str(data), "line": 61, "reason": "invalid_json", "detail": q[0]["detail"], "raw": "{broken"}]
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["records"] == stats["output"]["records"]
    r = CliRunner().invoke(cli, ["steps", "--json"])
    names = {d["name"] for d in json.loads(r.output)}
    assert {"drop_identical", "length_filter", "python"} <= names
    r = CliRunner().invoke(cli, ["steps", "length_filter"])
    assert "max_response_chars" in r.output


def test_cli_errors_are_one_line_with_exit_code(tmp_path):
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2
    assert r.output.strip().startswith("error: pipeline file not found") and r.output.count("\n") == 1
    pipe = _write(tmp_path, GOOD.format(data=tmp_path / "nope.jsonl", out=tmp_path / "o"))
    r = CliRunner().invoke(cli, ["run", str(pipe)])
    assert r.exit_code == 2 and "input file not found" in r.output and "Traceback" not in r.output
