"""In-memory state of the Argilla stand-in (``curate.testing.argilla_standin``): users, workspaces,
datasets with their settings, records with suggestions and responses, and the progress tables.

Methods raise ``Problem(status, detail)``; the app turns it into the HTTP error argilla-server sends.
Callers hold ``state.lock`` around anything that reads and writes.
"""

import secrets
import threading
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

SETTINGS_KINDS = ("fields", "questions", "metadata-properties", "vectors-settings")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _new(body: dict, **extra: Any) -> dict:
    """A stored resource: the client's body with a server id and timestamps (client ids are ignored)."""
    now = now_iso()
    return {**body, **extra, "id": str(uuid.uuid4()), "inserted_at": now, "updated_at": now}


class Problem(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


class ArgillaState:
    """Users, workspaces, datasets (with their settings), records and responses, behind one lock."""

    def __init__(self, owner_key: str):
        self.lock = threading.RLock()
        self.users: dict[str, dict] = {}
        self.keys: dict[str, str] = {}  # api key -> user id
        self.workspaces: dict[str, dict] = {}
        self.members: set[tuple[str, str]] = set()
        self.datasets: dict[str, dict] = {}
        self.settings: dict[str, dict[str, list]] = defaultdict(lambda: {k: [] for k in SETTINGS_KINDS})
        self.records: dict[str, dict] = {}
        self.order: dict[str, list[str]] = defaultdict(list)  # dataset id -> record ids, oldest first
        self.requests: list[tuple[str, str]] = []
        owner = self.add_user("argilla", role="owner", api_key=owner_key)
        ws = self.add_workspace("argilla")
        self.members.add((ws["id"], owner["id"]))

    # ------------------------------------------------------------ users and workspaces
    def add_user(self, username: str, role: str = "annotator", api_key: str | None = None) -> dict:
        with self.lock:
            if any(u["username"] == username for u in self.users.values()):
                raise Problem(409, f"user with username {username!r} already exists")
            user = _new({"username": username, "role": role, "first_name": username, "last_name": None})
            self.users[user["id"]] = user
            self.keys[api_key or f"{username}.{secrets.token_hex(8)}"] = user["id"]
            return user

    def key_of(self, user_id: str) -> str:
        return next(k for k, uid in self.keys.items() if uid == user_id)

    def add_workspace(self, name: str) -> dict:
        with self.lock:
            if any(w["name"] == name for w in self.workspaces.values()):
                raise Problem(409, f"workspace with name {name!r} already exists")
            ws = _new({"name": name})
            self.workspaces[ws["id"]] = ws
            return ws

    def user_for(self, api_key: str | None) -> dict:
        uid = self.keys.get(api_key or "")
        if uid is None:
            raise Problem(401, "Could not validate credentials")
        return self.users[uid]

    def can_see(self, user: dict, workspace_id: str) -> bool:
        return user["role"] == "owner" or (workspace_id, user["id"]) in self.members

    # ------------------------------------------------------------ datasets and settings
    def dataset(self, user: dict, dataset_id: str) -> dict:
        ds = self.datasets.get(dataset_id)
        if ds is None or not self.can_see(user, ds["workspace_id"]):
            raise Problem(404, f"Dataset with id `{dataset_id}` not found")
        return ds

    def create_dataset(self, body: dict) -> dict:
        ws = body.get("workspace_id")
        if ws not in self.workspaces:
            raise Problem(404, f"Workspace with id `{ws}` not found")
        if any(d["name"] == body["name"] and d["workspace_id"] == ws for d in self.datasets.values()):
            raise Problem(409, f"Dataset with name `{body['name']}` already exists for workspace with id `{ws}`")
        dist = body.get("distribution") or {"strategy": "overlap", "min_submitted": 1}
        ds = _new({"name": body["name"], "guidelines": body.get("guidelines"), "allow_extra_metadata":
                   body.get("allow_extra_metadata", True), "distribution": dist, "workspace_id": ws,
                   "last_activity_at": now_iso()}, status="draft")
        self.datasets[ds["id"]] = ds
        return ds

    def add_setting(self, ds: dict, kind: str, body: dict) -> dict:
        if kind in ("fields", "questions") and ds["status"] != "draft":
            raise Problem(422, f"{kind} cannot be added to a published dataset")
        have = self.settings[ds["id"]]
        if any(p["name"] == body["name"] for k in SETTINGS_KINDS for p in have[k]):
            raise Problem(409, f"name `{body['name']}` already exists for dataset with id `{ds['id']}`")
        item = _new({k: v for k, v in body.items() if k not in ("id", "inserted_at", "updated_at")},
                    dataset_id=ds["id"])
        have[kind].append(item)
        return item

    def question(self, ds_id: str, key: str, by: str = "name") -> dict | None:
        return next((q for q in self.settings[ds_id]["questions"] if q[by] == key), None)

    # ------------------------------------------------------------ records
    def record_out(self, rec: dict, include: list[str], user: dict) -> dict:
        out = {k: v for k, v in rec.items() if k not in ("responses", "suggestions")}
        if "responses" in include:
            mine = user["role"] != "annotator"
            out["responses"] = [r for r in rec["responses"] if mine or r["user_id"] == user["id"]]
        if "suggestions" in include:
            out["suggestions"] = rec["suggestions"]
        return out

    def upsert(self, ds: dict, items: list[dict]) -> tuple[list[dict], list[str]]:
        if ds["status"] != "ready":
            raise Problem(422, f"Records cannot be created for a non published dataset with id `{ds['id']}`")
        if not 1 <= len(items) <= 500:
            raise Problem(422, "items must hold 1 to 500 records")
        by_external = {self.records[r]["external_id"]: r for r in self.order[ds["id"]]}
        done, updated = [], []
        for item in items:
            rid = item.get("id") if item.get("id") in self.records else by_external.get(item.get("external_id"))
            rec = self.records.get(rid) if rid else None
            fields = self._check_fields(ds, item.get("fields"), new=rec is None)
            metadata = self._check_metadata(ds, item.get("metadata") or {})
            suggestions = [self._suggestion(ds, s) for s in item.get("suggestions") or []]
            if rec is None:
                rec = _new({"external_id": str(item.get("external_id") or uuid.uuid4()), "fields": fields,
                            "metadata": metadata, "vectors": item.get("vectors") or {}, "status": "pending",
                            "dataset_id": ds["id"], "responses": [], "suggestions": suggestions})
                self.records[rec["id"]] = rec
                self.order[ds["id"]].append(rec["id"])
                by_external[rec["external_id"]] = rec["id"]
            else:
                rec["fields"].update(fields)
                rec["metadata"] = {**(rec["metadata"] or {}), **metadata}
                qids = {s["question_id"] for s in suggestions}
                rec["suggestions"] = [s for s in rec["suggestions"] if s["question_id"] not in qids] + suggestions
                rec["updated_at"] = now_iso()
                updated.append(rec["id"])
            done.append(rec)
        return done, updated

    def _check_fields(self, ds: dict, fields: dict | None, new: bool) -> dict:
        fields = fields or {}
        known = {f["name"]: f for f in self.settings[ds["id"]]["fields"]}
        for name, value in fields.items():
            if name not in known:
                raise Problem(422, f"found fields values for non configured fields: [{name!r}]")
            if value is not None and not isinstance(value, str):
                raise Problem(422, f"text field {name!r} value must be a string")
        if new:
            missing = [n for n, f in known.items() if f.get("required", True) and fields.get(n) in (None, "")]
            if missing:
                raise Problem(422, f"missing required value for field: {missing[0]!r}")
        return dict(fields)

    def _check_metadata(self, ds: dict, metadata: dict) -> dict:
        props = {p["name"]: p for p in self.settings[ds["id"]]["metadata-properties"]}
        for name, value in metadata.items():
            prop = props.get(name)
            if prop is None:
                if not ds["allow_extra_metadata"]:
                    raise Problem(422, f"metadata property {name!r} not found in dataset and extra metadata is "
                                  "not allowed")
                continue
            options = prop["settings"].get("values")
            if prop["settings"]["type"] == "terms" and options is not None and value not in options:
                raise Problem(422, f"{value!r} is not an allowed term for metadata property {name!r}")
        return dict(metadata)

    def _suggestion(self, ds: dict, s: dict) -> dict:
        q = self.question(ds["id"], s.get("question_id"), by="id") if s.get("question_id") else None
        if q is None:
            raise Problem(422, f"question_id={s.get('question_id')!r} is not a question of this dataset")
        self._check_value(q, s.get("value"))
        if s.get("score") is not None and not 0 <= s["score"] <= 1:
            raise Problem(422, "suggestion score must be between 0 and 1")
        return _new({"question_id": q["id"], "value": s["value"], "score": s.get("score"),
                     "agent": s.get("agent"), "type": s.get("type")})

    @staticmethod
    def _check_value(q: dict, value: Any) -> None:
        st = q["settings"]
        options = [o["value"] for o in st.get("options") or []]
        kind = st["type"]
        ok = {"label_selection": lambda v: v in options,
              "multi_label_selection": lambda v: isinstance(v, list) and bool(v) and set(v) <= set(options),
              "rating": lambda v: isinstance(v, int) and v in options,
              "text": lambda v: isinstance(v, str) and v != ""}.get(kind, lambda v: True)
        if not ok(value):
            raise Problem(422, f"{value!r} is not a valid value for {kind} question {q['name']!r}")

    def respond(self, user: dict, record_id: str, body: dict) -> dict:
        rec = self.records.get(record_id)
        if rec is None:
            raise Problem(404, f"Record with id `{record_id}` not found")
        ds = self.dataset(user, rec["dataset_id"])
        if any(r["user_id"] == user["id"] for r in rec["responses"]):
            raise Problem(409, f"Response already exists for record with id `{record_id}` and by user with id "
                          f"`{user['id']}`")
        status, values = body.get("status"), body.get("values") or {}
        if status not in ("submitted", "discarded", "draft"):
            raise Problem(422, f"response status {status!r} is invalid")
        for name, v in values.items():
            q = self.question(ds["id"], name)
            if q is None:
                raise Problem(422, f"found responses for non configured questions: [{name!r}]")
            self._check_value(q, v.get("value"))
        if status == "submitted":
            for q in self.settings[ds["id"]]["questions"]:
                if q.get("required", True) and q["name"] not in values:
                    raise Problem(422, f"missing response value for required question with name={q['name']!r}")
        resp = _new({"values": values or None, "status": status, "record_id": record_id, "user_id": user["id"]})
        rec["responses"].append(resp)
        n = sum(r["status"] == "submitted" for r in rec["responses"])
        rec["status"] = "completed" if n >= ds["distribution"]["min_submitted"] else "pending"
        return resp

    def progress(self, ds: dict) -> dict:
        recs = [self.records[r] for r in self.order[ds["id"]]]
        done = sum(r["status"] == "completed" for r in recs)
        return {"total": len(recs), "completed": done, "pending": len(recs) - done}

    def users_progress(self, ds: dict) -> list[dict]:
        table: dict[str, dict] = {}
        for rid in self.order[ds["id"]]:
            rec = self.records[rid]
            for r in rec["responses"]:
                name = self.users[r["user_id"]]["username"]
                row = table.setdefault(name, {"username": name, **{s: {"submitted": 0, "draft": 0, "discarded": 0}
                                                                   for s in ("completed", "pending")}})
                row[rec["status"]][r["status"]] += 1
        return list(table.values())
