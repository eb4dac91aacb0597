"""What the runner hands every step at setup: where to write, where to cache, shared resources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunContext:
    run_dir: Path
    cache_dir: Path
    seed: int = 0
    progress: bool = True
    _resources: dict[str, Any] = field(default_factory=dict, repr=False)

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """Share one heavy object (a loaded model, an LLM client) between the steps of a run."""
        if key not in self._resources:
            self._resources[key] = factory()
        return self._resources[key]

    def close(self) -> None:
        for obj in self._resources.values():
            close = getattr(obj, "close", None)
            if callable(close):
                close()
        self._resources.clear()

    @classmethod
    def for_dir(cls, run_dir: str | Path, **kw: Any) -> RunContext:
        run_dir = Path(run_dir)
        cache = Path(kw.pop("cache_dir", None) or run_dir / "cache")
        run_dir.mkdir(parents=True, exist_ok=True)
        cache.mkdir(parents=True, exist_ok=True)
        return cls(run_dir=run_dir, cache_dir=cache, **kw)
