"""App factory, login/logout/password pages and the annotator's pages and JSON API."""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from annotation_ui.admin import add_admin_routes
from annotation_ui.pages import HERE, SECURITY_HEADERS, page
from annotation_ui.security import (LOGIN_COOKIE, SESSION_COOKIE, LoginRequired, PasswordChangeRequired,
                                    check_csrf, cookie_args, current_user, member_of, session_user, store_of)
from curate.annotate.auth import same
from curate.annotate.sqlite_store import AnswerRejected, SQLiteStore
from curate.errors import ConfigError

def create_app(db_path: str | Path = "annotate.db", secure_cookies: bool = False) -> FastAPI:
    """The web app over the SQLite store at `db_path`. Set `secure_cookies` behind HTTPS."""
    app = FastAPI(title="curate annotation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = SQLiteStore(db_path)
    app.state.secure_cookies = secure_cookies
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def to_password(request: Request, exc: PasswordChangeRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "choose a password first"}, status_code=403)
        return RedirectResponse("/password", status_code=303)

    # routes are added to the app itself (not via routers) so app.routes lists every one of them,
    # which the security test walks
    _routes(app)
    add_admin_routes(app)
    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory annotation_ui.app:app_from_env``: the store path from $CURATE_ANNOTATE_DB."""
    return create_app(os.environ.get("CURATE_ANNOTATE_DB", "annotate.db"),
                      secure_cookies=os.environ.get("CURATE_SECURE_COOKIES") == "1")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int
    answer_id: str = Field(min_length=8, max_length=64)
    choice: str
    rationale: str = Field("", max_length=5000)
    criteria: list[str] = Field(default_factory=list, max_length=50)


def _routes(r: FastAPI) -> None:
    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: str = ""):
        token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", csrf=token, error=error[:100])
        resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, **cookie_args(request))
        return resp

    @r.post("/login")
    def login(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=200),
              csrf: str = Form("")):
        if not same(csrf, request.cookies.get(LOGIN_COOKIE)):
            raise HTTPException(403, "login form expired; reload the login page")
        store = store_of(request)
        user = store.login(username, password)
        if user is None:
            return page(request, "login.html", status=401, csrf=csrf, error="wrong user name or password")
        token, _ = store.create_session(user["id"])
        resp = RedirectResponse("/password" if user["must_change"] else "/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, **cookie_args(request))
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    @r.post("/logout", dependencies=[Depends(check_csrf)])
    def logout(request: Request):
        store_of(request).end_session(request.cookies.get(SESSION_COOKIE, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @r.get("/password", response_class=HTMLResponse)
    def password_form(request: Request, user: dict = Depends(session_user)):
        return page(request, "password.html", user=user, error="")

    @r.post("/password", dependencies=[Depends(check_csrf)])
    def password(request: Request, new: str = Form(..., max_length=200), again: str = Form(..., max_length=200),
                 user: dict = Depends(session_user)):
        if new != again:
            return page(request, "password.html", status=400, user=user, error="the two passwords differ")
        try:
            store_of(request).set_password(user["id"], new)
        except ConfigError as e:
            return page(request, "password.html", status=400, user=user, error=str(e))
        return RedirectResponse("/", status_code=303)

    @r.get("/")
    def home(user: dict = Depends(current_user)):
        return RedirectResponse("/admin" if user["role"] == "admin" else "/tasks", status_code=303)

    @r.get("/tasks", response_class=HTMLResponse)
    def my_tasks(request: Request, user: dict = Depends(current_user)):
        store = store_of(request)
        rows = [{"name": t, **store.user_progress(t, user)} for t in store.tasks(user["id"])]
        return page(request, "tasks.html", user=user, tasks=rows)

    @r.get("/tasks/{task}", response_class=HTMLResponse)
    def annotate(request: Request, task: str, user: dict = Depends(current_user)):
        t = member_of(request, task, user)
        store = store_of(request)
        item = store.next_item(task, user)
        others = _others_view(store, task, item, user) if item and t["show_others"] else []
        return page(request, "annotate.html", user=user, task=t, item=item, others=others,
                    answer_id=str(uuid.uuid4()), progress=store.user_progress(task, user),
                    model_votes=_votes_view(item) if item and t["show_model_votes"] else [])

    @r.post("/tasks/{task}/answers", dependencies=[Depends(check_csrf)])
    async def answer_form(request: Request, task: str, user: dict = Depends(current_user)):
        form = await request.form()
        try:
            data = AnswerIn(item_id=form.get("item_id"), answer_id=form.get("answer_id"), choice=form.get("choice"),
                            rationale=form.get("rationale", ""), criteria=form.getlist("criteria"))
        except ValueError as e:
            raise HTTPException(422, f"invalid answer: {e}") from e
        _submit(request, task, user, data)
        return RedirectResponse(f"/tasks/{task}", status_code=303)

    @r.get("/api/me")
    def me(user: dict = Depends(current_user)):
        return {"name": user["name"], "role": user["role"], "csrf": user["csrf"]}

    @r.get("/api/tasks/{task}/next")
    def api_next(request: Request, task: str, user: dict = Depends(current_user)):
        member_of(request, task, user)
        item = store_of(request).next_item(task, user)
        if item is None:
            return {"item": None}
        return {"item": {"item_id": item.item_id, "prompt": item.prompt, "response_a": item.response_a,
                         "response_b": item.response_b}}

    @r.post("/api/tasks/{task}/answers", dependencies=[Depends(check_csrf)])
    def api_answer(request: Request, task: str, data: AnswerIn, user: dict = Depends(current_user)):
        return _submit(request, task, user, data)

    @r.get("/api/tasks/{task}/progress")
    def api_progress(request: Request, task: str, user: dict = Depends(current_user)):
        member_of(request, task, user)
        return store_of(request).user_progress(task, user)


def _submit(request: Request, task: str, user: dict, data: AnswerIn) -> dict:
    member_of(request, task, user)
    try:
        ans, dup = store_of(request).submit(task, user, data.item_id, data.answer_id, data.choice,
                                            data.rationale, data.criteria)
    except AnswerRejected as e:
        raise HTTPException(422, str(e)) from e
    return {"ok": True, "answer_id": ans.answer_id, "duplicate": dup}


def _votes_view(item) -> list[dict]:
    """Model votes restated for this annotator's A/B order (p_A = chance the model prefers A)."""
    return [{"voter": v["voter"], "p_a": v["p_chosen"] if item.a_is == "chosen" else 1 - v["p_chosen"]}
            for v in item.model_votes if v.get("p_chosen") is not None]


def _others_view(store: SQLiteStore, task: str, item, user: dict) -> list[str]:
    """Other annotators' answers restated in this annotator's A/B order (only if the admin allows)."""
    flip = {"chosen": "A" if item.a_is == "chosen" else "B", "rejected": "B" if item.a_is == "chosen" else "A",
            "tie": "tie"}
    return [flip[a.label] for a in store.answers(task)
            if a.pair_id == item.pair_id and a.annotator != user["name"] and a.label in flip]
