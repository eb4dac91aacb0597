"""How long a failed login takes for an unknown user, a known user and a user who has only a
one-time token (no password yet), through the web app. The three should be equal (one scrypt run
each), so the time does not tell an attacker which user names exist.

    python benchmarks/login_timing.py --trials 30
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from annotation_ui.app import create_app


def timed_login(client: TestClient, name: str) -> float:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    start = time.perf_counter()
    r = client.post("/login", data={"username": name, "password": "wrong-password", "csrf": csrf})
    elapsed = time.perf_counter() - start
    assert r.status_code == 401, r.status_code
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        app = create_app(Path(d) / "bench.db")
        store = app.state.store
        store.add_user("known", password="correct-horse-battery")
        store.add_user("token-only")
        client = TestClient(app)
        cases = {"unknown user": "nobody", "known user, wrong password": "known", "one-time token only": "token-only"}
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(a.trials):
            for label, name in cases.items():  # interleaved, so machine load hits every case alike
                times[label].append(timed_login(client, name))
                store.refund_login(name, "testclient")  # keep the throttle out of the way
        print(f"failed login through POST /login, {a.trials} trials each (median / p90 ms):")
        for label, ts in times.items():
            ts.sort()
            print(f"  {label:28s} {statistics.median(ts) * 1e3:7.1f} / {ts[int(0.9 * len(ts))] * 1e3:7.1f}")


if __name__ == "__main__":
    main()
