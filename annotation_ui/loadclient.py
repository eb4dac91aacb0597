"""A load driver for the annotation app: many annotators answering at once through the JSON API.

Each annotator is a thread with its own session. A submit that gets no acknowledgement (the server
died, a timeout) is retried with the *same* answer id until the server acknowledges it, so an
answer is stored once whether the first try reached the database or not. Used by the load test
and ``benchmarks/annotate_load.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CHOICES = ("A", "B", "tie", "A", "B")


@dataclass
class LoadResult:
    acked: list[str] = field(default_factory=list)  # answer ids the server acknowledged
    duplicates: int = 0  # acks that said "already stored" (a retry after a lost acknowledgement)
    retries: int = 0  # requests repeated after a connection error or 5xx
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _retry(fn, result: LoadResult, patience: float = 120.0, pause: float = 0.1):
    """Call fn until it returns a response below 500; connection errors and 5xx are retried for up to
    ``patience`` seconds (a restart on a busy 2-core machine can take half a minute), then it gives up."""
    deadline = time.monotonic() + patience
    while True:
        try:
            resp = fn()
            if resp.status_code < 500:
                return resp
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer from the server for {patience:.0f} s")
        with result.lock:
            result.retries += 1
        time.sleep(pause)


def annotator(url: str, name: str, password: str, task: str, answers: int, result: LoadResult) -> None:
    try:
        _annotate(url, name, password, task, answers, result)
    except RuntimeError as e:  # recorded, so a test or benchmark sees why this annotator stopped
        with result.lock:
            result.errors.append(f"{name}: {e}")


def _login(c: httpx.Client, name: str, password: str, result: LoadResult, patience: float = 120.0) -> str:
    """Log in and return the session's CSRF token. The whole exchange is repeated when it does not end
    in a session (the server died between the form and the post, so the form's token is stale)."""
    deadline = time.monotonic() + patience
    while True:
        page = _retry(lambda: c.get("/login"), result)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if found:
            form = {"username": name, "password": password, "csrf": found.group(1)}
            _retry(lambda: c.post("/login", data=form), result)  # noqa: B023  (called within this turn)
            me = _retry(lambda: c.get("/api/me"), result)
            if me.status_code == 200 and "csrf" in me.json():
                return me.json()["csrf"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not log in for {patience:.0f} s (last status {page.status_code})")
        with result.lock:
            result.retries += 1
        time.sleep(0.2)


def _annotate(url: str, name: str, password: str, task: str, answers: int, result: LoadResult) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        token = _login(c, name, password, result)
        for i in range(answers):
            item = _retry(lambda: c.get(f"/api/tasks/{task}/next"), result).json()["item"]
            if item is None:
                with result.lock:
                    result.errors.append(f"{name}: no item left after {i} answers")
                return
            body = {"item_id": item["item_id"], "answer_id": str(uuid.uuid4()), "choice": CHOICES[i % 5]}
            # body bound now: _retry calls the lambda (maybe several times) within this iteration
            resp = _retry(lambda body=body: c.post(f"/api/tasks/{task}/answers", json=body,
                                                   headers={"X-CSRF-Token": token}), result)
            if resp.status_code != 200:
                with result.lock:
                    result.errors.append(f"{name}: {resp.status_code} {resp.text[:200]}")
                return
            with result.lock:
                result.acked.append(body["answer_id"])
                result.duplicates += int(resp.json()["duplicate"])


def start(
    url: str, names: list[str], password: str, task: str, per_user: int
) -> tuple[list[threading.Thread], LoadResult]:
    result = LoadResult()
    threads = [threading.Thread(target=annotator, args=(url, n, password, task, per_user, result), daemon=True)
               for n in names]
    for t in threads:
        t.start()
    return threads, result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CURATE_ANNOTATE_DB": str(db), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "annotation_ui.app:app_from_env", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-proxy-headers"],
        cwd=Path(__file__).resolve().parents[1], env=env)
    for _ in range(300):  # up to ~30 s on a busy 2-core machine
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"annotation server exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("annotation server did not start in 30 s")
