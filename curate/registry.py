"""Name → class registries for steps and for each backend interface.

Config names things by a typed string (``step: semantic_dedup``, ``backend: openai``); the
registry maps that string to the class. Modules register with a decorator; ``curate.catalog``
imports every module that registers something, so a new step or backend goes in its stage folder
and gets one import line there.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from curate.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            key = name or getattr(obj, "name")
            if key in self._items and self._items[key] is not obj:
                raise ConfigError(f"two {self.what}s are registered as '{key}'")
            self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        from curate import catalog

        catalog.load_all()
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.what} '{name}'.{hint} Known: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        from curate import catalog

        catalog.load_all()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


STEPS: Registry = Registry("step")
FORMATS: Registry = Registry("input format")
LLMS: Registry = Registry("LLM backend")
EMBEDDERS: Registry = Registry("embedder")
INDEXES: Registry = Registry("vector index")
STORES: Registry = Registry("annotation store")
ENGINES: Registry = Registry("engine")  # runners: curate/runner/local.py, ray_engine.py
