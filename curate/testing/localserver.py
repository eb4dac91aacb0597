"""Serve an ASGI app on 127.0.0.1 in a background thread: the one helper behind curate's local
stand-ins (the OpenAI-compatible test server, the Argilla and Hub stand-ins) and their tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from curate.errors import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """``start()`` returns once uvicorn accepts connections; ``stop()`` shuts it down."""

    def __init__(self, app: Any, port: int | None = None, name: str = "server", **uvicorn_options: Any):
        self.app, self.port, self.name = app, port or free_port(), name
        self.options = {"log_level": "warning", **uvicorn_options}
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ThreadedServer:
        uvicorn = require("uvicorn", "ui", f"the {self.name}")
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, **self.options))
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=self.name)
        self._thread.start()
        deadline = time.time() + timeout_s
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.name} did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)
        return self

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
