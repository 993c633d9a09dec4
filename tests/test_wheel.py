"""The package as a user installs it: sdist -> wheel -> a fresh venv outside the checkout.

`python -m build` builds the sdist and then the wheel *from the sdist*, so both are checked. The
wheel goes into a new venv with `--no-deps`; the dependencies come from the test venv's
site-packages through a .pth line (offline and fast; that directory's own .pth files, among them
the editable install's, are not run, so `monitor` can only come from the wheel). Every command
runs in an empty folder with no PYTHONPATH: what it finds, the wheel carries.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.feed_server import FeedServer
from tests.fixtures.resources import need
from tests.support import TUNGSTEN_FEED, add_feed_to_starter, matched_rules

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DATA = ("rules", "templates", "examples")


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MONITOR_CONFIG"}}
        return subprocess.run(
            [str(self.bin / "monitor"), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "NO_PROXY": "*"},
        )


def run(*cmd: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _setuptools_ok() -> bool:
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need(
        importlib.util.find_spec("build") is not None and _setuptools_ok(),
        "`build` and setuptools>=77 (dev extras) are needed: pip install -e '.[dev]'",
    )
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="session")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", "--clear", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", built.wheel)
    where = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    purelib = Path(where.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (purelib / "_test_deps.pth").write_text("\n".join(deps) + "\n")
    return Installed(venv)


def _tree(root: Path) -> set[str]:
    skip = {"__pycache__"}
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.parts) and p.suffix not in {".pyc", ".db"}
    }


def test_the_checkout_holds_no_copy_of_the_data() -> None:
    assert not (REPO / "monitor" / "_data").exists()


def test_the_sdist_carries_the_data_and_the_licence(built: Built) -> None:
    with tarfile.open(built.sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.removeprefix(f"{top}/") for n in tar.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in"} <= names
    for name in DATA:
        assert {f"{name}/{f}" for f in _tree(REPO / name)} <= names, name
    assert not any(n.startswith("monitor/_data") for n in names)


def test_the_wheel_carries_the_data_inside_the_package(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as whl:
        names = set(whl.namelist())
        metadata = next(whl.read(n) for n in names if n.endswith(".dist-info/METADATA"))
    for name in DATA:
        expected = {f"monitor/_data/{name}/{f}" for f in _tree(REPO / name)}
        assert expected <= names, sorted(expected - names)
    assert "monitor/_data/examples/starter/my-rules/example.yaml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert b"License-Expression: MIT" in metadata
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert "raw-materials-monitor contributors" in (REPO / "LICENSE").read_text()


def test_installed_monitor_uses_its_own_files(installed: Installed, tmp_path: Path) -> None:
    code = (
        "import monitor, monitor.resources as r; "
        "print(monitor.__file__); print(r.shipped_rules_dir()); print(r.shipped_templates_dir()); "
        "print(r.example_config())"
    )
    out = subprocess.run(
        [str(installed.bin / "python"), "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert out.returncode == 0, out.stderr
    paths = [Path(p) for p in out.stdout.split()]
    assert all(p.is_relative_to(installed.venv) for p in paths), paths
    assert all(p.exists() for p in paths)


def test_offline_example_and_rules_check_from_an_empty_folder(
    installed: Installed, tmp_path: Path
) -> None:
    once = installed.run("once", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert "Polled 5 feeds" in once.stdout and "0 failed" in once.stdout
    assert "Klingbeil will mehr Kooperation bei kritischen Rohstoffen" in once.stdout
    assert "Delivered 1 digest." in once.stdout  # the shipped templates rendered it
    assert list((tmp_path / "outbox").glob("digest-morgen-*.html"))

    check = installed.run("rules", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "ok: 12 rules" in check.stdout and "from: the shipped pack\n" in check.stdout
    shipped = next(ln for ln in check.stdout.splitlines() if ln.startswith("shipped pack: "))
    assert Path(shipped.removeprefix("shipped pack: ")).is_relative_to(installed.venv)


def test_init_then_once_with_the_installed_wheel(
    installed: Installed, tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/ticker.xml", TUNGSTEN_FEED, headers={"Content-Type": "application/rss+xml"})
    init = installed.run("init", "mine", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    home = tmp_path / "mine"
    add_feed_to_starter(home / "monitor.yaml", feed_server.url("/ticker.xml"))

    check = installed.run("rules", "check", cwd=home)
    assert check.returncode == 0, check.stderr
    assert "ok: 13 rules" in check.stdout and "from: the shipped pack + my-rules" in check.stdout

    once = installed.run("once", cwd=home)
    assert once.returncode == 0, once.stderr
    found = matched_rules(once.stdout)
    assert {"wolfram"} in found.values(), found
    assert any("lithium" in rules for rules in found.values()), found
    assert list((home / "outbox").glob("digest-morgen-*.txt"))
