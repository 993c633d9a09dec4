"""The command line only: parse arguments, call into the package, print, set exit codes.

Each submodule registers the commands of one area on the root group; it is imported when one of
its commands runs (``LAZY_COMMANDS``), so that `monitor run` does not load the matching tools.
"""

from __future__ import annotations

import sys

import click

from monitor.cli.app import LAZY_COMMANDS, cli
from monitor.errors import MonitorError
from monitor.secrets import redact

__all__ = ["LAZY_COMMANDS", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a user's mistake is a message and an exit code, no traceback."""
    try:
        rv = cli.main(args=argv, prog_name="monitor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        setattr(exc, "message", redact(exc.message))  # noqa: B010  (a Final attribute)
        exc.show()
        sys.exit(exc.exit_code)
    except MonitorError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
