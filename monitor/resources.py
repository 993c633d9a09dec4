"""Where the shipped rule pack, templates and offline example live.

They sit at the top of the source tree (``rules/``, ``templates/``, ``examples/``), which is where
an editable install or a checkout finds them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shipped_rules_dir() -> Path:
    return ROOT / "rules"


def shipped_templates_dir() -> Path:
    return ROOT / "templates"


def example_config() -> Path:
    return ROOT / "examples" / "monitor.yaml"
