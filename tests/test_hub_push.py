"""Push to the Hub, tested against curate's stand-in Hub on 127.0.0.1 (no network).

The stand-in answers the endpoints huggingface_hub's create_repo + upload_folder call (see
curate/testing/hub_standin.py); the client runs unmodified except for Xet storage being switched off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import BackendError, ConfigError
from curate.export import export_dataset, push_to_hub
from curate.export.hub import IGNORE
from curate.testing.hub_standin import serve_standin
from tests.helpers.export import curated_records

TOKEN = "hf_standin_secret_123"


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)  # the suite is offline; this server is local
    monkeypatch.setattr(c, "HF_HUB_DISABLE_XET", True)  # the stand-in speaks LFS, not Xet
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with serve_standin(tmp_path / "hub", token=TOKEN) as h:
        assert h.url.startswith("http://127.0.0.1:")
        yield h


@pytest.fixture()
def folder(tmp_path) -> Path:
    out = tmp_path / "export"
    export_dataset(curated_records(60), out, layout="trl", shard_mb=0.01)
    (out / "README.md").write_text("---\nlicense: mit\nconfigs:\n- config_name: default\n---\n# card\n")
    (out / "plots").mkdir()
    (out / "plots" / "a.png").write_bytes(b"\x89PNG fake image bytes")
    return out


def _local_files(folder: Path) -> dict[str, bytes]:
    import fnmatch

    out = {}
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not any(fnmatch.fnmatch(rel, pat) for pat in IGNORE):
            out[rel] = p.read_bytes()
    return out


def test_interrupted_push_resumes_and_lands_in_one_commit(hub, folder):
    hub.state.fail_commits = 1  # the first push dies at the commit, after uploading the LFS objects
    with pytest.raises(BackendError, match="HTTP 500") as err:
        push_to_hub(folder, "me/prefs", private=True, endpoint=hub.url)
    assert TOKEN not in str(err.value)
    first = list(hub.state.lfs_uploads)
    assert len(first) >= 3
    assert hub.state.repos["dataset:me/prefs"]["files"] == {}  # nothing half-published
    url = push_to_hub(folder, "me/prefs", private=True, endpoint=hub.url)
    assert hub.state.lfs_uploads == first  # the re-run sent no object twice
    repo = hub.state.repos["dataset:me/prefs"]
    assert len(repo["commits"]) == 1 and url.endswith(repo["commits"][0]["oid"])
    assert repo["private"] is True
    assert repo["files"] == _local_files(folder)  # byte for byte; the arrow copy stays local
    assert not any(f.endswith(".arrow") for f in repo["files"])


def test_public_repo_and_token_never_written(hub, folder):
    push_to_hub(folder, "org/public-prefs", private=False, endpoint=hub.url)
    assert hub.state.repos["dataset:org/public-prefs"]["private"] is False
    for p in folder.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


def test_bad_token_and_missing_token(hub, folder, monkeypatch):
    with pytest.raises(BackendError, match="401.*write token"):
        push_to_hub(folder, "me/prefs", endpoint=hub.url, token="hf_wrong")
    assert hub.state.auth_failures >= 1
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        push_to_hub(folder, "me/prefs", endpoint=hub.url)
    with pytest.raises(ConfigError, match="namespace"):
        push_to_hub(folder, "prefs", endpoint=hub.url, token=TOKEN)


def test_standin_rejects_invalid_card_metadata(hub, folder):
    (folder / "README.md").write_text("---\ntags: not-a-list\n---\n")
    with pytest.raises(ConfigError, match="'tags' must be a list"):
        push_to_hub(folder, "me/bad-card", endpoint=hub.url)
