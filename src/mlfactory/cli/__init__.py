"""The ``mlfactory`` command: parses arguments, calls the Python API, prints.

Exit codes: 0 success (for ``train``: promoted), 3 a gate held the model back
(or ``monitor`` found drift), 2 bad input, 1 any other failure: an error exits
with its class's ``exit_code`` (``mlfactory.errors``). Errors are one paragraph;
``--debug`` shows the traceback. One module per group of commands; importing them registers them
on ``app``.
"""

from __future__ import annotations

import sys
from typing import Any

# importing a module registers its commands; this is their order in --help
# isort: off
from mlfactory.cli import factory  # noqa: F401
from mlfactory.cli import serve  # noqa: F401
from mlfactory.cli import batch  # noqa: F401
from mlfactory.cli import monitor  # noqa: F401
from mlfactory.cli import models  # noqa: F401
from mlfactory.cli import etml  # noqa: F401
from mlfactory.cli import export_containers  # noqa: F401
from mlfactory.cli import init  # noqa: F401
from mlfactory.cli import export_lambda  # noqa: F401
from mlfactory.cli import export_airflow  # noqa: F401

# isort: on
from rich.markup import escape

from mlfactory.cli.app import app, err
from mlfactory.errors import MlfactoryError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command and map errors to exit codes."""
    import click
    import typer

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        result: Any = app(args=args, prog_name="mlfactory", standalone_mode=False)
    # typer 0.29 raises its own copies of click's exceptions (typer.Exit, typer.Abort,
    # and usage errors under typer.TyperException): both kinds are caught here
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(exc.exit_code)
    except (click.ClickException, typer.TyperException) as exc:
        if hasattr(exc, "show"):  # a bad option value or usage: click's own message
            exc.show()
        else:
            err.print(f"error: {escape(str(exc))}", highlight=False)
        return 2
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return 130
    except MlfactoryError as exc:
        if debug:
            raise
        # soft wrap: a long path or URI in the message stays whole, to copy and paste
        err.print(
            f"[bold red]error[/] ({type(exc).__name__}): {escape(str(exc))}",
            highlight=False,
            soft_wrap=True,
        )
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"[bold red]internal error[/]: {type(exc).__name__}: {escape(str(exc))}\n"
            "This is a bug in mlfactory; run again with --debug for the traceback and report it.",
            highlight=False,
        )
        return 1
    return result if isinstance(result, int) else 0
