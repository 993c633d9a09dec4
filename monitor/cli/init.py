"""Command: ``monitor init [DIR]`` writes a starter monitor.yaml and a rules folder of one's own."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.app import cli
from monitor.config.starter import CONFIG_NAME, RULES_DIR, write_starter


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite the starter files if they exist.")
def init_command(directory: Path | None, force: bool) -> None:
    """Start your own monitor in DIRECTORY (default: here): a commented monitor.yaml that loads
    the shipped rule pack plus my-rules/, and an example rule file there. Never overwrites
    existing files unless --force (exit 2)."""
    target = directory or Path(".")
    for item in write_starter(target, force=force):
        click.echo(f"{'replaced' if item.replaced else 'wrote'} {item.path}")
    steps = [
        f"add your feeds under `feeds:` in {target / CONFIG_NAME}, your own rules to "
        f"{target / RULES_DIR}/",
        *([f"cd {target}"] if directory is not None else []),
        "monitor rules check   # which rule packs are loaded, and any problem in them",
        "monitor once          # one cycle: poll, match, write the outbox",
    ]
    click.echo("\nNext:")
    for n, step in enumerate(steps, 1):
        click.echo(f"  {n}. {step}")
