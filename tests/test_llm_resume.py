"""Kill a real generation run midway (SIGINT), resume it, and count the server's calls."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import polars as pl

from curate.testing import FakeLLM
from curate.testing.llm_server import TestServer
from tests.helpers.llm import echo, write_prompts

PIPELINE = """
name: synth-resume
input: {{path: {prompts}, format: prompts}}
batch_size: 8
cache_dir: {cache}
steps:
  - step: generate_responses
    generators:
      - llm: {{backend: openai, model: fake-model, base_url: "{url}", concurrency: 4, max_retries: 2}}
        n: 2
        temperature: 0.7
output: {{dir: {out}, format: parquet}}
"""


def run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.Popen([sys.executable, "-m", "curate.cli.main", "run", *args, "--no-progress"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished_keys(cache):
    db = sqlite3.connect(cache / "llm_cache.sqlite")
    try:
        return {k for (k,) in db.execute("SELECT key FROM calls WHERE error IS NULL")}
    finally:
        db.close()


def test_sigint_then_resume_repeats_no_finished_call(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prompts = write_prompts(tmp_path / "prompts.jsonl", 40)  # 40 prompts × 2 samples = 80 calls
    cache, out = tmp_path / "cache", tmp_path / "run"
    with TestServer(FakeLLM(responses=echo), delay_s=0.05) as srv:
        yaml = tmp_path / "p.yaml"
        yaml.write_text(PIPELINE.format(prompts=prompts, cache=cache, url=srv.base_url, out=out))
        p = run([str(yaml)], root)
        deadline = time.time() + 120
        while srv.calls < 30 and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert p.poll() is None, p.stdout.read()  # still running: we interrupt it midway
        p.send_signal(signal.SIGINT)
        log = p.communicate(timeout=60)[0]
        assert p.returncode == 130, log
        assert "--resume" in log
        done_before = finished_keys(cache)
        assert 0 < len(done_before) < 80

        p2 = run([str(yaml), "--resume"], root)
        log2 = p2.communicate(timeout=120)[0]
        assert p2.returncode == 0, log2

        # every call that had finished before the kill was served exactly once over both runs
        twice = {k: srv.served[k] for k in done_before if srv.served[k] != 1}
        assert all(srv.served[k] == 1 for k in done_before), twice
        assert len(srv.served) == 80 and finished_keys(cache) == set(srv.served)
    df = pl.read_parquet(sorted((out / "data").glob("part-*.parquet")))
    assert df.height == 40 and df["responses"].list.len().to_list() == [2] * 40
