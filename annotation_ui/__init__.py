"""The annotator web app: FastAPI + server-rendered Jinja pages over the SQLite annotation store.

    curate annotate serve --db annotate.db
    # or: uvicorn --factory --no-proxy-headers annotation_ui.app:app_from_env
"""

from annotation_ui.app import create_app

__all__ = ["create_app"]
