"""``monitor init``: a starter ``monitor.yaml`` and a rules folder of the user's own.

The files are ``examples/starter/`` (shipped like the offline example): a commented config that
loads the shipped rule pack plus ``my-rules/``, and one example rule file. Existing files are
never overwritten unless asked to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.errors import ConfigError
from monitor.resources import data_dir

CONFIG_NAME = "monitor.yaml"
RULES_DIR = "my-rules"


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    replaced: bool


def starter_dir() -> Path:
    return data_dir("examples") / "starter"


def starter_files() -> list[tuple[Path, Path]]:
    """(relative target, shipped source) for every starter file, config first."""
    root = starter_dir()
    rules = sorted(p.relative_to(root) for p in (root / RULES_DIR).glob("*.yaml"))
    files = [Path(CONFIG_NAME), *rules]
    return [(rel, root / rel) for rel in files]


def write_starter(target: Path, *, force: bool = False) -> list[Written]:
    """Write the starter files into ``target`` (created if needed).

    Raises ``ConfigError`` (exit 2) naming the files that exist, before writing anything,
    unless ``force``.
    """
    if target.exists() and not target.is_dir():
        raise ConfigError("not a folder", file=str(target), hint="give a folder: monitor init DIR")
    plan = [(target / rel, source) for rel, source in starter_files()]
    existing = [dest for dest, _ in plan if dest.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise ConfigError(
            f"not overwriting what is there: {names}",
            hint="keep your files and edit them, pick another folder (monitor init DIR), "
            "or overwrite with --force",
        )
    written = []
    for dest, source in plan:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            replaced = dest.exists()
            dest.write_bytes(source.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror or exc}", file=str(dest)) from None
        written.append(Written(dest, replaced))
    return written
