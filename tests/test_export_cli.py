"""`curate export` and `curate card` on a real (small) run directory."""

from __future__ import annotations

import json

import datasets
import pytest
from click.testing import CliRunner

from curate import Pipeline
from curate.cli.main import cli
from curate.steps.basic import DropIdentical


@pytest.fixture(scope="module")
def run_dir(hh_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-run")
    Pipeline(input={"path": str(hh_path), "format": "hh", "limit": 200}, steps=[DropIdentical()],
             output={"dir": str(out)}, name="cli-test").run()
    return out


def test_export_then_card(run_dir, tmp_path):
    r = CliRunner().invoke(cli, ["export", str(run_dir), "--out", str(tmp_path / "x"), "--layout", "openrlhf",
                                 "--splits", "train=0.8,validation=0.1,test=0.1", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "wrote openrlhf export" in r.output
    ds = datasets.load_dataset(str(tmp_path / "x"))
    info = json.loads((tmp_path / "x" / "export.json").read_text())
    assert {k: len(v) for k, v in ds.items()} == info["splits"] and info["seed"] == 3
    assert "## Curation report" in (tmp_path / "x" / "README.md").read_text()
    r = CliRunner().invoke(cli, ["card", str(run_dir), "--out", str(tmp_path / "card"), "--title", "Mini"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "card" / "README.md").read_text().count("# Mini") == 1
    assert (tmp_path / "card" / "plots" / "funnel.png").exists()


def test_errors_are_one_line(run_dir, tmp_path):
    r = CliRunner().invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "no stats.json" in r.output
    r = CliRunner().invoke(cli, ["export", str(run_dir), "--out", str(tmp_path / "y"), "--splits", "train=a"])
    assert r.exit_code == 2 and "NAME=FRACTION" in r.output
