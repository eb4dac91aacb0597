"""A local stand-in for the parts of Argilla's v2 REST API that the ``argilla`` SDK calls for the store.

**This is not Argilla, and no real Argilla server was tested here.** ``argilla-server`` 2.8 installs
from PyPI but will not start without Elasticsearch/OpenSearch and Redis, and neither could be installed
on the build machine. So the ``argilla`` store is tested against this app, which implements the
endpoints the SDK (argilla 2.8) calls, with the request and response shapes of argilla-server's
``api/schemas/v1``, state kept in memory:

    GET  /api/v1/me                                      the user of the X-Argilla-Api-Key header
    GET  /api/v1/users, /api/v1/users/{id}               users (owner/admin)
    GET  /api/v1/me/workspaces; POST /api/v1/workspaces  workspaces (a new server has "argilla")
    POST /api/v1/workspaces/{id}/users                   add a member
    GET  /api/v1/me/datasets; POST /api/v1/datasets      datasets (draft until published)
    GET|PATCH|DELETE /api/v1/datasets/{id}; PUT .../publish
    GET|POST /api/v1/datasets/{id}/fields, /questions, /vectors-settings
    POST /api/v1/datasets/{id}/metadata-properties; GET /api/v1/me/datasets/{id}/metadata-properties
    PUT  /api/v1/datasets/{id}/records/bulk              upsert by id or external_id (+ suggestions)
    GET  /api/v1/datasets/{id}/records?include=responses&include=suggestions
    GET  /api/v1/records/{id}
    POST /api/v1/records/{id}/responses                  what the Argilla UI calls when a person submits
    GET  /api/v1/datasets/{id}/progress, /users/progress

Records become ``completed`` when they have ``distribution.min_submitted`` submitted responses.
Responses are validated against the dataset's questions (labels, required questions on submit; one
response per user and record: 409). Not implemented: search, vectors search, webhooks, deleting
records, the annotator queue (``/me/datasets/{id}/records``).

    with serve_argilla(api_key="owner.apikey") as srv:
        key = srv.add_user("ann1")                       # an annotator and their API key
        ... ArgillaStore(api_url=srv.url) pushes records ...
        srv.submit(key, record_id, {"preference": {"value": "A"}})
"""

# no `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime
import contextlib
import secrets
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from curate.localserver import ThreadedServer

SETTINGS_KINDS = ("fields", "questions", "metadata-properties", "vectors-settings")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _new(body: dict, **extra: Any) -> dict:
    """A stored resource: the client's body with a server id and timestamps (client ids are ignored)."""
    now = _now()
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
                   "last_activity_at": _now()}, status="draft")
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
                rec["updated_at"] = _now()
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


def create_app(state: ArgillaState):
    """The FastAPI app over ``state``; every route needs a known ``X-Argilla-Api-Key``."""
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="curate Argilla stand-in (not Argilla)")
    st = state

    @app.exception_handler(Problem)
    async def problem(request: Request, e: Problem):
        return JSONResponse({"detail": e.detail}, status_code=e.status)

    @app.middleware("http")
    async def record_requests(request: Request, call_next):
        st.requests.append((request.method, request.url.path))
        return await call_next(request)

    def who(request: Request, roles: tuple[str, ...] = ("owner", "admin", "annotator")) -> dict:
        user = st.user_for(request.headers.get("x-argilla-api-key"))
        if user["role"] not in roles:
            raise Problem(403, f"user with role {user['role']!r} is not allowed to do this")
        return user

    staff = ("owner", "admin")

    def items(xs: list) -> dict:
        return {"items": xs, "total": len(xs)}

    @app.get("/api/v1/me")
    def me(request: Request):
        return who(request)

    @app.get("/api/v1/users")
    def users(request: Request):
        who(request, staff)
        return items(list(st.users.values()))

    @app.get("/api/v1/users/{user_id}")
    def user(user_id: str, request: Request):
        who(request, staff)
        if user_id not in st.users:
            raise Problem(404, f"User with id `{user_id}` not found")
        return st.users[user_id]

    @app.get("/api/v1/me/workspaces")
    def my_workspaces(request: Request):
        u = who(request)
        return items([w for w in st.workspaces.values() if st.can_see(u, w["id"])])

    @app.post("/api/v1/workspaces", status_code=201)
    async def create_workspace(request: Request):
        who(request, ("owner",))
        return st.add_workspace((await request.json())["name"])

    @app.get("/api/v1/workspaces/{ws_id}")
    def workspace(ws_id: str, request: Request):
        if ws_id not in st.workspaces or not st.can_see(who(request), ws_id):
            raise Problem(404, f"Workspace with id `{ws_id}` not found")
        return st.workspaces[ws_id]

    @app.post("/api/v1/workspaces/{ws_id}/users", status_code=201)
    async def add_member(ws_id: str, request: Request):
        who(request, ("owner",))
        uid = (await request.json())["user_id"]
        if ws_id not in st.workspaces or uid not in st.users:
            raise Problem(404, "workspace or user not found")
        st.members.add((ws_id, uid))
        return st.users[uid]

    @app.get("/api/v1/me/datasets")
    def my_datasets(request: Request):
        u = who(request)
        return items([d for d in st.datasets.values() if st.can_see(u, d["workspace_id"])])

    @app.post("/api/v1/datasets", status_code=201)
    async def create_dataset(request: Request):
        who(request, staff)
        body = await request.json()
        with st.lock:
            return st.create_dataset(body)

    @app.get("/api/v1/datasets/{ds_id}")
    def get_dataset(ds_id: str, request: Request):
        return st.dataset(who(request), ds_id)

    @app.patch("/api/v1/datasets/{ds_id}")
    async def update_dataset(ds_id: str, request: Request):
        ds = st.dataset(who(request, staff), ds_id)
        body = await request.json()
        with st.lock:
            for k in ("name", "guidelines", "allow_extra_metadata", "distribution"):
                if k in body and body[k] is not None:
                    ds[k] = body[k]
            ds["updated_at"] = _now()
        return ds

    @app.delete("/api/v1/datasets/{ds_id}")
    def delete_dataset(ds_id: str, request: Request):
        ds = st.dataset(who(request, staff), ds_id)
        with st.lock:
            for rid in st.order.pop(ds_id, []):
                st.records.pop(rid, None)
            st.settings.pop(ds_id, None)
            return st.datasets.pop(ds["id"])

    @app.put("/api/v1/datasets/{ds_id}/publish")
    def publish(ds_id: str, request: Request):
        ds = st.dataset(who(request, staff), ds_id)
        have = st.settings[ds_id]
        if not have["fields"] or not have["questions"]:
            raise Problem(422, "a dataset needs at least one field and one question to be published")
        ds["status"] = "ready"
        return ds

    def settings_routes(kind: str, list_path: str) -> None:
        @app.get(list_path, name=f"list_{kind}")
        def list_settings(ds_id: str, request: Request):
            st.dataset(who(request), ds_id)
            return items(st.settings[ds_id][kind])

        @app.post(f"/api/v1/datasets/{{ds_id}}/{kind}", status_code=201, name=f"create_{kind}")
        async def create_setting(ds_id: str, request: Request):
            ds = st.dataset(who(request, staff), ds_id)
            body = await request.json()
            with st.lock:
                return st.add_setting(ds, kind, body)

    for kind in ("fields", "questions", "vectors-settings"):
        settings_routes(kind, f"/api/v1/datasets/{{ds_id}}/{kind}")
    settings_routes("metadata-properties", "/api/v1/me/datasets/{ds_id}/metadata-properties")

    @app.put("/api/v1/datasets/{ds_id}/records/bulk")
    async def upsert(ds_id: str, request: Request):
        u = who(request, staff)
        body = await request.json()
        with st.lock:
            recs, updated = st.upsert(st.dataset(u, ds_id), body.get("items") or [])
            return {"items": [st.record_out(r, ["responses", "suggestions"], u) for r in recs],
                    "updated_item_ids": updated}

    @app.get("/api/v1/datasets/{ds_id}/records")
    def list_records(ds_id: str, request: Request, offset: int = 0, limit: int = 50,
                     include: list[str] = Query(default=[])):
        u = who(request, staff)
        st.dataset(u, ds_id)
        with st.lock:
            ids = st.order[ds_id]
            page = [st.record_out(st.records[r], include, u) for r in ids[offset:offset + limit]]
        return {"items": page, "total": len(ids)}

    @app.get("/api/v1/records/{record_id}")
    def get_record(record_id: str, request: Request):
        u = who(request)
        rec = st.records.get(record_id)
        if rec is None:
            raise Problem(404, f"Record with id `{record_id}` not found")
        st.dataset(u, rec["dataset_id"])
        return st.record_out(rec, ["responses", "suggestions"], u)

    @app.post("/api/v1/records/{record_id}/responses", status_code=201)
    async def respond(record_id: str, request: Request):
        u = who(request)
        body = await request.json()
        with st.lock:
            return st.respond(u, record_id, body)

    @app.get("/api/v1/datasets/{ds_id}/progress")
    def progress(ds_id: str, request: Request):
        return st.progress(st.dataset(who(request, staff), ds_id))

    @app.get("/api/v1/datasets/{ds_id}/users/progress")
    def users_progress(ds_id: str, request: Request):
        return {"users": st.users_progress(st.dataset(who(request, staff), ds_id))}

    return app


@dataclass
class ArgillaStandin:
    """A running stand-in: its URL, its state, and helpers that play the annotators' side."""

    url: str
    state: ArgillaState
    _http: Any = None

    def add_user(self, username: str, workspace: str = "argilla") -> str:
        """Create an annotator in ``workspace`` and return their API key (as an admin would hand it out)."""
        with self.state.lock:
            user = self.state.add_user(username)
            ws = next(w for w in self.state.workspaces.values() if w["name"] == workspace)
            self.state.members.add((ws["id"], user["id"]))
            return self.state.key_of(user["id"])

    def submit(self, api_key: str, record_id: str, values: dict | None, status: str = "submitted") -> dict:
        """Answer a record as the key's user, through the REST call the Argilla UI makes on submit."""
        import httpx

        if self._http is None:  # one keep-alive client: a new connection per answer is slow
            self._http = httpx.Client(base_url=self.url, timeout=30)
        r = self._http.post(f"/api/v1/records/{record_id}/responses", headers={"X-Argilla-Api-Key": api_key},
                            json={"values": values, "status": status})
        r.raise_for_status()
        return r.json()

    def records(self, dataset_name: str) -> list[dict]:
        """The stored records of a dataset (by name), oldest first, responses included."""
        with self.state.lock:
            ds = next(d for d in self.state.datasets.values() if d["name"] == dataset_name)
            return [self.state.records[r] for r in self.state.order[ds["id"]]]


@contextlib.contextmanager
def serve_argilla(api_key: str = "argilla.apikey") -> Iterator[ArgillaStandin]:
    """Run the stand-in on 127.0.0.1 (a free port) in a thread; ``api_key`` is the owner's key."""
    from curate.errors import require

    require("fastapi", "ui", "the Argilla stand-in")
    state = ArgillaState(api_key)
    server = ThreadedServer(create_app(state), name="Argilla stand-in").start()
    standin = ArgillaStandin(url=server.url, state=state)
    try:
        yield standin
    finally:
        if standin._http is not None:
            standin._http.close()
        server.stop()
