"""The Argilla store against the local Argilla stand-in (no real Argilla server runs here; see
curate/testing/argilla_standin.py): task settings, idempotent push, A/B mapping of submitted
responses from two annotators, stable answer ids, errors; and the route → answer → pull pipeline."""

from __future__ import annotations

import os

import httpx
import polars as pl
import pytest
from click.testing import CliRunner

from curate.annotate.argilla_store import ArgillaStore, render_prompt, suggestion_of
from curate.annotate.steps import HumanVotes, RouteToHumans
from curate.annotate.store import StoreConfig, label_of
from curate.cli.main import cli
from curate.errors import BackendError, ConfigError
from curate.io.writers import read_records, write_frame
from curate.pipeline import Pipeline
from curate.schema import add_votes
from curate.testing.argilla_standin import serve_argilla
from curate.vote.ensemble import Ensemble
from tests.helpers.annotate import pairs

pytest.importorskip("argilla")
KEY = "owner.test-key"


@pytest.fixture(scope="module")
def srv():
    old = os.environ.get("ARGILLA_API_KEY")
    os.environ["ARGILLA_API_KEY"] = KEY
    with serve_argilla(api_key=KEY) as s:
        yield s
    if old is None:
        os.environ.pop("ARGILLA_API_KEY", None)
    else:
        os.environ["ARGILLA_API_KEY"] = old


@pytest.fixture(scope="module")
def store(srv):
    s = ArgillaStore(api_url=srv.url)
    yield s
    s.close()


def annotate(srv, task: str, key: str, pick) -> None:
    """Answer every record of ``task`` as the key's user; ``pick(record) -> (values, status)``."""
    for rec in srv.records(task):
        values, status = pick(rec)
        srv.submit(key, rec["id"], values, status)


def prefer(side: str):
    """An annotator who always clicks the letter showing the pair's ``side`` response."""
    def pick(rec):
        letter = "A" if rec["metadata"]["a_is"] == side else "B"
        return {"preference": {"value": letter}}, "submitted"
    return pick


def test_render_prompt_multi_turn():
    text = render_prompt([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                          {"role": "user", "content": "Bye"}])
    assert text == "**User:**\n\nHi\n\n---\n\n**Assistant:**\n\nHello\n\n---\n\n**User:**\n\nBye"


@pytest.mark.parametrize("ps,a_is,expected", [
    ([0.9, 0.7], "chosen", ("A", 0.8)),     # models favour chosen, shown as A
    ([0.9, 0.7], "rejected", ("B", 0.8)),   # ... shown as B
    ([0.1, 0.3], "chosen", ("B", 0.8)),     # models favour rejected, which is B
    ([0.4, 0.6], "chosen", ("tie", 0.5)),   # no preference on average
])
def test_suggestion_is_in_the_records_order(ps, a_is, expected):
    votes = [{"voter": f"j{i}", "kind": "llm_judge", "p_chosen": p} for i, p in enumerate(ps)]
    label, score, agent = suggestion_of(votes, a_is)
    assert (label, pytest.approx(score)) == (expected[0], expected[1]) and agent == "curate:j0,j1"
    assert suggestion_of([], a_is) is None


def test_task_settings(srv, store):
    store.create_task("settings-task", guidelines="Prefer harmless.", overlap=3, criteria=["harmless", "helpful"])
    store.create_task("settings-task", overlap=1)  # an existing task keeps its settings
    st = srv.state
    ds = next(d for d in st.datasets.values() if d["name"] == "settings-task")
    assert ds["status"] == "ready" and ds["guidelines"] == "Prefer harmless."
    assert ds["distribution"] == {"strategy": "overlap", "min_submitted": 3}
    have = st.settings[ds["id"]]
    assert [f["name"] for f in have["fields"]] == ["prompt", "response_a", "response_b"]
    assert all(f["settings"] == {"type": "text", "use_markdown": True} for f in have["fields"])
    q = {x["name"]: x for x in have["questions"]}
    assert [o["value"] for o in q["preference"]["settings"]["options"]] == ["A", "B", "tie"]
    assert q["preference"]["required"] and not q["rationale"]["required"]
    assert [o["value"] for o in q["criteria"]["settings"]["options"]] == ["harmless", "helpful"]
    (meta,) = have["metadata-properties"]
    assert meta["name"] == "a_is" and meta["visible_for_annotators"] is False
    assert store.progress("settings-task")["overlap"] == 3


def test_push_submit_pull_two_annotators(srv, store):
    df = add_votes(pairs(6), "judge", "llm_judge", [0.9, 0.8, 0.2, 0.6, 0.3, 0.7])
    store.create_task("pull-task", overlap=2, criteria=["harmless"])
    assert store.push_pairs("pull-task", df.head(4).iter_rows(named=True)) == 4
    assert store.push_pairs("pull-task", df.iter_rows(named=True)) == 2  # only the 2 new pairs
    assert store.push_pairs("pull-task", df.iter_rows(named=True)) == 0
    recs = srv.records("pull-task")
    assert len(recs) == 6 and [r["external_id"] for r in recs] == df["id"].to_list()
    assert {r["metadata"]["a_is"] for r in recs} == {"chosen", "rejected"}  # both orders occur in 6 pairs
    assert store.pushed("pull-task") == dict(zip(df["id"], df["chosen"]))
    for rec, row in zip(recs, df.iter_rows(named=True)):
        shown = {"A": rec["fields"]["response_a"], "B": rec["fields"]["response_b"]}
        assert shown[rec["suggestions"][0]["value"]] == (row["chosen"] if row["votes"][0]["p_chosen"] > 0.5
                                                          else row["rejected"])
        assert "**Assistant:**" in rec["fields"]["prompt"]

    ann1, ann2 = srv.add_user("alice"), srv.add_user("bob")
    annotate(srv, "pull-task", ann1, prefer("chosen"))
    special = {recs[0]["id"]: ({"preference": {"value": "tie"}, "rationale": {"value": "same"},
                                "criteria": {"value": ["harmless"]}}, "submitted"),
               recs[1]["id"]: (None, "discarded"),
               recs[2]["id"]: ({"preference": {"value": "A"}}, "draft")}
    annotate(srv, "pull-task", ann2, lambda rec: special.get(rec["id"]) or prefer("rejected")(rec))

    answers = store.answers("pull-task")
    by = {(a.pair_id, a.annotator): a for a in answers}
    assert len(answers) == 11  # 6 + 5: bob's draft is not an answer yet
    assert all(by[(p, "alice")].label == "chosen" for p in df["id"])
    bob = {p: by[(p, "bob")].label for p in df["id"] if (p, "bob") in by}
    ids = df["id"].to_list()
    assert bob == {ids[0]: "tie", ids[1]: "skip", ids[3]: "rejected", ids[4]: "rejected", ids[5]: "rejected"}
    assert by[(ids[0], "bob")].rationale == "same" and by[(ids[0], "bob")].criteria == ["harmless"]
    for a in answers:
        rec = next(r for r in recs if r["external_id"] == a.pair_id)
        assert a.a_is == rec["metadata"]["a_is"] and a.label == label_of(a.choice, a.a_is)
    # pulling again gives the same answers with the same ids (human_votes stays idempotent)
    assert [x.to_dict() for x in store.answers("pull-task")] == [x.to_dict() for x in answers]
    prog = store.progress("pull-task")
    assert prog == {"task": "pull-task", "items": 6, "overlap": 2, "answers": 11, "complete": 4,
                    "by_annotator": {"alice": 6, "bob": 5}}
    assert sum(r["status"] == "completed" for r in srv.records("pull-task")) == 4  # Argilla's own view agrees


def test_unmappable_response_is_counted_not_guessed(srv, store):
    store.create_task("broken-task")
    store.push_pairs("broken-task", pairs(2).iter_rows(named=True))
    recs = srv.records("broken-task")
    recs[0]["metadata"].pop("a_is")  # as if someone edited the record by hand
    annotate(srv, "broken-task", srv.add_user("carol"), lambda r: ({"preference": {"value": "A"}}, "submitted"))
    answers = store.answers("broken-task")
    assert [a.pair_id for a in answers] == [recs[1]["external_id"]]
    assert store.unreadable["missing_a_is"] == 1
    assert list(store.pushed("broken-task")) == [recs[1]["external_id"]]


def test_errors_name_the_fix(srv, store, monkeypatch):
    with pytest.raises(ConfigError, match="no dataset 'nope'.*curate annotate push --store argilla"):
        store.answers("nope")
    with pytest.raises(ConfigError, match="cannot name an Argilla dataset"):
        store.create_task("bad.name")
    monkeypatch.delenv("CURATE_TEST_ARGILLA_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$CURATE_TEST_ARGILLA_KEY is not set"):
        StoreConfig(backend="argilla", api_url=srv.url, api_key_env="CURATE_TEST_ARGILLA_KEY").open()
    monkeypatch.setenv("CURATE_TEST_ARGILLA_KEY", "wrong-key")
    with pytest.raises(BackendError, match="connecting to") as e:
        ArgillaStore(api_url=srv.url, api_key_env="CURATE_TEST_ARGILLA_KEY", retries=0)
    assert "wrong-key" not in str(e.value)  # the key is never echoed


def test_standin_enforces_what_argilla_does(srv, store):
    store.create_task("rules-task")
    store.push_pairs("rules-task", pairs(1).iter_rows(named=True))
    rec = srv.records("rules-task")[0]
    key = srv.add_user("dave")
    assert httpx.get(f"{srv.url}/api/v1/me").status_code == 401
    assert httpx.post(f"{srv.url}/api/v1/datasets", headers={"X-Argilla-Api-Key": key},
                      json={"name": "x"}).status_code == 403  # annotators cannot create datasets
    with pytest.raises(httpx.HTTPStatusError, match="422"):
        srv.submit(key, rec["id"], {"preference": {"value": "C"}})  # not a label of the question
    with pytest.raises(httpx.HTTPStatusError, match="422"):
        srv.submit(key, rec["id"], {"rationale": {"value": "no choice"}})  # a required question is missing
    srv.submit(key, rec["id"], {"preference": {"value": "B"}})
    with pytest.raises(httpx.HTTPStatusError, match="409"):
        srv.submit(key, rec["id"], {"preference": {"value": "A"}})  # one response per user and record


def test_route_answer_pull_changes_decision(srv, tmp_path):
    """The SQLite pipeline test (test_annotate_steps.py) with ``store: {backend: argilla}``."""
    from tests.helpers.annotate import voted_pairs

    store_cfg = {"backend": "argilla", "api_url": srv.url}
    write_frame(voted_pairs(), tmp_path / "in.parquet")
    run = tmp_path / "run"
    Pipeline(input={"path": str(tmp_path / "in.parquet")},
             steps=[Ensemble(), RouteToHumans(task="pipeline-task", store=store_cfg, overlap=2)],
             output={"dir": str(run)}).run(run_dir=run)
    before = read_records(run).sort("id")
    was_routed = pl.Series(before["decision"] == "route")
    assert was_routed.sum() == 3 and len(srv.records("pipeline-task")) == 3

    # two annotators prefer the *rejected* response of every routed pair
    for name in ("erin", "frank"):
        annotate(srv, "pipeline-task", srv.add_user(name), prefer("rejected"))

    out = tmp_path / "pulled.parquet"
    res = CliRunner().invoke(cli, ["annotate", "pull", str(run), "--task", "pipeline-task", "--store", "argilla",
                                   "--api-url", srv.url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "6 human votes on 3 routed pairs; 0 still waiting" in res.output
    after = pl.read_parquet(out).sort("id")
    assert after.filter(was_routed)["decision"].to_list() == ["flip"] * 3
    assert after.filter(was_routed)["chosen"].to_list() == before.filter(was_routed)["rejected"].to_list()
    assert after.filter(~was_routed)["decision"].to_list() == before.filter(~was_routed)["decision"].to_list()

    # pulling again onto the flipped output adds nothing and keeps the votes' orientation
    again = HumanVotes(task="pipeline-task", store=store_cfg)(after)
    assert again["votes"].list.len().to_list() == after["votes"].list.len().to_list()
    humans = again.filter(was_routed)["votes"].explode().struct.unnest().filter(pl.col("kind") == "human")
    assert humans.height == 6 and set(humans["p_chosen"]) == {1.0}
    assert set(Ensemble()(again).filter(was_routed)["decision"]) == {"keep"}


def test_named_workspace_is_created_and_used(srv):
    with ArgillaStore(api_url=srv.url, workspace="team-b") as s:
        s.create_task("ws-task")
        assert s.push_pairs("ws-task", pairs(2).iter_rows(named=True)) == 2
    st = srv.state
    ws = next(w for w in st.workspaces.values() if w["name"] == "team-b")
    assert [d["workspace_id"] for d in st.datasets.values() if d["name"] == "ws-task"] == [ws["id"]]
    with ArgillaStore(api_url=srv.url) as default:  # the same task name in another workspace is another task
        with pytest.raises(ConfigError, match="no dataset 'ws-task' in workspace 'argilla'"):
            default.pushed("ws-task")
