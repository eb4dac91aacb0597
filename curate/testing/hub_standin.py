"""A local stand-in for the Hugging Face Hub endpoints that ``HfApi.upload_folder`` calls.

For offline tests and for trying a push without an account. It implements just what
``create_repo`` + ``upload_folder`` use (huggingface_hub 0.2x-2.x, LFS path; set
``HF_HUB_DISABLE_XET=1`` or ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True`` since the
stand-in has no Xet storage):

    POST /api/repos/create                                  → {"url"}; 409 if it exists
    POST /api/validate-yaml                                 → README.md metadata errors (400) or none
    GET  /api/{type}s/{ns}/{name}                           → repo info (id, private, sha, siblings)
    POST /api/{type}s/{ns}/{name}/preupload/{rev}           → uploadMode per file (lfs for binary/large)
    POST /{prefix}{ns}/{name}.git/info/lfs/objects/batch    → an upload action for each object not yet held
    PUT  /lfs/{oid}                                         → store an object (sha256 checked)
    POST /api/{type}s/{ns}/{name}/commit/{rev}              → apply an ndjson commit, all files at once
    GET  /{prefix}{ns}/{name}/resolve/{rev}/{path}          → a committed file's bytes

Every request needs ``Authorization: Bearer <token>`` when a token is set. ``StandinHub.state``
records requests, LFS uploads and commits, and ``fail_commits`` makes the next N commits fail (an
interrupted push), which is how the tests prove a re-run resumes.

    with serve_standin(tmp_path, token="hf_test") as hub:
        push_to_hub(folder, "me/data", endpoint=hub.url, token="hf_test")
"""

# no `from __future__ import annotations`: FastAPI resolves the handlers' `Request` annotations at
# runtime, and they are imported inside create_app (fastapi is an optional dependency)
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curate.testing.localserver import ThreadedServer

LFS_SUFFIXES = (".parquet", ".png", ".arrow", ".jpg", ".gz", ".zip")
PREFIX = {"dataset": "datasets/", "space": "spaces/", "model": ""}


@dataclass
class HubState:
    repos: dict[str, dict] = field(default_factory=dict)  # "type:ns/name" → {private, files, commits}
    requests: list[tuple[str, str]] = field(default_factory=list)
    lfs_uploads: list[str] = field(default_factory=list)
    fail_commits: int = 0
    auth_failures: int = 0


def create_app(root: str | Path, token: str | None = None, state: HubState | None = None):
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response

    root = Path(root)
    (root / "lfs").mkdir(parents=True, exist_ok=True)
    st = state or HubState()
    app = FastAPI(title="curate Hub stand-in")
    app.state.hub = st

    @app.middleware("http")
    async def auth(request: Request, call_next):
        st.requests.append((request.method, request.url.path))
        needs = not request.url.path.startswith("/lfs/")  # LFS hrefs are pre-signed, like S3 URLs
        if token and needs and request.headers.get("authorization") != f"Bearer {token}":
            st.auth_failures += 1
            return JSONResponse({"error": "Invalid credentials in Authorization header"}, status_code=401)
        return await call_next(request)

    def repo(rtype: str, ns: str, name: str) -> dict:
        key = f"{rtype}:{ns}/{name}"
        if key not in st.repos:
            raise HTTPException(404, f"Repository Not Found: {ns}/{name}")
        return st.repos[key]

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post("/api/repos/create")
    async def create(request: Request):
        body = await request.json()
        rtype, ns, name = body.get("type") or "model", body.get("organization") or "user", body["name"]
        url = f"{base(request)}/{PREFIX.get(rtype, '')}{ns}/{name}"
        key = f"{rtype}:{ns}/{name}"
        if key in st.repos:
            return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        st.repos[key] = {"private": private, "files": {}, "commits": []}
        return {"url": url, "name": f"{ns}/{name}", "id": key}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        errors = _card_errors((await request.json()).get("content", ""))
        return JSONResponse({"errors": [{"message": m} for m in errors], "warnings": []},
                            status_code=400 if errors else 200)

    @app.get("/api/{rtype}s/{ns}/{name}")
    async def info(rtype: str, ns: str, name: str):
        r = repo(rtype, ns, name)
        sha = r["commits"][-1]["oid"] if r["commits"] else None
        return {"id": f"{ns}/{name}", "private": r["private"], "sha": sha,
                "siblings": [{"rfilename": f} for f in sorted(r["files"])]}

    @app.post("/api/{rtype}s/{ns}/{name}/preupload/{rev}")
    async def preupload(rtype: str, ns: str, name: str, rev: str, request: Request):
        repo(rtype, ns, name)
        files = (await request.json())["files"]
        return {"files": [{"path": f["path"], "shouldIgnore": False,
                           "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10_000_000
                           else "regular"} for f in files]}

    @app.post("/{prefix:path}.git/info/lfs/objects/batch")
    async def lfs_batch(prefix: str, request: Request):
        body = await request.json()
        out = []
        for obj in body["objects"]:
            item = {"oid": obj["oid"], "size": obj["size"]}
            if not (root / "lfs" / obj["oid"]).exists():  # what we hold needs no upload: that is resume
                item["actions"] = {"upload": {"href": f"{base(request)}/lfs/{obj['oid']}"}}
            out.append(item)
        return {"transfer": "basic", "objects": out}

    @app.put("/lfs/{oid}")
    async def lfs_put(oid: str, request: Request):
        data = await request.body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HTTPException(400, "content does not match its oid")
        (root / "lfs" / oid).write_bytes(data)
        st.lfs_uploads.append(oid)
        return Response(status_code=200)

    @app.post("/api/{rtype}s/{ns}/{name}/commit/{rev}")
    async def commit(rtype: str, ns: str, name: str, rev: str, request: Request):
        r = repo(rtype, ns, name)
        if st.fail_commits > 0:
            st.fail_commits -= 1
            raise HTTPException(500, "commit failed (stand-in: simulated interruption)")
        lines = [json.loads(x) for x in (await request.body()).splitlines() if x.strip()]
        staged: dict[str, Path | bytes | None] = {}
        header = {}
        for line in lines:
            key, v = line["key"], line["value"]
            if key == "header":
                header = v
            elif key == "file":
                staged[v["path"]] = base64.b64decode(v["content"])
            elif key == "lfsFile":
                blob = root / "lfs" / v["oid"]
                if not blob.exists():
                    raise HTTPException(422, f"LFS object {v['oid']} of {v['path']} was never uploaded")
                staged[v["path"]] = blob
            elif key == "deletedFile":
                staged[v["path"]] = None
        for path, content in staged.items():  # all or nothing: applied only after every check passed
            if content is None:
                r["files"].pop(path, None)
            else:
                r["files"][path] = content.read_bytes() if isinstance(content, Path) else content
        oid = hashlib.sha1(json.dumps([header.get("summary"), sorted(staged), time.time()]).encode()).hexdigest()
        r["commits"].append({"oid": oid, "summary": header.get("summary"), "files": sorted(staged)})
        url = f"{base(request)}/{PREFIX.get(rtype, '')}{ns}/{name}/commit/{oid}"
        return {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None}

    @app.get("/{prefix:path}/resolve/{rev}/{path:path}")
    async def resolve(prefix: str, rev: str, path: str):
        rtype = next((t for t, p in PREFIX.items() if p and prefix.startswith(p)), "model")
        ns_name = prefix[len(PREFIX[rtype]):]
        r = st.repos.get(f"{rtype}:{ns_name}")
        if r is None or path not in r["files"]:
            raise HTTPException(404, "Entry not found")
        return Response(r["files"][path], media_type="application/octet-stream")

    return app


def _card_errors(content: str) -> list[str]:
    """The few metadata checks the real Hub makes that a curate card could fail."""
    import yaml

    if not content.startswith("---\n"):
        return []  # no metadata block: the Hub accepts it
    head = content[4:].split("\n---", 1)[0]
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as e:
        return [f"metadata is not valid YAML: {e}"]
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = [f"'{k}' must be a list" for k in ("task_categories", "size_categories", "tags", "language")
              if k in meta and not isinstance(meta[k], list)]
    for cfg in meta.get("configs") or []:
        if not isinstance(cfg, dict) or "config_name" not in cfg:
            errors.append("every entry of 'configs' needs a config_name")
    return errors


@dataclass
class Standin:
    url: str
    state: HubState


@contextlib.contextmanager
def serve_standin(root: str | Path, token: str | None = None) -> Iterator[Standin]:
    """Run the stand-in on 127.0.0.1 (a free port) in a thread for the duration of the block."""
    state = HubState()
    server = ThreadedServer(create_app(root, token, state), name="Hub stand-in").start(timeout_s=20)
    try:
        yield Standin(url=server.url, state=state)
    finally:
        server.stop()
