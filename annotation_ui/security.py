"""Authentication, authorisation and CSRF for the annotation app.

* Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the store keeps only its hash
  (server-side sessions, so logging out or resetting a user really ends them, and they survive a
  server restart).
* CSRF: every session has its own random token; every POST must carry it as the ``csrf`` form
  field or the ``X-CSRF-Token`` header. The login form, which has no session yet, uses a
  double-submit cookie instead.
* Every route except ``/login`` and ``/static`` requires a session; admin routes require the admin
  role; task routes require membership of the task (checked in ``member_of``).
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from curate.annotate.auth import same
from curate.annotate.sqlite_store import SQLiteStore

SESSION_COOKIE = "curate_session"
LOGIN_COOKIE = "curate_login_csrf"


class LoginRequired(Exception):
    """No valid session: HTML routes redirect to /login, API routes answer 401."""


class PasswordChangeRequired(Exception):
    """Logged in with a one-time token: the only page open is /password."""


def store_of(request: Request) -> SQLiteStore:
    return request.app.state.store


def cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.app.state.secure_cookies, "path": "/"}


def session_user(request: Request) -> dict:
    """The logged-in user (with their CSRF token), or LoginRequired."""
    user = store_of(request).session(request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise LoginRequired()
    return user


def current_user(user: dict = Depends(session_user)) -> dict:
    if user["must_change"]:
        raise PasswordChangeRequired()
    return user


def admin_user(user: dict = Depends(current_user)) -> dict:
    if user["role"] != "admin":
        raise HTTPException(403, "this page is for admins")
    return user


async def check_csrf(request: Request, user: dict = Depends(session_user)) -> None:
    """POST routes depend on this: the session's CSRF token must come back with the request."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and "form" in request.headers.get("content-type", ""):
        sent = (await request.form()).get("csrf")
    if not same(sent, user["csrf"]):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def member_of(request: Request, task: str, user: dict) -> dict:
    """The task's settings if the user is assigned to it; 404 otherwise (no hint the task exists)."""
    store = store_of(request)
    if task not in store.tasks(user["id"]):
        raise HTTPException(404, "no such task for you")
    return store.task(task)
