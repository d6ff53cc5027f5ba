"""The ``tensorgame`` command group and its error policy.

A scheme that fails exact verification where a correct one was needed
(:class:`VerificationError`, raised by any command) prints one line ``error: ...``
and exits 1, the status ``verify`` gives a wrong scheme. Any other user mistake (a
:class:`TensorGameError`, which the readers and writers also raise for unreadable or
unwritable paths) prints one line ``error: ...`` and exits 2; click's own usage errors
exit 2 as well; Ctrl-C exits 130. Programming errors keep their traceback. The
policy lives in the group itself, so ``CliRunner`` tests see exactly what the console
script does.

Commands are imported when they are used (:data:`COMMANDS`), so ``tensorgame flip``
does not pay for the catalogue browser, the code generator or the agent.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import click

from tensorgame import __version__
from tensorgame.catalog import ENV_VAR
from tensorgame.cli.common import CliState
from tensorgame.errors import TensorGameError, VerificationError

#: command name -> (module, object), in the order ``--help`` lists them.
COMMANDS = {
    "verify": ("tensorgame.cli.verify_cmd", "verify"),
    "catalog": ("tensorgame.cli.catalog_cmd", "catalog"),
    "target": ("tensorgame.cli.target_cmd", "target"),
    "show": ("tensorgame.cli.show_cmd", "show"),
    "lift": ("tensorgame.cli.lift_cmd", "lift"),
    "train": ("tensorgame.cli.train_cmd", "train"),
    "report": ("tensorgame.cli.report_cmd", "report"),
    "discover": ("tensorgame.cli.discover_cmd", "discover"),
    "flip": ("tensorgame.cli.flip_cmd", "flip"),
    "codegen": ("tensorgame.cli.codegen_cmd", "codegen"),
    "bench": ("tensorgame.cli.codegen_cmd", "bench"),
    "additions": ("tensorgame.cli.additions_cmd", "additions"),
}

#: Exit status of a wrong scheme, in every command.
WRONG_SCHEME = 1
#: Exit status of a user mistake (same as click's usage errors).
USER_ERROR = 2
#: Conventional status after SIGINT (128 + 2).
INTERRUPTED = 130


class UserError(click.ClickException):
    """A one-line ``error: <message>`` on stderr."""

    exit_code = USER_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {' '.join(self.format_message().split())}", err=True)


class WrongScheme(UserError):
    """A scheme failed exact verification: one ``error: <message>`` line, exit 1."""

    exit_code = WRONG_SCHEME


class Interrupted(click.ClickException):
    """Ctrl-C: one line, no traceback."""

    exit_code = INTERRUPTED

    def show(self, file: Any = None) -> None:
        click.echo("interrupted", err=True)


class TensorGameGroup(click.Group):
    """Turns user mistakes raised anywhere below into click exceptions with our codes,
    and imports each command on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, name = COMMANDS[cmd_name]
            self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VerificationError as exc:
            raise WrongScheme(str(exc)) from None
        except TensorGameError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None


@click.group(cls=TensorGameGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path),
    envvar=ENV_VAR, show_envvar=True,
    help="Scheme catalogue (SQLite file). Default: the user data directory.",
)
@click.version_option(__version__, prog_name="tensorgame")
@click.pass_context
def cli(ctx: click.Context, catalog_path: Path | None) -> None:
    """Discover, verify and catalogue fast bilinear algorithms (matrix multiplication
    and beyond). Exit status: 0 success, 1 a scheme is wrong, 2 bad input."""
    ctx.obj = CliState(catalog_path)



def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="tensorgame")
