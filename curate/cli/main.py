"""Entry point: ``curate run | validate | inspect | steps`` (+ groups added by later stages).

Errors a user can fix (CurateError) print as one line and exit 2 (config/input) or 1 (others);
Ctrl-C exits 130 after saying how to resume.
"""

from __future__ import annotations

import importlib
import sys

import click

from curate.errors import ConfigError, CurateError, InputError, Interrupted

# modules that add commands to the group; a new command module gets a line here
COMMAND_MODULES = [
    "curate.cli.run", "curate.cli.steps", "curate.cli.inspect", "curate.cli.annotate", "curate.cli.export",
]


class CurateGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CurateError as e:
            msg = str(e)
            click.echo(f"error: {msg}", err=True)
            code = 130 if isinstance(e, Interrupted) else 2 if isinstance(e, (ConfigError, InputError)) else 1
            sys.exit(code)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curate")
def cli() -> None:
    """curate: curate preference data for reward-model training.

    \b
    Examples:
      curate steps                         list every step with its columns and options
      curate validate pipelines/demo.yaml  check a pipeline file without running it
      curate run pipelines/demo.yaml       run it (add --resume after a crash or Ctrl-C)
      curate inspect runs/demo             counts, lengths, sources and samples of a dataset
    """


for _mod in COMMAND_MODULES:
    importlib.import_module(_mod).register(cli)


def main() -> None:  # console script
    cli()


if __name__ == "__main__":
    main()
