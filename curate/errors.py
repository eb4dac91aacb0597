"""The exceptions curate raises.

Every error a user can cause derives from ``CurateError``; the CLI prints its
message as one line and exits non-zero. Messages say what is wrong, where
(file:line, record id, config key) and what to do next.

    CurateError
    ├── ConfigError          a pipeline file or option is invalid
    ├── InputError           a data file cannot be read at all (bad *records* are quarantined instead)
    ├── BackendError         an LLM / embedder / index / store backend failed
    │   ├── MissingDependency  an optional extra is not installed (package, extra, purpose)
    │   ├── AnswerRejected     an annotator's answer is invalid or not allowed
    │   │   └── AnswerConflict   the store refuses it: already answered (answers are final), or not leased
    │   └── LoginThrottled     too many failed logins for a name or address (retry_after)
    ├── SchemaError          a step produced (or was given) a batch without the record schema
    ├── ResumeError          a run directory does not match the pipeline being resumed
    ├── RunCheckFailed       a finished run failed a health check (check, value, limit); files are written
    └── Interrupted          Ctrl-C: the run stopped at a checkpoint (run_dir, stage, done)

    RecordError (a ValueError, not a CurateError): one bad record; the reader quarantines it.

Errors with structured fields rebuild themselves from those fields when unpickled
(``__reduce__``), so an error raised on a Ray worker reaches the driver as itself.
"""

from __future__ import annotations

import math
from typing import Any


class CurateError(Exception):
    """Root of every error curate raises on purpose."""

    def _init_args(self) -> tuple[Any, ...]:
        """The constructor's arguments; subclasses with structured fields return those."""
        return self.args

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls cls(*self.args), which breaks for subclasses whose
        # __init__ takes fields rather than the message
        return type(self), self._init_args(), self.__dict__ or None


class ConfigError(CurateError):
    """A pipeline file, step option or backend name is invalid."""


class InputError(CurateError):
    """A data source cannot be opened or has no usable layout."""


class BackendError(CurateError):
    """A backend (LLM, embedder, index, annotation store) failed."""


class MissingDependency(BackendError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str):
        self.package, self.extra, self.purpose = package, extra, purpose
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed. "
            f"Install it with: pip install 'curate[{extra}]'"
        )

    def _init_args(self) -> tuple[Any, ...]:
        return self.package, self.extra, self.purpose


class AnswerRejected(BackendError):
    """A submitted answer is invalid or not allowed (wrong task, not a member, bad choice)."""


class AnswerConflict(AnswerRejected):
    """A valid answer the store's state refuses: the annotator already answered the item (answers are
    final; ``stored`` is the answer kept), or the item is not held (leased) for them."""

    def __init__(self, message: str, stored: Any = None):
        self.stored = stored
        super().__init__(message)

    def _init_args(self) -> tuple[Any, ...]:
        return (str(self), self.stored)


class LoginThrottled(BackendError):
    """Too many failed logins for this user name or client address; `retry_after` is in whole seconds."""

    def __init__(self, wait: float):
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(f"too many failed logins for this account or address; try again in {self.retry_after} s")

    def _init_args(self) -> tuple[Any, ...]:
        return (self.retry_after,)


class SchemaError(CurateError):
    """A batch lacks a required column or has it with the wrong type."""


class ResumeError(CurateError):
    """`--resume` was asked for a run directory written by a different pipeline."""


class RunCheckFailed(CurateError):
    """A run finished (its files are written) but failed a health check, e.g. it wrote no records."""

    def __init__(self, check: str, reason: str, value: float | None = None, limit: float | None = None):
        self.check, self.reason, self.value, self.limit = check, reason, value, limit
        super().__init__(reason)

    def _init_args(self) -> tuple[Any, ...]:
        return self.check, self.reason, self.value, self.limit


class Interrupted(CurateError):
    """Ctrl-C: the run stopped at a checkpoint and can be resumed."""

    def __init__(self, run_dir: str, stage: int, done: int):
        self.run_dir, self.stage, self.done = str(run_dir), stage, done
        super().__init__(
            f"interrupted; {done} batches of stage {stage} are committed in {self.run_dir}. "
            f"Continue with: curate run PIPELINE --resume"
        )

    def _init_args(self) -> tuple[Any, ...]:
        return self.run_dir, self.stage, self.done


class RecordError(ValueError):
    """One record is invalid. Not a CurateError: the reader catches it and quarantines the record."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, self.detail)


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise MissingDependency with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependency(module.split(".")[0], extra, purpose) from e
