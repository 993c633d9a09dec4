"""The root ``monitor`` command group and the context every subcommand gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import __version__

if TYPE_CHECKING:
    from monitor.config import Settings


@dataclass
class CliContext:
    """Lazily loaded settings: commands that do not need monitor.yaml never read it."""

    config_path: Path | None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from monitor.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings


pass_ctx = click.make_pass_decorator(CliContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def accept_config_anywhere(group: click.Group) -> None:
    """Give every subcommand (and sub-group) a ``--config/-c`` option too: users type
    ``monitor once --config x.yaml`` as often as ``monitor --config x.yaml once``. The one
    nearest the command wins; ``MONITOR_CONFIG`` stays the root option's fallback."""
    for command in group.commands.values():
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
            accept_config_anywhere(command)


def echo_json(obj: Any) -> None:
    import json

    from monitor.secrets import redact

    click.echo(redact(json.dumps(obj, ensure_ascii=False, default=str)))
