"""Build step only (all metadata is in pyproject.toml): put the shipped data into the wheel.

The rule pack, the templates and the offline example live at the top of the source tree
(``rules/``, ``templates/``, ``examples/``), their single source. A wheel carries copies of them
as ``monitor/_data/<name>/``, made here at build time; ``monitor.resources`` looks there first
and falls back to the source tree (an editable install or a checkout).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = ("rules", "templates", "examples")
IGNORE = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.db", "*.db-*", ".*")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree itself
        target = Path(self.build_lib) / "monitor" / "_data"
        for name in DATA:
            source = ROOT / name
            if not source.is_dir():
                raise SystemExit(f"error: {source} is missing; cannot build without it")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(source, target / name, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
