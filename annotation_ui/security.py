"""Authentication, authorisation and CSRF for the annotation app.

* Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the store keeps only its hash
  (server-side sessions, so logging out or resetting a user really ends them, and they survive a
  server restart).
* CSRF: every session has its own random token; every POST must carry it as the ``csrf`` form
  field or the ``X-CSRF-Token`` header. The login form, which has no session yet, uses a
  double-submit cookie instead.
* Every route except ``/login`` and ``/static`` requires a session; admin routes require the admin
  role; task routes require membership of the task (checked in ``member_of``).
* Logins are throttled per user name and client address (``curate/annotate/sqlite_throttle.py``).
* Behind a TLS-terminating proxy: ``X-Forwarded-Proto`` and ``X-Forwarded-For`` are believed only
  from the addresses configured as trusted proxies; a request that arrived over HTTPS (directly or
  via such a proxy) gets ``Secure`` cookies and HSTS. Run uvicorn with ``--no-proxy-headers`` so it
  does not rewrite the client address itself (by default it trusts 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fastapi import Depends, HTTPException, Request

from curate.annotate.auth import same
from curate.annotate.sqlite_store import SQLiteStore
from curate.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SESSION_COOKIE = "curate_session"
LOGIN_COOKIE = "curate_login_csrf"


class LoginRequired(Exception):
    """No valid session: HTML routes redirect to /login, API routes answer 401."""


class PasswordChangeRequired(Exception):
    """Logged in with a one-time token: the only page open is /password."""


def store_of(request: Request) -> SQLiteStore:
    return request.app.state.store


def parse_proxies(values: Iterable[str]) -> tuple[Network, ...]:
    """Trusted proxy addresses or networks ("10.0.0.5", "10.0.0.0/8", "::1") as ip networks."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError as e:
            raise ConfigError(f"trusted proxy {v!r} is not an IP address or network (e.g. 10.0.0.5 or "
                              "10.0.0.0/8)") from e
    return tuple(out)


def _from_proxy(request: Request) -> bool:
    """Whether the connecting peer is one of the configured trusted proxies."""
    try:
        peer = ipaddress.ip_address(request.client.host) if request.client else None
    except ValueError:
        return False
    return peer is not None and any(peer in net for net in request.app.state.trusted_proxies)


def _last(header: str | None) -> str:
    # the last entry is the one our (trusted) proxy wrote; earlier ones came from the client
    return header.split(",")[-1].strip() if header else ""


def client_addr(request: Request) -> str | None:
    """The client's address: the peer, or what a trusted proxy says in X-Forwarded-For."""
    forwarded = _last(request.headers.get("x-forwarded-for")) if _from_proxy(request) else ""
    return forwarded or (request.client.host if request.client else None)


def is_secure(request: Request) -> bool:
    """HTTPS (directly, or a trusted proxy's X-Forwarded-Proto), or the app was told it is behind HTTPS."""
    if request.app.state.secure_cookies or request.url.scheme == "https":
        return True
    return _from_proxy(request) and _last(request.headers.get("x-forwarded-proto")).lower() == "https"


def cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": is_secure(request), "path": "/"}


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
