"""Health checks of a finished run: a run that "succeeds" with nothing useful is a failure.

    checks:                      # pipeline YAML (all optional); CLI: --max-quarantine-rate,
      max_quarantine_rate: 0.5   #   --max-failure-rate, --allow-empty
      max_failure_rate: 0.5
      allow_empty: false

Three checks, computed from ``stats.json`` after the run's files are written:

* ``empty``: the input had rows but the run wrote 0 records (``allow_empty`` turns it off);
* ``quarantine``: more than ``max_quarantine_rate`` of the input rows were quarantined
  (usually a wrong ``input.format`` or ``columns``);
* ``llm_failures``: more than ``max_failure_rate`` of a step's LLM calls failed (counted by every
  LLM-backed step as ``llm_calls`` / ``llm_failed``; usually a server that is not running).

``health(stats, checks)`` returns a dict for ``stats.json``; ``enforce`` raises ``RunCheckFailed``
with the first problem, which the CLI prints as one line and exits 1.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import RunCheckFailed


class RunChecks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_quarantine_rate: float = Field(0.5, ge=0, le=1, description="fail when more input rows are quarantined")
    max_failure_rate: float = Field(0.5, ge=0, le=1, description="fail when more of a step's LLM calls fail")
    allow_empty: bool = Field(False, description="a run that writes 0 records from a non-empty input is ok")


def llm_failures(stats: dict) -> dict[str, dict[str, Any]]:
    """Per step with LLM calls: calls, failed, rate."""
    out = {}
    for s in stats["steps"]:
        calls, failed = s["counts"].get("llm_calls", 0), s["counts"].get("llm_failed", 0)
        if calls:
            out[s["name"]] = {"calls": calls, "failed": failed, "rate": round(failed / calls, 4)}
    return out


def health(stats: dict, checks: RunChecks) -> dict[str, Any]:
    """Input: a run's stats (``read``, ``steps``, ``output``, ``quarantined``). Output: the limits,
    LLM failures per step and a list of problems ``{check, reason, value, limit}``."""
    problems: list[dict[str, Any]] = []
    rows = stats["read"]["records_in"]
    if rows and stats["output"]["records"] == 0 and not checks.allow_empty:
        problems.append({"check": "empty", "value": 0, "limit": None, "reason": (
            f"the run read {rows:,} input rows but wrote 0 records; see {stats['run_dir']}/rejected and "
            f"quarantine for why, or pass --allow-empty if that is expected")})
    q_rate = stats["quarantined"] / rows if rows else 0.0
    if q_rate > checks.max_quarantine_rate:
        problems.append({"check": "quarantine", "value": round(q_rate, 4), "limit": checks.max_quarantine_rate,
                         "reason": (f"{stats['quarantined']:,} of {rows:,} input rows ({q_rate:.0%}) were "
                                    f"quarantined, above max_quarantine_rate {checks.max_quarantine_rate}; check "
                                    f"input.format/columns against {stats['run_dir']}/quarantine")})
    failures = llm_failures(stats)
    for name, f in failures.items():
        if f["rate"] > checks.max_failure_rate:
            problems.append({"check": "llm_failures", "value": f["rate"], "limit": checks.max_failure_rate,
                             "reason": (f"step {name}: {f['failed']:,} of {f['calls']:,} LLM calls failed "
                                        f"({f['rate']:.0%}), above max_failure_rate {checks.max_failure_rate}; "
                                        f"is the LLM server running and its base_url right?")})
    return {"limits": checks.model_dump(), "llm_failures": failures, "problems": problems}


def enforce(stats: dict) -> None:
    """Raise RunCheckFailed for the first problem recorded in ``stats['health']``."""
    problems = stats.get("health", {}).get("problems", [])
    if problems:
        p = problems[0]
        more = f" (and {len(problems) - 1} more problem(s) in stats.json)" if len(problems) > 1 else ""
        raise RunCheckFailed(p["check"], p["reason"] + more, p["value"], p["limit"])
