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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curate.testing.argilla_state import ArgillaState, Problem, now_iso
from curate.testing.localserver import ThreadedServer


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
            ds["updated_at"] = now_iso()
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
