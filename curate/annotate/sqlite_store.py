"""The built-in annotation store: one SQLite file in WAL mode, safe for one server and many CLIs.

WAL lets the web server keep answering while ``curate annotate pull`` reads; ``busy_timeout``
makes concurrent writers wait instead of failing. Every write is one short ``BEGIN IMMEDIATE``
transaction, so a killed server loses at most the answer it had not yet acknowledged.
The SQL is plain (no SQLite-only functions in queries) to leave room for a PostgreSQL store.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.annotate.sqlite_throttle import ThrottleMixin
from curate.annotate.sqlite_users import NAME_CHARS, UsersMixin
from curate.annotate.store import CHOICES, AnnotationStore, Answer, Item, a_is_for, label_of, model_votes_of
from curate.errors import AnswerConflict, AnswerRejected, BackendError, ConfigError
from curate.registry import STORES
from curate.schema import dumps

LEASE_SECONDS = 600  # an item handed to an annotator is held for them this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, guidelines TEXT NOT NULL,
  overlap INTEGER NOT NULL, criteria TEXT NOT NULL, seed TEXT NOT NULL, show_model_votes INTEGER NOT NULL,
  show_others INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id),
  pair_id TEXT NOT NULL, prompt TEXT NOT NULL, chosen TEXT NOT NULL, rejected TEXT NOT NULL,
  model_votes TEXT NOT NULL, UNIQUE(task_id, pair_id));
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, role TEXT NOT NULL,
  pw_hash TEXT, token_hash TEXT, must_change INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS members (task_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  PRIMARY KEY(task_id, user_id));
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL, csrf TEXT NOT NULL,
  expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS leases (item_id INTEGER NOT NULL, user_id INTEGER NOT NULL, expires REAL NOT NULL,
  PRIMARY KEY(item_id, user_id));
CREATE TABLE IF NOT EXISTS answers (answer_id TEXT PRIMARY KEY, item_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  choice TEXT NOT NULL, a_is TEXT NOT NULL, label TEXT NOT NULL, rationale TEXT NOT NULL, criteria TEXT NOT NULL,
  created REAL NOT NULL, UNIQUE(item_id, user_id));
CREATE TABLE IF NOT EXISTS login_throttle (throttle_key TEXT PRIMARY KEY, failures INTEGER NOT NULL,
  last REAL NOT NULL);
CREATE INDEX IF NOT EXISTS answers_item ON answers(item_id);
CREATE INDEX IF NOT EXISTS leases_item ON leases(item_id);
"""


class SQLiteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field("annotate.db", description="the database file (:memory: for a throwaway store)")


@STORES.register("sqlite")
class SQLiteStore(UsersMixin, ThrottleMixin, AnnotationStore):
    """Annotation store in one SQLite file (default ``annotate.db``); serves annotation_ui/."""

    name = "sqlite"
    Options = SQLiteOptions

    def __init__(self, path: str | Path = "annotate.db"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(SCHEMA)  # executescript commits on its own

    # ------------------------------------------------------------ connections
    def _db(self) -> sqlite3.Connection:
        # one connection per thread: the web server answers requests from a thread pool
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            except sqlite3.Error as e:
                raise BackendError(f"cannot open annotation store {self.path}: {e}") from e
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @staticmethod
    def _task_id(db: sqlite3.Connection, task: str) -> int:
        r = db.execute("SELECT id FROM tasks WHERE name=?", (task,)).fetchone()
        if r is None:
            raise ConfigError(f"no annotation task '{task}'; create it with `curate annotate push --task {task}`")
        return r["id"]

    # ------------------------------------------------------------ tasks (the pipeline side)
    def create_task(self, task: str, guidelines: str = "", overlap: int = 1, criteria: Sequence[str] = ()) -> None:
        if overlap < 1:
            raise ConfigError(f"task '{task}': overlap must be >= 1, got {overlap}")
        if not (1 <= len(task) <= 64) or not set(task) <= NAME_CHARS:
            raise ConfigError(f"task name {task!r} is invalid: use 1-64 letters, digits, '_', '.', '-', '@'")
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO tasks(name, guidelines, overlap, criteria, seed, show_model_votes, "
                       "show_others, created) VALUES (?,?,?,?,?,0,0,?)",
                       (task, guidelines, overlap, dumps(list(criteria)), secrets.token_hex(8), time.time()))

    def update_task(self, task: str, **changes: Any) -> None:
        """Admin settings: guidelines, overlap, criteria, show_model_votes, show_others."""
        allowed = {"guidelines", "overlap", "criteria", "show_model_votes", "show_others"}
        bad = set(changes) - allowed
        if bad:
            raise ConfigError(f"task settings {sorted(bad)} do not exist; known: {sorted(allowed)}")
        if "overlap" in changes and int(changes["overlap"]) < 1:
            raise ConfigError("overlap must be >= 1")
        if "criteria" in changes:
            changes["criteria"] = dumps([c for c in changes["criteria"] if c])
        with self._tx() as db:
            tid = self._task_id(db, task)
            for k, v in changes.items():  # keys are checked against `allowed` above
                db.execute(f"UPDATE tasks SET {k}=? WHERE id=?", (v, tid))

    def task(self, task: str) -> dict[str, Any]:
        r = self._db().execute("SELECT * FROM tasks WHERE name=?", (task,)).fetchone()
        if r is None:
            raise ConfigError(f"no annotation task '{task}'")
        d = dict(r)
        d["criteria"] = json.loads(d["criteria"])
        return d

    def tasks(self, user_id: int | None = None) -> list[str]:
        """All task names, or those the user is a member of."""
        if user_id is None:
            rows = self._db().execute("SELECT name FROM tasks ORDER BY id").fetchall()
        else:
            rows = self._db().execute("SELECT t.name FROM tasks t JOIN members m ON m.task_id=t.id "
                                      "WHERE m.user_id=? ORDER BY t.id", (user_id,)).fetchall()
        return [r["name"] for r in rows]

    def push_pairs(self, task: str, pairs: Iterable[dict]) -> int:
        new = 0
        with self._tx() as db:
            tid = self._task_id(db, task)
            for p in pairs:
                cur = db.execute(
                    "INSERT OR IGNORE INTO items(task_id, pair_id, prompt, chosen, rejected, model_votes) "
                    "VALUES (?,?,?,?,?,?)",
                    (tid, p["id"], dumps([dict(m) for m in p["prompt"]]), p["chosen"], p["rejected"],
                     dumps(model_votes_of(p))))
                new += cur.rowcount
        return new

    def pushed(self, task: str) -> dict[str, str]:
        rows = self._db().execute("SELECT i.pair_id, i.chosen FROM items i JOIN tasks t ON t.id=i.task_id "
                                  "WHERE t.name=?", (task,)).fetchall()
        return {r["pair_id"]: r["chosen"] for r in rows}

    def answers(self, task: str) -> list[Answer]:
        rows = self._db().execute(
            "SELECT a.*, i.pair_id, u.name AS annotator FROM answers a JOIN items i ON i.id=a.item_id "
            "JOIN tasks t ON t.id=i.task_id JOIN users u ON u.id=a.user_id WHERE t.name=? "
            "ORDER BY a.created, a.answer_id", (task,)).fetchall()
        return [_answer(task, r) for r in rows]

    def progress(self, task: str) -> dict[str, Any]:
        db = self._db()
        t = self.task(task)
        items = db.execute("SELECT count(*) FROM items WHERE task_id=?", (t["id"],)).fetchone()[0]
        per_item = db.execute(
            "SELECT i.id, count(a.answer_id) AS n FROM items i LEFT JOIN answers a ON a.item_id=i.id "
            "AND a.label!='skip' WHERE i.task_id=? GROUP BY i.id", (t["id"],)).fetchall()
        per_user = db.execute(
            "SELECT u.name, count(*) AS n FROM answers a JOIN items i ON i.id=a.item_id JOIN users u "
            "ON u.id=a.user_id WHERE i.task_id=? GROUP BY u.name ORDER BY u.name", (t["id"],)).fetchall()
        by_user = {r["name"]: r["n"] for r in per_user}
        return {"task": task, "items": items, "overlap": t["overlap"],
                "answers": sum(by_user.values()),
                "complete": sum(1 for r in per_item if r["n"] >= t["overlap"]),
                "by_annotator": by_user}

    # ------------------------------------------------------------ the annotator side (used by the UI)
    def _item(self, db: sqlite3.Connection, t: dict, row: sqlite3.Row, user: dict) -> Item:
        a_is = a_is_for(t["seed"], row["pair_id"], user["name"])
        a, b = (row["chosen"], row["rejected"]) if a_is == "chosen" else (row["rejected"], row["chosen"])
        return Item(item_id=row["id"], task=t["name"], pair_id=row["pair_id"], prompt=json.loads(row["prompt"]),
                    response_a=a, response_b=b, a_is=a_is, model_votes=json.loads(row["model_votes"]))

    def next_item(self, task: str, user: dict) -> Item | None:
        """The next item for this annotator, held for them (a lease) so overlap is not overshot."""
        now = time.time()
        t = self.task(task)
        with self._tx() as db:
            mine = db.execute(
                "SELECT i.* FROM leases l JOIN items i ON i.id=l.item_id WHERE l.user_id=? AND i.task_id=? "
                "AND l.expires>? AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.item_id=i.id AND a.user_id=?) "
                "ORDER BY i.id LIMIT 1", (user["id"], t["id"], now, user["id"])).fetchone()
            if mine is not None:
                return self._item(db, t, mine, user)
            row = db.execute(
                "SELECT i.* FROM items i WHERE i.task_id=? "
                "AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.item_id=i.id AND a.user_id=?) "
                "AND (SELECT count(*) FROM answers a WHERE a.item_id=i.id AND a.label!='skip') "
                "  + (SELECT count(*) FROM leases l WHERE l.item_id=i.id AND l.user_id!=? AND l.expires>?) < ? "
                "ORDER BY i.id LIMIT 1", (t["id"], user["id"], user["id"], now, t["overlap"])).fetchone()
            if row is None:
                return None
            db.execute("INSERT OR REPLACE INTO leases(item_id, user_id, expires) VALUES (?,?,?)",
                       (row["id"], user["id"], now + LEASE_SECONDS))
            return self._item(db, t, row, user)

    def submit(self, task: str, user: dict, item_id: int, answer_id: str, choice: str,
               rationale: str = "", criteria: Sequence[str] = ()) -> tuple[Answer, bool]:
        """Store one answer; returns (answer, duplicate). Retrying with the same answer_id is safe.

        The item must be held for the annotator (``next_item`` leased it to them). Answers are final:
        another answer id, or another choice under the same id, for an item the annotator already
        answered raises AnswerConflict carrying the stored answer.
        """
        if choice not in CHOICES:
            raise AnswerRejected(f"choice {choice!r} is invalid; expected one of {CHOICES}")
        if not (8 <= len(answer_id) <= 64) or not answer_id.replace("-", "").isalnum():
            raise AnswerRejected("answer_id must be 8-64 letters, digits or '-' (a client-generated UUID)")
        if not isinstance(item_id, int) or not 1 <= item_id < 2**63:
            raise AnswerRejected(f"item_id {item_id!r} is invalid: item ids are integers from 1 to 2**63 - 1")
        if len(rationale) > 5000:
            raise AnswerRejected("rationale is longer than 5000 characters")
        t = self.task(task)
        if not set(criteria) <= set(t["criteria"]):
            raise AnswerRejected(f"criteria {sorted(set(criteria) - set(t['criteria']))} are not in task '{task}'")
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM members WHERE task_id=? AND user_id=?", (t["id"], user["id"])).fetchone():
                raise AnswerRejected(f"user '{user['name']}' is not assigned to task '{task}'")
            row = db.execute("SELECT * FROM items WHERE id=? AND task_id=?", (item_id, t["id"])).fetchone()
            if row is None:
                raise AnswerRejected(f"item {item_id} is not in task '{task}'")
            old = db.execute(
                "SELECT a.*, i.pair_id, u.name AS annotator FROM answers a JOIN items i ON i.id=a.item_id "
                "JOIN users u ON u.id=a.user_id WHERE a.answer_id=? OR (a.item_id=? AND a.user_id=?)",
                (answer_id, item_id, user["id"])).fetchone()
            if old is not None:
                return self._repeat(task, old, user, item_id, answer_id, choice), True
            self._check_lease(db, t, item_id, user)
            a_is = a_is_for(t["seed"], row["pair_id"], user["name"])
            now = time.time()
            db.execute("INSERT INTO answers(answer_id, item_id, user_id, choice, a_is, label, rationale, criteria, "
                       "created) VALUES (?,?,?,?,?,?,?,?,?)",
                       (answer_id, item_id, user["id"], choice, a_is, label_of(choice, a_is), rationale,
                        dumps(list(criteria)), now))
            db.execute("DELETE FROM leases WHERE item_id=? AND user_id=?", (item_id, user["id"]))
        return Answer(answer_id, task, row["pair_id"], user["name"], choice, a_is, label_of(choice, a_is),
                      rationale, list(criteria), now), False

    @staticmethod
    def _repeat(task: str, old: sqlite3.Row, user: dict, item_id: int, answer_id: str, choice: str) -> Answer:
        """The stored answer when a submit repeats it (a retry); otherwise why it is refused."""
        if old["user_id"] != user["id"] or old["item_id"] != item_id:
            raise AnswerRejected(f"answer id {answer_id} was already used for another item")
        stored = _answer(task, old)
        if old["answer_id"] != answer_id or old["choice"] != choice:
            raise AnswerConflict(f"you already answered item {item_id} ({old['choice']}, answer id "
                                 f"{old['answer_id']}); answers are final, so this one was not stored", stored)
        return stored

    @staticmethod
    def _check_lease(db: sqlite3.Connection, t: dict, item_id: int, user: dict) -> None:
        """AnswerConflict unless the item is held for the user; an expired hold still counts while the
        item has room (fewer answers and others' holds than the overlap), so a slow annotator keeps their work."""
        now = time.time()
        lease = db.execute("SELECT expires FROM leases WHERE item_id=? AND user_id=?", (item_id, user["id"])).fetchone()
        if lease is None:
            raise AnswerConflict(f"item {item_id} was not handed to you; answer the item /next gives you")
        if lease["expires"] > now:
            return
        taken = db.execute(
            "SELECT (SELECT count(*) FROM answers a WHERE a.item_id=? AND a.label!='skip') "
            "+ (SELECT count(*) FROM leases l WHERE l.item_id=? AND l.user_id!=? AND l.expires>?)",
            (item_id, item_id, user["id"], now)).fetchone()[0]
        if taken >= t["overlap"]:
            raise AnswerConflict(f"your hold on item {item_id} expired and other annotators took it; "
                                 "reload the page for your next item")

    def user_progress(self, task: str, user: dict) -> dict[str, int]:
        """How many items this annotator answered, and how many the task has."""
        db = self._db()
        t = self.task(task)
        done = db.execute("SELECT count(*) FROM answers a JOIN items i ON i.id=a.item_id WHERE i.task_id=? "
                          "AND a.user_id=?", (t["id"], user["id"])).fetchone()[0]
        total = db.execute("SELECT count(*) FROM items WHERE task_id=?", (t["id"],)).fetchone()[0]
        return {"answered": done, "total": total}


def _answer(task: str, r: sqlite3.Row) -> Answer:
    return Answer(answer_id=r["answer_id"], task=task, pair_id=r["pair_id"], annotator=r["annotator"],
                  choice=r["choice"], a_is=r["a_is"], label=r["label"], rationale=r["rationale"],
                  criteria=json.loads(r["criteria"]), created=r["created"])
