"""App factory, login/logout/password pages and the annotator's pages and JSON API."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterable
from pathlib import Path

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from annotation_ui.admin import add_admin_routes
from annotation_ui.pages import HERE, SECURITY_HEADERS, page
from annotation_ui.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    PasswordChangeRequired,
    check_csrf,
    client_addr,
    cookie_args,
    current_user,
    is_secure,
    member_of,
    parse_proxies,
    session_user,
    store_of,
)
from curate.annotate.auth import same
from curate.annotate.sqlite_store import SQLiteStore
from curate.errors import AnswerConflict, AnswerRejected, ConfigError, LoginThrottled

HSTS = "max-age=31536000"
MAX_ITEM_ID = 2**63 - 1  # SQLite's largest integer; a larger id would overflow in the driver


def create_app(db_path: str | Path = "annotate.db", secure_cookies: bool = False,
               trusted_proxies: Iterable[str] = ()) -> FastAPI:
    """The web app over the SQLite store at `db_path`.

    Set `secure_cookies` when every request arrives over HTTPS; otherwise list the TLS proxies in
    `trusted_proxies` (addresses or networks) and their X-Forwarded-Proto/-For headers are believed.
    """
    app = FastAPI(title="curate annotation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = SQLiteStore(db_path)
    app.state.secure_cookies = secure_cookies
    app.state.trusted_proxies = parse_proxies(trusted_proxies)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        _add_headers(request, response)
        return response

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Starlette sends this response from outside the middleware above, so it adds the headers itself
        response = JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)
        _add_headers(request, response)
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
    """For ``uvicorn --factory --no-proxy-headers annotation_ui.app:app_from_env``: the store path from
    $CURATE_ANNOTATE_DB, $CURATE_SECURE_COOKIES=1, $CURATE_TRUSTED_PROXIES (comma-separated)."""
    proxies = [p for p in os.environ.get("CURATE_TRUSTED_PROXIES", "").split(",") if p.strip()]
    return create_app(os.environ.get("CURATE_ANNOTATE_DB", "annotate.db"),
                      secure_cookies=os.environ.get("CURATE_SECURE_COOKIES") == "1", trusted_proxies=proxies)


def _add_headers(request: Request, response: Response) -> None:
    response.headers.update(SECURITY_HEADERS)
    if is_secure(request):
        response.headers["Strict-Transport-Security"] = HSTS


def _throttled(request: Request, exc: LoginThrottled, name: str, **ctx) -> HTMLResponse:
    """The form page again with 429 and Retry-After: too many failed logins for the user or address."""
    resp = page(request, name, status=429, error=str(exc), **ctx)
    resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int = Field(ge=1, le=MAX_ITEM_ID)
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
        try:
            user = store.login(username, password, client=client_addr(request))
        except LoginThrottled as e:
            return _throttled(request, e, "login.html", csrf=csrf)
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
                 old: str = Form("", max_length=200), user: dict = Depends(session_user)):
        """Change the password: the current one is needed unless this session came from a one-time token;
        the user's other sessions end."""
        store = store_of(request)
        if new != again:
            return page(request, "password.html", status=400, user=user, error="the two passwords differ")
        if not user["must_change"]:
            try:  # checked like a login, so a stolen session cannot brute-force the password either
                known = store.login(user["name"], old, client=client_addr(request)) is not None
            except LoginThrottled as e:
                return _throttled(request, e, "password.html", user=user)
            if not known:
                return page(request, "password.html", status=400, user=user, error="the current password is wrong")
        try:
            store.set_password(user["id"], new, keep_session=request.cookies.get(SESSION_COOKIE))
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
    except AnswerConflict as e:
        stored = None if e.stored is None else {"answer_id": e.stored.answer_id, "choice": e.stored.choice,
                                                "created": e.stored.created}
        raise HTTPException(409, {"error": str(e), "stored": stored}) from e
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
