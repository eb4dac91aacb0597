"""Issue 14's findings against the web app, each replayed from the input that broke it: login
lockout (persisted), password change, out-of-range item ids, security headers on every error,
repeated and unleased answers, and the trusted TLS proxy."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from annotation_ui.app import create_app
from curate.annotate import sqlite_throttle
from curate.annotate.sqlite_throttle import USER_FREE
from tests.helpers.annotate import PASSWORD, form_login, seeded_store

HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


@pytest.fixture()
def db(tmp_path):
    seeded_store(tmp_path / "a.db", n_items=3, annotators=("ann1", "ann2"), overlap=1)
    return tmp_path / "a.db"


def api_client(app, name: str = "ann1") -> tuple[TestClient, dict]:
    client = TestClient(app)
    assert form_login(client, name, PASSWORD).status_code == 200
    return client, {"X-CSRF-Token": client.get("/api/me").json()["csrf"]}


def has_headers(resp) -> bool:
    return all(h in resp.headers for h in HEADERS)


def test_login_locks_out_and_survives_restart(db):
    client = TestClient(create_app(db))
    codes = [form_login(client, "ann1", "wrong-guess").status_code for _ in range(40)]
    assert codes == [401] * USER_FREE + [429] * (40 - USER_FREE)
    r = form_login(client, "ann1", PASSWORD)  # the right password after 40 wrong ones
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and has_headers(r)
    assert "too many failed logins" in r.text
    restarted = TestClient(create_app(db))
    assert form_login(restarted, "ann1", PASSWORD).status_code == 429
    assert form_login(restarted, "ann2", PASSWORD).status_code == 200  # another user, another counter


def test_password_change_needs_old_password_and_ends_other_sessions(db):
    app = create_app(db)
    here, h = api_client(app)
    elsewhere, _ = api_client(app)
    csrf = h["X-CSRF-Token"]
    new = {"new": PASSWORD + "!", "again": PASSWORD + "!", "csrf": csrf}
    assert 'name="old"' in here.get("/password").text
    r = here.post("/password", data=new)  # the reported failure: accepted without the old password
    assert r.status_code == 400 and "current password is wrong" in r.text
    assert here.post("/password", data={**new, "old": "not-my-password"}).status_code == 400
    r = here.post("/password", data={**new, "old": PASSWORD})
    assert r.status_code == 200 and r.url.path == "/tasks"
    assert here.get("/api/me").status_code == 200
    assert elsewhere.get("/api/me").status_code == 401  # the other session was revoked
    assert form_login(TestClient(app), "ann1", PASSWORD + "!").status_code == 200


def test_item_id_out_of_range_is_422_with_headers(db):
    app = create_app(db)
    client, h = api_client(app)
    client.get("/api/tasks/t1/next")
    body = {"item_id": 2**63, "answer_id": str(uuid.uuid4()), "choice": "A"}  # was a 500 without headers
    r = client.post("/api/tasks/t1/answers", json=body, headers=h)
    assert r.status_code == 422 and has_headers(r)
    form = {**body, "item_id": str(2**64), "csrf": h["X-CSRF-Token"]}
    r = client.post("/tasks/t1/answers", data=form)
    assert r.status_code == 422 and has_headers(r)
    assert app.state.store.answers("t1") == []


def test_every_error_carries_security_headers(db, monkeypatch):
    app = create_app(db)
    client, _ = api_client(app)
    assert client.get("/no-such-page").status_code == 404
    assert has_headers(client.get("/no-such-page"))
    r = client.get("/logout")
    assert r.status_code == 405 and has_headers(r)
    r = client.get("/static/missing.js")
    assert r.status_code == 404 and has_headers(r)

    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.store, "next_item", broken)
    r = TestClient(app, raise_server_exceptions=False, cookies=client.cookies).get("/api/tasks/t1/next")
    assert r.status_code == 500 and has_headers(r) and "disk on fire" not in r.text


def test_second_answer_for_an_item_is_409_with_the_stored_one(db):
    app = create_app(db)
    client, h = api_client(app)
    item = client.get("/api/tasks/t1/next").json()["item"]
    first = {"item_id": item["item_id"], "answer_id": str(uuid.uuid4()), "choice": "A"}
    assert client.post("/api/tasks/t1/answers", json=first, headers=h).json()["duplicate"] is False
    assert client.post("/api/tasks/t1/answers", json=first, headers=h).json()["duplicate"] is True  # a retry
    # the reported failure: acknowledged "ok" with the old id while the new choice was dropped
    r = client.post("/api/tasks/t1/answers", json={**first, "answer_id": str(uuid.uuid4()), "choice": "B"},
                    headers=h)
    assert r.status_code == 409
    assert r.json()["detail"]["stored"] == {**{k: first[k] for k in ("answer_id", "choice")},
                                            "created": r.json()["detail"]["stored"]["created"]}
    assert [a.choice for a in app.state.store.answers("t1")] == ["A"]


def test_answer_for_an_item_not_leased_is_409(db):
    app = create_app(db)
    client, h = api_client(app)
    other, _ = api_client(app, "ann2")
    theirs = other.get("/api/tasks/t1/next").json()["item"]["item_id"]
    for item_id in (theirs, theirs + 1):  # held by ann2; never handed out
        body = {"item_id": item_id, "answer_id": str(uuid.uuid4()), "choice": "A"}
        r = client.post("/api/tasks/t1/answers", json=body, headers=h)
        assert r.status_code == 409 and "not handed to you" in r.json()["detail"]["error"]
    assert app.state.store.answers("t1") == []


@pytest.mark.parametrize("peer,trusted", [("10.0.0.1", True), ("10.0.0.9", False)])
def test_forwarded_proto_only_from_trusted_proxy(db, peer, trusted):
    app = create_app(db, trusted_proxies=["10.0.0.0/29"])
    r = TestClient(app, client=(peer, 4000)).get("/login", headers={"X-Forwarded-Proto": "https"})
    assert ("secure" in r.headers["set-cookie"].lower()) == trusted
    assert ("strict-transport-security" in r.headers) == trusted


@pytest.mark.parametrize("peer,trusted", [("10.0.0.1", True), ("10.0.0.9", False)])
def test_forwarded_for_only_from_trusted_proxy(db, peer, trusted, monkeypatch):
    monkeypatch.setattr(sqlite_throttle, "ADDR_FREE", 3)
    client = TestClient(create_app(db, trusted_proxies=["10.0.0.0/29"]), client=(peer, 4000))
    # a spray from one client that names a new address each time: only a trusted proxy is believed
    for i in range(5):
        client.headers["X-Forwarded-For"] = f"192.0.2.{i}"
        form_login(client, f"user{i}", "guess")
    assert (form_login(client, "ann1", PASSWORD).status_code == 200) == trusted


def test_secure_flag_and_plain_http():
    app = create_app(":memory:", secure_cookies=True)
    r = TestClient(app).get("/login")
    assert "secure" in r.headers["set-cookie"].lower() and r.headers["strict-transport-security"]
    r = TestClient(create_app(":memory:")).get("/login")
    assert "secure" not in r.headers["set-cookie"].lower() and "strict-transport-security" not in r.headers


def test_serve_passes_trusted_proxies(tmp_path, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from curate.cli.main import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    r = CliRunner().invoke(cli, ["annotate", "serve", "--db", str(tmp_path / "a.db"),
                                 "--trusted-proxy", "10.0.0.1", "--trusted-proxy", "fd00::/8"])
    assert r.exit_code == 0, r.output
    assert [str(n) for n in seen["app"].state.trusted_proxies] == ["10.0.0.1/32", "fd00::/8"]
    assert seen["proxy_headers"] is False  # uvicorn must not rewrite the client address on its own
    r = CliRunner().invoke(cli, ["annotate", "serve", "--db", str(tmp_path / "a.db"), "--trusted-proxy", "nginx"])
    assert r.exit_code != 0 and "not an IP address" in r.output
