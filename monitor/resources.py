"""Where the shipped rule pack, templates and offline example live.

Their single source is the top of the source tree (``rules/``, ``templates/``, ``examples/``),
which is where a checkout or an editable install finds them. A wheel carries copies of them
inside the package, as ``monitor/_data/<name>/`` (written by the build step in ``setup.py``);
that copy wins when it is there.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from monitor.errors import TemplateError

PACKAGE_DIR = Path(str(files("monitor")))
SOURCE_ROOT = PACKAGE_DIR.resolve().parent
"""The source tree above the package (a checkout); its data is used when no wheel copy exists."""

SHIPPED_RULES = "shipped"
"""The token in ``rules:`` (and ``--rules``) that stands for the shipped rule pack."""


def data_dir(name: str) -> Path:
    """``rules``, ``templates`` or ``examples``: the installed copy, else the source tree's."""
    installed = PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else SOURCE_ROOT / name


def shipped_rules_dir() -> Path:
    return data_dir("rules")


def shipped_templates_dir() -> Path:
    return data_dir("templates")


def example_config() -> Path:
    return data_dir("examples") / "monitor.yaml"


def rule_path(raw: str | Path, base: Path | None = None) -> Path:
    """One entry of ``rules:`` or ``--rules``: ``shipped``, or a path (relative to ``base``)."""
    if isinstance(raw, str) and raw.strip() == SHIPPED_RULES:
        return shipped_rules_dir()
    path = Path(raw).expanduser()
    return path if base is None or path.is_absolute() else base / path


def describe_rule_paths(paths: list[Path]) -> str:
    """Which rule packs ``paths`` are, for logs and ``rules check``: names the shipped pack, and
    says so when it is *not* loaded (a ``rules:`` list without ``shipped`` replaces it)."""
    shipped = shipped_rules_dir().resolve()
    parts = ["the shipped pack" if _same(p, shipped) else str(p) for p in paths] or ["nothing"]
    text = " + ".join(parts)
    if not any(_same(p, shipped) for p in paths):
        text += f" (the shipped pack is not loaded: add `{SHIPPED_RULES}` to `rules:` for it)"
    return text


def _same(path: Path, other: Path) -> bool:
    try:
        return path.resolve() == other
    except OSError:
        return False


def check_template_dir(user_dir: Path | None) -> None:
    """A configured template folder must exist (checked at start, before anything renders)."""
    if user_dir is not None and not Path(user_dir).is_dir():
        raise TemplateError(
            f"template folder {user_dir} does not exist or is not a folder; "
            "hint: create it, or remove the templates setting to use the shipped ones"
        )
