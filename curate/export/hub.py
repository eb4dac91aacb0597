"""Push an export folder to the Hugging Face Hub as a dataset repo, in one commit.

The token comes from the ``HF_TOKEN`` environment variable (or the caller); it is passed to
``huggingface_hub.HfApi`` in memory and never written, printed or put in an error message.

Resumable: ``HfApi.upload_folder`` first uploads the large files (Parquet, PNG) through the Hub's
LFS/Xet storage, addressed by content hash, and only then makes the one commit that adds every
file. If the push dies before the commit, running it again asks the Hub which objects it already
holds (the LFS batch answer has no upload action for those) and sends only the rest; the repo
never shows a partial export. (The installed huggingface_hub has no ``upload_large_folder``;
content-addressed re-runs are its resume mechanism for ``upload_folder``.)

Offline tests run this against ``curate.testing.hub_standin``, a local server on 127.0.0.1 that
answers the endpoints the client calls: repos/create, preupload, the LFS batch API + PUT, commit.
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.errors import BackendError, ConfigError

# the arrow copy (save_to_disk) stays local: the Hub serves the Parquet shards
IGNORE = ["*.arrow", "dataset_dict.json", "*/state.json", "*/dataset_info.json", ".*"]


def push_to_hub(folder: str | Path, repo_id: str, private: bool = True, token: str | None = None,
                endpoint: str | None = None, commit_message: str | None = None,
                revision: str | None = None) -> str:
    """Create (if needed) the dataset repo `repo_id` and upload `folder` in one commit; returns the commit URL."""
    import huggingface_hub as hub  # a core dependency; imported here to keep `import curate` light
    import huggingface_hub.errors  # noqa: F401  (hub.errors below)
    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise ConfigError(f"{folder} has no README.md: push an export folder (curate export RUN --out {folder})")
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise ConfigError("no Hugging Face token: set the HF_TOKEN environment variable (a write token)")
    if "/" not in repo_id:
        raise ConfigError(f"repo id '{repo_id}' needs a namespace: 'user-or-org/{repo_id}'")
    api = hub.HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(folder),
                                 commit_message=commit_message or f"curate export of {folder.name}",
                                 revision=revision, ignore_patterns=IGNORE)
    except hub.errors.OfflineModeIsEnabled as e:
        raise BackendError("HF_HUB_OFFLINE is set, so the Hub client refuses every request; unset it to push") from e
    except ValueError as e:  # the Hub's /api/validate-yaml rejected the card's metadata
        if "metadata" not in str(e):
            raise
        raise ConfigError(f"{folder / 'README.md'}: the Hub rejects its YAML front matter: {e}") from e
    except hub.errors.HfHubHTTPError as e:
        status = getattr(e.response, "status_code", "?")
        hint = " (check that HF_TOKEN is a write token for this namespace)" if status in (401, 403) else ""
        # str(e) carries the server's message and the URL, never the token
        raise BackendError(f"pushing {folder} to {repo_id} failed with HTTP {status}{hint}: {e}") from e
    return info.commit_url
