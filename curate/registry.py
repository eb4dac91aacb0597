"""Name → class registries for steps and for each backend interface.

Config names things by a typed string (``step: semantic_dedup``, ``backend: openai``); the
registry maps that string to the class. Modules register with a decorator; ``curate.catalog``
imports every module that registers something, so a new step or backend goes in its stage folder
and gets one import line there.

Every backend class (LLM, embedder, vector index, annotation store) declares an ``Options``
pydantic model with unknown keys forbidden; ``build(registry, name, options, where=...)`` validates
the user's options against it and constructs the backend, so a typo in any backend option is a
ConfigError that names the backend, the key and the keys allowed. ``options_for`` is the
validation alone (for config models that check options when the pipeline is loaded).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from curate.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            key = name or obj.name
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


class NoOptions(BaseModel):
    """The options of a backend that takes none: any key is a typo."""

    model_config = ConfigDict(extra="forbid")


def options_for(registry: Registry, name: str, options: Mapping[str, Any] | BaseModel | None = None,
                where: str = "") -> BaseModel:
    """Validate `options` against the ``Options`` model of the backend `name` in `registry`.

    Returns the validated model. Raises ConfigError naming the place (`where`, e.g.
    ``steps.2.llm.options``), the backend, each bad key or value, and the keys it allows.
    """
    cls = registry.get(name)
    return validate_options(getattr(cls, "Options", None) or NoOptions, options, what=registry.what,
                            name=name, where=where)


def validate_options(model: type[BaseModel], options: Mapping[str, Any] | BaseModel | None, *, what: str,
                     name: str, where: str = "") -> BaseModel:
    """`options` → `model`, the one check every typed seam uses (backends, input formats); a
    ConfigError names the place, the thing (``what`` ``name``), each bad key and the allowed keys."""
    if isinstance(options, model):
        return options
    if isinstance(options, BaseModel):
        options = options.model_dump()
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as e:
        raise ConfigError(_explain(e, what, name, model, where)) from None


def build(registry: Registry, name: str, options: Mapping[str, Any] | BaseModel | None = None, *,
          where: str = "", **fixed: Any) -> Any:
    """Construct the backend `name` of `registry` with validated `options`.

    ``fixed`` are the constructor arguments that come from the caller, not from the user's options
    (an index's ``dim``, an LLM's ``model``). The validated options are passed as keyword arguments,
    so a backend's constructor names are its option names.
    """
    opts = options_for(registry, name, options, where)
    return registry.get(name)(**fixed, **opts.model_dump())


def _explain(err: ValidationError, what: str, name: str, model: type[BaseModel], where: str) -> str:
    allowed = ", ".join(model.model_fields) or "(none)"
    place = f"{where}: " if where else ""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(options)"
        if e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(e["loc"][0]), model.model_fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"unknown option '{key}'{hint}")
        else:
            lines.append(f"option '{key}': {e['msg']} (got {e.get('input')!r})")
    return f"{place}{what} '{name}': {'; '.join(lines)}. Allowed options: {allowed}"


def gather_backend_options(data: Any, drop_none: bool = False) -> Any:
    """For a ``{backend: NAME, ...}`` config block (``store:``, ``index:``), before validation: every key
    but ``backend`` and ``options`` is one of that backend's options, gathered into ``options``."""
    if not isinstance(data, dict):
        return data
    flat = {k: v for k, v in data.items() if k not in ("backend", "options")}
    options = {**(data.get("options") or {}), **flat}
    out = {"options": {k: v for k, v in options.items() if not (drop_none and v is None)}}
    if "backend" in data:
        out["backend"] = data["backend"]
    return out


def check_options(registry: Registry, name: str, options: Mapping[str, Any] | None, where: str = "") -> None:
    """For pydantic validators of config models: like ``options_for`` but raises ValueError, which
    pydantic reports with the key's location (file:line in a pipeline)."""
    try:
        options_for(registry, name, options, where)
    except ConfigError as e:
        raise ValueError(str(e)) from None
