"""The SQLite annotation store: idempotent push and submit, A/B mapping, leases, one-time tokens."""

from __future__ import annotations

import uuid

import pytest
from tests.helpers.annotate import PASSWORD, pairs, seeded_store

from curate.annotate.sqlite_store import AnswerRejected, SQLiteStore
from curate.annotate.store import a_is_for, label_of, open_store
from curate.errors import ConfigError


@pytest.mark.parametrize("choice,a_is,label", [
    ("A", "chosen", "chosen"), ("B", "chosen", "rejected"), ("A", "rejected", "rejected"),
    ("B", "rejected", "chosen"), ("tie", "chosen", "tie"), ("skip", "rejected", "skip")])
def test_label_maps_back_through_order(choice, a_is, label):
    assert label_of(choice, a_is) == label


def test_order_is_randomised_and_stable():
    orders = [a_is_for("seed", f"p{i}", "ann") for i in range(200)]
    assert 60 < orders.count("chosen") < 140  # both orders occur
    assert orders == [a_is_for("seed", f"p{i}", "ann") for i in range(200)]


def test_push_is_idempotent(tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=4)
    assert store.push_pairs("t1", pairs(4).iter_rows(named=True)) == 0
    assert store.push_pairs("t1", pairs(5).iter_rows(named=True)) == 1
    assert store.progress("t1")["items"] == 5
    assert open_store("sqlite", path=str(tmp_path / "a.db")).pushed("t1").keys() == set(pairs(5)["id"])


def test_submit_idempotent_and_mapped(tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=2, overlap=1)
    ann1 = store.user("ann1")
    item = store.next_item("t1", ann1)
    assert item.prompt[-1]["content"] == "Hard boiled, please."
    aid = str(uuid.uuid4())
    ans, dup = store.submit("t1", ann1, item.item_id, aid, "A", "clear", ["helpfulness"])
    assert not dup and ans.label == item.a_is
    again, dup = store.submit("t1", ann1, item.item_id, aid, "A")
    assert dup and again.answer_id == aid
    # a second answer id for the same item and annotator is not a second answer either
    _, dup = store.submit("t1", ann1, item.item_id, str(uuid.uuid4()), "B")
    assert dup and len(store.answers("t1")) == 1
    with pytest.raises(AnswerRejected):
        store.submit("t1", ann1, item.item_id, str(uuid.uuid4()), "C")
    with pytest.raises(AnswerRejected):
        store.submit("t1", ann1, item.item_id, str(uuid.uuid4()), "A", criteria=["not-a-criterion"])
    outsider = {"id": 999, "name": "mallory"}
    with pytest.raises(AnswerRejected):
        store.submit("t1", outsider, item.item_id, str(uuid.uuid4()), "A")


def test_leases_respect_overlap(tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=1, annotators=("a", "b", "c"), overlap=2)
    a, b, c = (store.user(n) for n in "abc")
    assert store.next_item("t1", a) is not None
    assert store.next_item("t1", a).item_id == store.next_item("t1", a).item_id  # reload shows the same item
    assert store.next_item("t1", b) is not None
    assert store.next_item("t1", c) is None  # two annotators already hold the only item
    item = store.next_item("t1", a)
    store.submit("t1", a, item.item_id, str(uuid.uuid4()), "skip")  # a skip frees the slot
    assert store.next_item("t1", c) is not None
    assert store.next_item("t1", a) is None  # a answered (skipped) it already


def test_one_time_token_and_sessions(tmp_path):
    store = SQLiteStore(tmp_path / "a.db")
    token = store.add_user("boss", role="admin")
    assert store.login("boss", "guess") is None
    user = store.login("boss", token)
    assert user and user["must_change"] == 1
    assert store.login("boss", token) is None  # one time only
    with pytest.raises(ConfigError):
        store.set_password(user["id"], "short")
    store.set_password(user["id"], PASSWORD)
    assert store.login("boss", PASSWORD)["must_change"] == 0
    cookie, csrf = store.create_session(user["id"])
    assert store.session(cookie)["csrf"] == csrf
    assert cookie.encode() not in (tmp_path / "a.db").read_bytes()  # only the hash is stored
    store.end_session(cookie)
    assert store.session(cookie) is None
    with pytest.raises(ConfigError):
        store.add_user("boss")
    with pytest.raises(ConfigError):
        store.add_user("bad name!")
