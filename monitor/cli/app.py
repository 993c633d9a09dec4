"""The root ``monitor`` command group and the context every subcommand gets."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import __version__

if TYPE_CHECKING:
    from monitor.config.settings import Settings


@dataclass
class CliContext:
    """Lazily loaded settings: commands that do not need monitor.yaml never read it."""

    config_path: Path | None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from monitor.config.settings import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings


pass_ctx = click.make_pass_decorator(CliContext)

LAZY_COMMANDS: dict[str, str] = {
    "run": "monitor.cli.ingest",
    "once": "monitor.cli.ingest",
    "status": "monitor.cli.ingest",
    "feeds": "monitor.cli.ingest",
    "digest": "monitor.cli.delivery",
    "deliveries": "monitor.cli.delivery",
    "match": "monitor.cli.matching",
    "explain": "monitor.cli.matching",
    "rules": "monitor.cli.matching",
    "backtest": "monitor.cli.backtest",
    "init": "monitor.cli.init",
    "stories": "monitor.cli.stories",
    "web": "monitor.cli.web",
}
"""Which module registers each command: `monitor run` imports only what the daemon needs."""


class LazyGroup(click.Group):
    """Imports a command's module when the command is looked up (help lists them all)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            importlib.import_module(LAZY_COMMANDS[cmd_name])
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            accept_config(command)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MONITOR_CONFIG",
    default=None,
    help="monitor.yaml to use (default: ./monitor.yaml, else the bundled offline example).",
)
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Critical-raw-materials news monitor: feeds in, matched alerts and digests out."""
    ctx.obj = CliContext(config_path=config_path)


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        obj = ctx.find_object(CliContext)
        if obj is not None:
            obj.config_path, obj._settings = value, None


def accept_config(command: click.Command) -> None:
    """Give a subcommand, and a group's subcommands, a ``--config/-c`` option too: users type
    ``monitor once --config x.yaml`` as often as ``monitor --config x.yaml once``. The one
    nearest the command wins; ``MONITOR_CONFIG`` stays the root option's fallback. Called as the
    root group looks a command up (commands are registered lazily); adding it twice is a no-op."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if "--config" not in taken:
        command.params.append(
            click.Option(
                ["--config", *(() if "-c" in taken else ("-c",))],
                type=click.Path(dir_okay=False, path_type=Path),
                expose_value=False,
                callback=_set_config,
                help="monitor.yaml to use (same as `monitor --config FILE ...`).",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_config(sub)


def echo_json(obj: Any) -> None:
    import json

    from monitor.secrets import redact

    click.echo(redact(json.dumps(obj, ensure_ascii=False, default=str)))
