"""The Ray engine on a two-node cluster on 127.0.0.1: output equals the local engine's, and a
`curate run --engine ray` killed with SIGKILL mid-run resumes to the same output.

The cluster is two `ray start --block` processes (a head and a second node, one CPU each) in
their own temp dir and on free ports, so other Ray instances on this machine are untouched; they
are stopped by killing the process groups this module started (their Ray processes share their
fate), never with `ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.runs import assert_same_run

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BLOCKS = 24  # the HH sample (2,312 rows) in batches of 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    ray_bin = Path(sys.executable).with_name("ray")
    ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
    cmd = [str(ray_bin), "start", "--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
           *args, *(f"{p}={_free_port()}" for p in ports)]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_nodes(address: str, env: dict, n: int, procs: list[subprocess.Popen], timeout: int = 60) -> None:
    """Until `n` nodes are alive (a probe process asks the cluster), or fail with the logs."""
    probe = (f"import ray, time\nray.init(address='{address}', logging_level='ERROR')\n"
             f"end = time.time() + {timeout}\n"
             f"while sum(x['Alive'] for x in ray.nodes()) < {n} and time.time() < end: time.sleep(0.5)\n"
             f"assert sum(x['Alive'] for x in ray.nodes()) >= {n}, ray.nodes()\n")
    p = subprocess.Popen([sys.executable, "-c", probe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.time() + timeout + 30
    while p.poll() is None and time.time() < end:
        dead = [q for q in procs if q.poll() is not None]
        if dead:
            p.kill()
            raise AssertionError(f"`ray start` exited: {dead[0].args}")
        time.sleep(0.5)
    if p.poll() is None:
        p.kill()
    assert p.wait() == 0, f"{n} Ray node(s) not up in {timeout}s: {p.stderr.read().decode()[-2000:]}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    # Ray 2.5x+ clusters want a token: a fresh one for this cluster, given to every process of it
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0",
               CURATE_TEST_NODE_DIR=str(tmp / "nodes"), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.pop("RAY_ADDRESS", None)
    (tmp / "nodes").mkdir()
    procs = [_ray_start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp_dir}"],
                        env, tmp / "head.log")]
    address = f"127.0.0.1:{port}"
    try:
        procs.append(_ray_start([f"--address={address}"], env, tmp / "node2.log"))
        _wait_for_nodes(address, env, 2, procs)
        yield {"address": address, "env": dict(env, RAY_ADDRESS=address), "nodes": tmp / "nodes"}
    finally:
        # SIGKILL to the groups we started: a SIGTERM makes each node drain for 30 s first; the
        # node's Ray processes die with `ray start` (Ray sets PR_SET_PDEATHSIG on them)
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


def _pipeline(tmp: Path, hh: Path, out: str) -> Path:
    """Every kind of placement: fused tasks, a stateful step on the driver, a slow task (so a kill
    lands mid-stage), a full-pass voter (a stage of its own) and a streaming ensemble."""
    p = tmp / f"{out}.yaml"
    p.write_text(f"""
name: ray-cluster
input: {{path: "{hh}", format: hh}}
batch_size: 100
steps:
  - step: drop_identical
  - step: exact_dedup
  - step: python
    function: tests.helpers.slow_step:slower_on_ray
  - step: length_filter
    min_response_chars: 20
  - step: embed_bt_voter
    embedder: {{backend: fake}}
    folds: 3
  - step: ensemble
output: {{dir: "{tmp / out}"}}
""")
    return p


def _curate(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "curate.cli.main", *args, "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stats(run: Path) -> dict:
    return json.loads((run / "stats.json").read_text())


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, hh_path):
    tmp = tmp_path_factory.mktemp("local")
    proc = _curate(dict(os.environ, PYTHONPATH=str(ROOT)), "run", str(_pipeline(tmp, hh_path, "local")))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return tmp / "local"


def test_two_nodes_match_the_local_engine(cluster, local_run, hh_path, tmp_path):
    proc = _curate(cluster["env"], "run", str(_pipeline(tmp_path, hh_path, "ray")), "--engine", "ray")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_same_run(local_run, tmp_path / "ray", _stats(local_run), _stats(tmp_path / "ray"))
    assert len(list(cluster["nodes"].iterdir())) == 2, "the slow step should have run on both nodes"
    assert not (tmp_path / "ray" / "state" / "ray").exists()  # markers are removed at the end


def _wait_for_blocks(run: Path, n: int, proc: subprocess.Popen, timeout: int = 180) -> None:
    progress = run / "state" / "progress.json"
    end = time.time() + timeout
    while time.time() < end:
        try:
            if len(list((run / "state" / "ray" / "stage-0").glob("block-*.json"))) >= n:
                return
        except OSError:
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"run made no progress: {progress.read_text() if progress.exists() else 'no checkpoint'}")


def test_sigkill_mid_run_then_resume_equals_uninterrupted(cluster, local_run, hh_path, tmp_path):
    pipe = _pipeline(tmp_path, hh_path, "ray")
    run = tmp_path / "ray"
    proc = _curate(cluster["env"], "run", str(pipe), "--engine", "ray")
    _wait_for_blocks(run, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    committed = len(list((run / "state" / "ray" / "stage-0").glob("block-*.json")))
    assert 4 <= committed < BLOCKS, "the kill must land mid-stage"
    assert not (run / "stats.json").exists()

    refused = _curate(cluster["env"], "run", str(pipe), "--engine", "ray")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 2 and "--resume" in err

    resumed = _curate(cluster["env"], "run", str(pipe), "--engine", "ray", "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert_same_run(local_run, run, _stats(local_run), _stats(run))
