"""Kill a real `curate run` midway (SIGKILL and Ctrl-C), resume, and compare with an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from curate.io.writers import read_records

ROOT = Path(__file__).resolve().parents[1]  # on PYTHONPATH: `tests.helpers.slow_step` imports from here


def _pipeline(tmp_path: Path, hh: Path, out: str) -> Path:
    p = tmp_path / f"{out}.yaml"
    p.write_text(f"""
name: resume-test
input: {{path: "{hh}", format: hh}}
batch_size: 100
steps:
  - step: drop_identical
  - step: python
    function: tests.helpers.slow_step:slow
  - step: length_filter
    min_response_chars: 5
output: {{dir: "{tmp_path / out}"}}
""")
    return p


def _curate(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "curate.cli.main", *args, "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_batches(run_dir: Path, n: int, proc, timeout=120):
    progress = run_dir / "state" / "progress.json"
    end = time.time() + timeout
    while time.time() < end:
        if progress.exists():
            try:
                if json.loads(progress.read_text())["done"] >= n:
                    return
            except (ValueError, KeyError):
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("run made no progress")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, hh_path):
    tmp = tmp_path_factory.mktemp("ref")
    proc = _curate("run", str(_pipeline(tmp, hh_path, "ref")))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return read_records(tmp / "ref"), json.loads((tmp / "ref" / "stats.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_kill_and_resume_equals_uninterrupted(tmp_path, hh_path, reference, sig):
    ref, ref_stats = reference
    pipe = _pipeline(tmp_path, hh_path, "run")
    proc = _curate("run", str(pipe))
    _wait_for_batches(tmp_path / "run", 5, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err, err
    done = json.loads((tmp_path / "run" / "state" / "progress.json").read_text())["done"]
    assert 5 <= done < 24, "the kill must land mid-run"

    # without --resume the CLI refuses and says what to do
    again = _curate("run", str(pipe))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 2 and "--resume" in err

    resumed = _curate("run", str(pipe), "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    out = read_records(tmp_path / "run")
    assert out.equals(ref), "resumed output differs from the uninterrupted run"
    assert out.get_column("id").n_unique() == out.height
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    for key in ("read", "quarantined", "rejected", "output"):
        assert stats[key] == ref_stats[key] if key != "output" else stats[key]["records"] == ref_stats[key]["records"]
    assert [(s["records_in"], s["records_out"], s["dropped"]) for s in stats["steps"]] == \
        [(s["records_in"], s["records_out"], s["dropped"]) for s in ref_stats["steps"]]
    # quarantine and rejected files are identical too
    q = sorted((tmp_path / "run" / "quarantine").glob("*.jsonl"))
    assert sum(len(f.read_text().splitlines()) for f in q) == ref_stats["quarantined"]
    rej = pl.concat([pl.read_parquet(f) for f in sorted((tmp_path / "run" / "rejected").glob("*.parquet"))])
    assert rej.height == ref_stats["rejected"]
