"""curate: streaming pipelines that turn prompts or preference pairs into clean RM training data.

Public API (``tests/test_api.py`` checks this list is complete and importable)::

    Pipeline, Step, Options, RunContext          build and run pipelines
    load_pipeline, PipelineConfig                YAML configs
    read_records, Reader                         read data / run outputs
    schema                                       the record schema and helpers
    CurateError, ConfigError, InputError, BackendError, MissingDependency, AnswerRejected,
    AnswerConflict, LoginThrottled, SchemaError, ResumeError, RunCheckFailed, Interrupted, RecordError   every error
"""

from curate import schema
from curate.config import PipelineConfig, load_pipeline
from curate.context import RunContext
from curate.errors import (
                           AnswerConflict,
                           AnswerRejected,
                           BackendError,
                           ConfigError,
                           CurateError,
                           InputError,
                           Interrupted,
                           LoginThrottled,
                           MissingDependency,
                           RecordError,
                           ResumeError,
                           RunCheckFailed,
                           SchemaError,
)
from curate.io.reader import Reader
from curate.io.writers import read_records
from curate.pipeline import Pipeline
from curate.step import Options, Step

__version__ = "0.1.0"

__all__ = [
    "AnswerConflict", "AnswerRejected", "Interrupted", "LoginThrottled", "RecordError", "RunCheckFailed",
    "BackendError", "ConfigError", "CurateError", "InputError", "MissingDependency", "Options", "Pipeline",
    "PipelineConfig", "Reader", "ResumeError", "RunContext", "SchemaError", "Step", "load_pipeline",
    "read_records", "schema", "__version__",
]
