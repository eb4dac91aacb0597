"""Every route of the annotation app refuses requests without credentials, with another annotator's
credentials, and without the CSRF token; sessions are HttpOnly + SameSite cookies."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from annotation_ui.app import create_app
from tests.helpers.annotate import PASSWORD, csrf_in, form_login, seeded_store

PUBLIC = {("GET", "/login"), ("POST", "/login")}  # the login page itself; /static holds only CSS and JS
PARAMS = {"task": "t1", "name": "ann1"}


@pytest.fixture()
def app(tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=3, annotators=("ann1",))
    store.create_task("t2")
    store.add_user("ann2", password=PASSWORD)
    store.assign("t2", ["ann2"])
    store.add_user("boss", role="admin", password=PASSWORD)
    return create_app(tmp_path / "a.db")


def routes(app):
    for r in app.routes:
        if isinstance(r, APIRoute):
            for m in sorted(r.methods - {"HEAD"}):
                yield m, r.path, r.path.format(**{k: v for k, v in PARAMS.items() if "{" + k + "}" in r.path})


def refused(resp) -> bool:
    if resp.status_code in (301, 302, 303, 307):
        return resp.headers["location"].endswith("/login")
    return resp.status_code in (401, 403, 404)


def test_every_route_needs_credentials(app):
    client = TestClient(app)
    walked = 0
    for method, path, url in routes(app):
        if (method, path) in PUBLIC:
            continue
        resp = client.request(method, url, follow_redirects=False,
                              json={} if path.startswith("/api/") and method == "POST" else None)
        assert refused(resp), f"{method} {url} answered {resp.status_code} without credentials"
        walked += 1
    assert walked >= 15
    # a forged session cookie is no better than none
    client.cookies.set("curate_session", "forged")
    assert refused(client.get("/tasks/t1", follow_redirects=False))


def test_other_annotator_and_admin_routes_refused(app):
    client = TestClient(app)
    assert form_login(client, "ann2", PASSWORD).status_code == 200
    csrf = client.get("/api/me").json()["csrf"]
    walked = 0
    for method, path, url in routes(app):
        if (method, path) in PUBLIC or not ("{task}" in path or path.startswith("/admin")):
            continue  # the rest (/tasks, /password, /logout, /api/me) only ever show ann2's own data
        body = {"item_id": 1, "answer_id": "0123456789abcdef", "choice": "A"} if path.startswith("/api/") else None
        form = None if body else {"csrf": csrf, "item_id": "1", "answer_id": "0123456789abcdef", "choice": "A",
                                  "name": "ann2", "overlap": "1"}
        resp = client.request(method, url, follow_redirects=False, json=body,
                              data=form if method == "POST" else None, headers={"X-CSRF-Token": csrf})
        assert refused(resp), f"{method} {url} answered {resp.status_code} to another annotator"
        walked += 1
    assert walked >= 10
    mine = client.get("/tasks")
    assert "t2" in mine.text and "/tasks/t1" not in mine.text
    assert app.state.store.answers("t1") == []


def test_csrf_and_cookie_flags(app):
    client = TestClient(app)
    r = client.get("/login")
    # a login post without the login form's token is refused
    assert client.post("/login", data={"username": "ann1", "password": PASSWORD, "csrf": "x"}).status_code == 403
    r = client.post("/login", data={"username": "ann1", "password": PASSWORD, "csrf": csrf_in(r.text)},
                    follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/tasks/t1")
    form = {"item_id": "1", "answer_id": "0123456789abcdef", "choice": "A"}
    assert client.post("/tasks/t1/answers", data=form).status_code == 403
    assert client.post("/tasks/t1/answers", data={**form, "csrf": "wrong"}).status_code == 403
    assert app.state.store.answers("t1") == []
    ok = client.post("/tasks/t1/answers", data={**form, "csrf": csrf_in(page.text)})
    assert ok.status_code == 200 and len(app.state.store.answers("t1")) == 1
    assert page.headers["x-frame-options"] == "DENY" and "default-src 'self'" in page.headers["content-security-policy"]


def test_input_validated(app):
    client = TestClient(app)
    form_login(client, "ann1", PASSWORD)
    csrf = client.get("/api/me").json()["csrf"]
    h = {"X-CSRF-Token": csrf}
    bad = [{"item_id": 1, "answer_id": "short", "choice": "A"},
           {"item_id": 1, "answer_id": "0123456789abcdef", "choice": "C"},
           {"item_id": 1, "answer_id": "0123456789abcdef", "choice": "A", "extra": 1},
           {"item_id": 999, "answer_id": "0123456789abcdef", "choice": "A"},
           {"item_id": 1, "answer_id": "0123456789abcdef", "choice": "A", "rationale": "x" * 5001}]
    for body in bad:
        assert client.post("/api/tasks/t1/answers", json=body, headers=h).status_code == 422, body
    assert app.state.store.answers("t1") == []


def test_one_time_token_forces_password(app):
    token = app.state.store.reset_token("ann1")
    client = TestClient(app)
    r = form_login(client, "ann1", token)
    assert r.url.path == "/password"
    assert client.get("/tasks/t1", follow_redirects=False).headers["location"] == "/password"
    assert client.get("/api/tasks/t1/next").status_code == 403
    r = client.post("/password", data={"new": PASSWORD + "!", "again": PASSWORD + "!", "csrf": csrf_in(r.text)})
    assert r.url.path == "/tasks"
    assert form_login(TestClient(app), "ann1", token).status_code == 401  # the token worked once
