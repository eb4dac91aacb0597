"""Judge prompt templates: Jinja files users can copy and edit.

The built-in templates live in ``curate/judge/templates/*.j2``. A step's ``template`` option is
either one of those names (``pairwise.j2``) or a path to your own file; ``curate`` never evaluates
anything else from a config. Templates render in Jinja's sandbox with ``StrictUndefined``, so a
misspelt variable is an error at setup, not a silently empty prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.errors import ConfigError

TEMPLATE_DIR = Path(__file__).parent / "templates"


def builtin_templates() -> list[str]:
    return sorted(p.name for p in TEMPLATE_DIR.glob("*.j2"))


class PromptTemplate:
    """One Jinja template, loaded from the built-ins by name or from a file path."""

    def __init__(self, name_or_path: str):
        from jinja2 import StrictUndefined, TemplateSyntaxError
        from jinja2.sandbox import SandboxedEnvironment

        path = TEMPLATE_DIR / name_or_path
        if not path.is_file():
            path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"judge template '{name_or_path}' not found: give a built-in name "
                f"({', '.join(builtin_templates())}) or the path of a .j2 file"
            )
        self.path = path
        env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
        try:
            self._t = env.from_string(path.read_text(encoding="utf-8"))
        except TemplateSyntaxError as e:
            raise ConfigError(f"{path}:{e.lineno}: template syntax error: {e.message}") from e

    def render(self, **variables: Any) -> str:
        from jinja2 import UndefinedError
        from jinja2.sandbox import SecurityError

        try:
            return self._t.render(**variables).strip()
        except (SecurityError, OverflowError) as e:  # unsafe attribute or call; range() over the sandbox's MAX_RANGE
            raise ConfigError(f"{self.path}: the template sandbox blocked this ({e}); templates may use the "
                              f"variables {', '.join(sorted(variables))} and plain filters only") from e
        except UndefinedError as e:
            raise ConfigError(
                f"{self.path}: {e.message}; the variables available here are {', '.join(sorted(variables))}"
            ) from e


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut very long responses so the prompt fits a small model's context; says whether it cut."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars] + " [...truncated]", True
