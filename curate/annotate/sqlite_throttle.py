"""Login throttling for the SQLite annotation store: failed logins counted per user name and per client address.

A mixin of ``SQLiteStore``. The counters live in the store's ``login_throttle`` table, so restarting
the server does not reset them. Every attempt is *charged* before the password is checked, so many
parallel guesses cannot all slip past the check, and a successful one is refunded: the user's
counter is cleared, the address's decremented (a success must not clear the address, or an attacker
with one account could reset it between guesses at other accounts). After ``free`` failures a key is
locked for ``BASE_DELAY * 2**(failures - free)`` seconds, at most ``MAX_DELAY``; attempts during a
lock are refused without checking the password and are not counted. A key untouched for
``FORGET_SECONDS`` starts from zero again. Unknown user names are charged like known ones, so a
lockout does not tell which names exist.
"""

from __future__ import annotations

import time

from curate.errors import LoginThrottled

USER_FREE = 5  # failures per user name before it is locked
# per client address: higher, because a whole office may share one address, and above the 40 worker
# threads of the server, so logins in flight at once (charged until they succeed) cannot lock it alone
ADDR_FREE = 50
BASE_DELAY = 2.0
MAX_DELAY = 900.0
FORGET_SECONDS = 3600.0


def lock_seconds(failures: int, free: int) -> float:
    """How long a key with this many failures stays locked after its last one."""
    if failures < free:
        return 0.0
    return min(BASE_DELAY * 2.0 ** min(failures - free, 30), MAX_DELAY)


def _keys(name: str, client: str | None) -> list[tuple[str, int]]:
    keys = [("user:" + name, USER_FREE)]
    if client:
        keys.append(("addr:" + client, ADDR_FREE))
    return keys


class ThrottleMixin:
    # _tx() comes from SQLiteStore; tests replace `clock` to move time without sleeping
    clock = staticmethod(time.time)

    def charge_login(self, name: str, client: str | None = None) -> None:
        """Count one login attempt against `name` and `client`; LoginThrottled (nothing counted) if locked."""
        now = self.clock()
        keys = _keys(name, client)
        with self._tx() as db:
            db.execute("DELETE FROM login_throttle WHERE last < ?", (now - FORGET_SECONDS,))
            wait = 0.0
            for key, free in keys:
                r = db.execute("SELECT failures, last FROM login_throttle WHERE throttle_key=?", (key,)).fetchone()
                if r is not None:
                    wait = max(wait, r["last"] + lock_seconds(r["failures"], free) - now)
            if wait > 0:
                raise LoginThrottled(wait)
            for key, _ in keys:
                db.execute("INSERT INTO login_throttle(throttle_key, failures, last) VALUES (?, 1, ?) "
                           "ON CONFLICT(throttle_key) DO UPDATE SET failures=failures+1, last=excluded.last",
                           (key, now))

    def refund_login(self, name: str, client: str | None = None) -> None:
        """A charged attempt succeeded: clear the user's counter, take one failure off the address's."""
        with self._tx() as db:
            db.execute("DELETE FROM login_throttle WHERE throttle_key=?", ("user:" + name,))
            if client:
                db.execute("UPDATE login_throttle SET failures=failures-1 WHERE throttle_key=? AND failures>0",
                           ("addr:" + client,))

    def login_failures(self, name: str) -> int:
        """Failed attempts counted against a user name now (for the admin and the tests)."""
        r = self._db().execute("SELECT failures FROM login_throttle WHERE throttle_key=?",
                               ("user:" + name,)).fetchone()
        return r["failures"] if r else 0
