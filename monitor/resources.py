"""Where the shipped rule pack, templates and offline example live.

They sit at the top of the source tree (``rules/``, ``templates/``, ``examples/``), which is where
an editable install or a checkout finds them.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import TemplateError

ROOT = Path(__file__).resolve().parent.parent


def shipped_rules_dir() -> Path:
    return ROOT / "rules"


def shipped_templates_dir() -> Path:
    return ROOT / "templates"


def example_config() -> Path:
    return ROOT / "examples" / "monitor.yaml"


def check_template_dir(user_dir: Path | None) -> None:
    """A configured template folder must exist (checked at start, before anything renders)."""
    if user_dir is not None and not Path(user_dir).is_dir():
        raise TemplateError(
            f"template folder {user_dir} does not exist or is not a folder; "
            "hint: create it, or remove the templates setting to use the shipped ones"
        )
