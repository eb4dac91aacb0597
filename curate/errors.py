"""The exceptions curate raises.

Every error a user can cause derives from ``CurateError``; the CLI prints its
message as one line and exits non-zero. Messages say what is wrong, where
(file:line, record id, config key) and what to do next.

    CurateError
    ├── ConfigError          a pipeline file or option is invalid
    ├── InputError           a data file cannot be read at all (bad *records* are quarantined instead)
    ├── BackendError         an LLM / embedder / index / store backend failed
    │   └── MissingDependency  an optional extra is not installed
    ├── SchemaError          a step produced (or was given) a batch without the record schema
    └── ResumeError          a run directory does not match the pipeline being resumed
"""

from __future__ import annotations


class CurateError(Exception):
    """Root of every error curate raises on purpose."""


class ConfigError(CurateError):
    """A pipeline file, step option or backend name is invalid."""


class InputError(CurateError):
    """A data source cannot be opened or has no usable layout."""


class BackendError(CurateError):
    """A backend (LLM, embedder, index, annotation store) failed."""


class MissingDependency(BackendError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str):
        self.package, self.extra = package, extra
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed. "
            f"Install it with: pip install 'curate[{extra}]'"
        )


class SchemaError(CurateError):
    """A batch lacks a required column or has it with the wrong type."""


class ResumeError(CurateError):
    """`--resume` was asked for a run directory written by a different pipeline."""


class RecordError(ValueError):
    """One record is invalid. Not a CurateError: the reader catches it and quarantines the record."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise MissingDependency with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependency(module.split(".")[0], extra, purpose) from e
