"""Users, one-time tokens, sessions and task membership of the SQLite annotation store.

A mixin of ``SQLiteStore``: kept apart so the task/answer logic reads on its own. There are no
default credentials: ``add_user`` returns a one-time token (printed once by the CLI or shown once
to the admin) that logs the user in a single time and forces them to choose a password.
"""

from __future__ import annotations

import time
from typing import Any

from curate.annotate.auth import check_password, hash_password, hash_token, new_token, same
from curate.errors import ConfigError

ROLES = ("admin", "annotator")
SESSION_SECONDS = 12 * 3600
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


def check_name(name: str) -> str:
    if not (1 <= len(name) <= 64) or not set(name) <= NAME_CHARS:
        raise ConfigError(f"user name {name!r} is invalid: use 1-64 letters, digits, '_', '.', '-', '@'")
    return name


class UsersMixin:
    # _tx(), _db() and _task_id() come from SQLiteStore, charge_login()/refund_login() from ThrottleMixin

    # ------------------------------------------------------------ users
    def add_user(self, name: str, role: str = "annotator", password: str | None = None) -> str | None:
        """Create a user. Without a password, return a one-time login token (the only copy)."""
        check_name(name)
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is invalid; expected one of {ROLES}")
        token = None if password else new_token()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise ConfigError(f"user '{name}' already exists; use `curate annotate reset-token {name}`")
            db.execute(
                "INSERT INTO users(name, role, pw_hash, token_hash, must_change, created) VALUES (?,?,?,?,?,?)",
                (name, role, hash_password(password) if password else None,
                 hash_token(token) if token else None, 1 if token else 0, time.time()))
        return token

    def reset_token(self, name: str) -> str:
        """Issue a new one-time token (the old password and sessions stop working)."""
        token = new_token()
        with self._tx() as db:
            cur = db.execute("UPDATE users SET pw_hash=NULL, token_hash=?, must_change=1 WHERE name=?",
                             (hash_token(token), name))
            if not cur.rowcount:
                raise ConfigError(f"no user '{name}'; list users with `curate annotate users`")
            db.execute("DELETE FROM sessions WHERE user_id=(SELECT id FROM users WHERE name=?)", (name,))
        return token

    def users(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT id, name, role, must_change FROM users ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def user(self, name: str) -> dict[str, Any] | None:
        r = self._db().execute("SELECT id, name, role, must_change FROM users WHERE name=?", (name,)).fetchone()
        return dict(r) if r else None

    def login(self, name: str, secret: str, client: str | None = None) -> dict[str, Any] | None:
        """The user if `secret` is their password or their unused one-time token (which it consumes).

        Every attempt is first charged to the user name and the `client` address (LoginThrottled while
        either is locked); a success is refunded. Known and unknown names cost one KDF run alike.
        """
        self.charge_login(name, client)
        user = self._check_secret(name, secret)
        if user is not None:
            self.refund_login(name, client)
        return user

    def _check_secret(self, name: str, secret: str) -> dict[str, Any] | None:
        with self._tx() as db:
            r = db.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
            if r is not None and same(r["token_hash"], hash_token(secret)):
                db.execute("UPDATE users SET token_hash=NULL WHERE id=?", (r["id"],))
                return {"id": r["id"], "name": r["name"], "role": r["role"], "must_change": 1}
        # outside the write transaction (the KDF takes ~50 ms); a missing user or hash is checked
        # against a dummy hash so the time taken does not tell whether the name exists
        if check_password(secret, r["pw_hash"] if r is not None else None):
            return {"id": r["id"], "name": r["name"], "role": r["role"], "must_change": r["must_change"]}
        return None

    def set_password(self, user_id: int, password: str, keep_session: str | None = None) -> None:
        """Set a user's password and end their sessions, except the one whose cookie is `keep_session`."""
        if len(password) < 10:
            raise ConfigError("a password needs at least 10 characters")
        with self._tx() as db:
            db.execute("UPDATE users SET pw_hash=?, token_hash=NULL, must_change=0 WHERE id=?",
                       (hash_password(password), user_id))
            db.execute("DELETE FROM sessions WHERE user_id=? AND token_hash!=?",
                       (user_id, hash_token(keep_session) if keep_session else ""))

    # ------------------------------------------------------------ sessions
    def create_session(self, user_id: int) -> tuple[str, str]:
        """A new session: (cookie token, CSRF token). Only the cookie token's hash is stored."""
        token, csrf = new_token(), new_token()
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            db.execute("INSERT INTO sessions(token_hash, user_id, csrf, expires) VALUES (?,?,?,?)",
                       (hash_token(token), user_id, csrf, now + SESSION_SECONDS))
        return token, csrf

    def session(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return None
        r = self._db().execute(
            "SELECT u.id, u.name, u.role, u.must_change, s.csrf FROM sessions s JOIN users u ON u.id=s.user_id "
            "WHERE s.token_hash=? AND s.expires>?", (hash_token(token), time.time())).fetchone()
        return dict(r) if r else None

    def end_session(self, token: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE token_hash=?", (hash_token(token),))

    # ------------------------------------------------------------ membership
    def assign(self, task: str, names: list[str]) -> None:
        """Give annotators access to a task (only members can see or answer its items)."""
        with self._tx() as db:
            tid = self._task_id(db, task)
            for name in names:
                r = db.execute("SELECT id FROM users WHERE name=?", (name,)).fetchone()
                if r is None:
                    raise ConfigError(f"no user '{name}'; add it with `curate annotate add-user {name}`")
                db.execute("INSERT OR IGNORE INTO members(task_id, user_id) VALUES (?,?)", (tid, r["id"]))

    def members(self, task: str) -> list[str]:
        rows = self._db().execute(
            "SELECT u.name FROM members m JOIN users u ON u.id=m.user_id JOIN tasks t ON t.id=m.task_id "
            "WHERE t.name=? ORDER BY u.name", (task,)).fetchall()
        return [r["name"] for r in rows]

    def is_member(self, task: str, user_id: int) -> bool:
        return self._db().execute(
            "SELECT 1 FROM members m JOIN tasks t ON t.id=m.task_id WHERE t.name=? AND m.user_id=?",
            (task, user_id)).fetchone() is not None
