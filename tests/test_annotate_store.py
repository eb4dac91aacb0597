"""The SQLite annotation store: idempotent push and submit, A/B mapping, leases, one-time tokens."""

from __future__ import annotations

import uuid

import pytest

from curate.annotate import auth
from curate.annotate.sqlite_store import SQLiteStore
from curate.annotate.sqlite_throttle import ADDR_FREE, BASE_DELAY, USER_FREE
from curate.annotate.store import a_is_for, label_of, open_store
from curate.errors import AnswerConflict, AnswerRejected, ConfigError, LoginThrottled
from tests.helpers.annotate import PASSWORD, pairs, seeded_store


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
    # a second answer id for the same item and annotator is refused with the stored answer (answers
    # are final), and so is another choice under the first id
    with pytest.raises(AnswerConflict) as e:
        store.submit("t1", ann1, item.item_id, str(uuid.uuid4()), "B")
    assert e.value.stored.answer_id == aid and e.value.stored.choice == "A"
    with pytest.raises(AnswerConflict):
        store.submit("t1", ann1, item.item_id, aid, "B")
    assert [a.choice for a in store.answers("t1")] == ["A"]
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


class Clock:
    """A clock the throttle reads instead of time.time(), moved by hand."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_login_throttle_per_user_survives_restart(tmp_path):
    # the reported failure: 40 wrong passwords, then the right one was accepted
    store = seeded_store(tmp_path / "a.db", annotators=("ann1",))
    store.clock = clock = Clock()
    results = []
    for _ in range(40):
        try:
            results.append(store.login("ann1", "wrong-guess", client="10.0.0.7"))
        except LoginThrottled as e:
            results.append(e.retry_after)
    assert results[:USER_FREE] == [None] * USER_FREE and all(r == BASE_DELAY for r in results[USER_FREE:])
    with pytest.raises(LoginThrottled):
        store.login("ann1", PASSWORD, client="10.0.0.8")  # the right password, another address: still locked
    restarted = SQLiteStore(tmp_path / "a.db")
    restarted.clock = clock
    with pytest.raises(LoginThrottled):
        restarted.login("ann1", PASSWORD)
    assert restarted.login_failures("ann1") == USER_FREE  # refused attempts are not counted
    clock.now += BASE_DELAY + 0.1
    assert restarted.login("ann1", "wrong-again") is None  # the 6th failure doubles the lock
    clock.now += BASE_DELAY + 0.1
    with pytest.raises(LoginThrottled) as e:
        restarted.login("ann1", PASSWORD)
    assert e.value.retry_after == 2  # 4 s lock, 2.1 s of it gone
    clock.now += 2
    assert restarted.login("ann1", PASSWORD) is not None
    assert restarted.login_failures("ann1") == 0  # a success resets the user's counter
    # unknown names are throttled the same way, so a lockout does not reveal which names exist
    for _ in range(USER_FREE):
        assert restarted.login("nobody", "x") is None
    with pytest.raises(LoginThrottled):
        restarted.login("nobody", "x")


def test_login_throttle_per_address(tmp_path):
    store = seeded_store(tmp_path / "a.db", annotators=("ann1",))
    store.clock = Clock()
    for i in range(ADDR_FREE):  # a spray: one guess at each of many names, from one address
        assert store.login(f"user{i}", "guess", client="10.0.0.7") is None
    with pytest.raises(LoginThrottled):
        store.login("ann1", PASSWORD, client="10.0.0.7")
    assert store.login("ann1", PASSWORD, client="10.0.0.8") is not None  # other addresses are not affected


def test_success_refunds_address_but_does_not_clear_it(tmp_path):
    store = seeded_store(tmp_path / "a.db", annotators=("ann1",))
    store.clock = Clock()
    for i in range(ADDR_FREE - 1):
        store.login(f"user{i}", "guess", client="10.0.0.7")
    for _ in range(3):  # an attacker's own account logging in between guesses does not reset the address
        assert store.login("ann1", PASSWORD, client="10.0.0.7") is not None
    assert store.login("user0", "guess", client="10.0.0.7") is None
    with pytest.raises(LoginThrottled):
        store.login("user1", "guess", client="10.0.0.7")


def test_login_runs_the_kdf_once_whether_the_user_exists(tmp_path, monkeypatch):
    # the reported failure: an unknown user answered in 6 ms, a known one in 98 ms (no KDF for unknown names)
    store = seeded_store(tmp_path / "a.db", annotators=("ann1",))
    store.add_user("fresh")  # awaiting first login: has a one-time token but no password hash
    calls = []
    real = auth._kdf
    monkeypatch.setattr(auth, "_kdf", lambda pw, salt: calls.append(pw) or real(pw, salt))
    for name in ("ann1", "nobody", "fresh"):
        calls.clear()
        assert store.login(name, "wrong-password") is None
        assert calls == ["wrong-password"], name


def test_password_change_ends_other_sessions(tmp_path):
    store = seeded_store(tmp_path / "a.db", annotators=("ann1",))
    uid = store.user("ann1")["id"]
    here, _ = store.create_session(uid)
    elsewhere, _ = store.create_session(uid)
    store.set_password(uid, PASSWORD + "2", keep_session=here)
    assert store.session(here) is not None and store.session(elsewhere) is None
    store.set_password(uid, PASSWORD + "3")
    assert store.session(here) is None


def test_answer_needs_a_lease(tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=3, annotators=("a", "b"), overlap=1)
    a, b = store.user("a"), store.user("b")
    held = store.next_item("t1", a)
    # the reported failure: an item never handed to the annotator was accepted
    with pytest.raises(AnswerConflict, match="not handed to you"):
        store.submit("t1", a, held.item_id + 1, str(uuid.uuid4()), "A")
    with pytest.raises(AnswerRejected, match="2\\*\\*63"):
        store.submit("t1", a, 2**63, str(uuid.uuid4()), "A")
    # an expired hold still counts while nobody else took the item ...
    store._db().execute("UPDATE leases SET expires=0")
    store.submit("t1", a, held.item_id, str(uuid.uuid4()), "A")
    # ... but not once another annotator holds it (overlap 1)
    second = store.next_item("t1", a)
    store._db().execute("UPDATE leases SET expires=0")
    assert store.next_item("t1", b).item_id == second.item_id
    with pytest.raises(AnswerConflict, match="expired"):
        store.submit("t1", a, second.item_id, str(uuid.uuid4()), "A")
    assert len(store.answers("t1")) == 1
