"""Mutated configs and rule files: the loaders accept them or say what is wrong, with file and
line; never a traceback.

The seeds are the shipped files (examples/monitor.yaml, the README's complete example,
rules/*.yaml). Hypothesis mutates them as data (a scalar replaced by a list, a mapping, a huge
number or the wrong type; a key deleted; a NUL in a string) and as text (a NUL byte, random
bytes, a cut, a duplicated line). Derandomized, so CI runs the same cases every time, and bounded
to a few seconds. A few of the cases that once crashed also run through the real CLI process.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from monitor.config.settings import load_settings
from monitor.errors import ConfigError, MonitorError
from monitor.matching.loader import check_rules
from tests.support import run_monitor as monitor
from tests.test_docs import readme_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "examples" / "monitor.yaml").read_text(encoding="utf-8")
README_EXAMPLE = readme_config()
RULE_FILES = {
    p.name: p.read_text(encoding="utf-8") for p in sorted((REPO / "rules").glob("*.yaml"))
}

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its input anyway
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- mutations ---------------------------------------------------------------------------------

HUGE = st.sampled_from([10**30, -(10**30), 1e308, float("inf"), float("nan"), 2**63, -1])
WRONG = st.one_of(
    HUGE,
    st.sampled_from([None, True, False, "", "often", "x" * 300, "\0", "${NOPE}", "*", 0, 1.5]),
    st.just([1, "a", None]),
    st.just({"a": 1, "b": [2]}),
    st.just([]),
    st.just({}),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def data_mutation(draw: st.DrawFn, text: str) -> str:
    data = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _get(data, path[:-1]), path[-1]
        kind = draw(st.sampled_from(["replace", "delete", "nul", "wrap"]))
        if kind == "delete":
            del parent[last]
        elif kind == "nul" and isinstance(parent[last], str):
            s = parent[last]
            i = draw(st.integers(0, len(s)))
            parent[last] = s[:i] + "\0" + s[i:]
        elif kind == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
        else:
            parent[last] = copy.deepcopy(draw(WRONG))  # st.just values are shared between runs
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> bytes:
    raw = text.encode("utf-8")
    kind = draw(st.sampled_from(["nul", "bytes", "truncate", "duplicate", "alias"]))
    if kind == "nul":
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + b"\0" + raw[i:]
    if kind == "bytes":
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + draw(st.binary(min_size=1, max_size=16)) + raw[i:]
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    lines = raw.splitlines(keepends=True)
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "duplicate":
        return b"".join([*lines[: i + 1], *lines[i:]])
    # A billion-laughs block appended at the end.
    bomb = ["_a: &a [x, x, x, x, x, x, x, x, x, x]\n"]
    for n in range(1, 8):
        prev = chr(ord("a") + n - 1)
        bomb.append(
            f"_{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + prev] * 10)}]\n"
        )
    return raw + b"\n" + "".join(bomb).encode()


# --- the property ------------------------------------------------------------------------------


def assert_clear(exc: MonitorError, path: Path) -> None:
    """A message a user can act on: it names the file, and a line where the file is ours."""
    message = str(exc)
    assert "Traceback" not in message
    if isinstance(exc, ConfigError):
        assert exc.file is not None, message
        if exc.file == str(path):
            assert exc.line is not None, message
            assert f"{path}:{exc.line}" in message
    else:
        assert str(path.parent) in message or "feed" in message, message


def check_config(content: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "monitor.yaml"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        try:
            load_settings(path, env={}).feed_list()
        except MonitorError as exc:
            assert_clear(exc, path)


def check_rule_file(name: str, content: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for other, text in RULE_FILES.items():
            (folder / other).write_text(text, encoding="utf-8")
        path = folder / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        _, errors = check_rules([folder])
        for exc in errors:
            assert exc.file is not None, str(exc)
            if exc.file == str(path):
                assert exc.line is not None, str(exc)


@FUZZ
@given(st.data())
def test_mutated_example_config(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from([EXAMPLE, README_EXAMPLE]))
    kind = data.draw(st.sampled_from(["data", "text"]))
    mutation: st.SearchStrategy[bytes | str] = (
        data_mutation(seed) if kind == "data" else text_mutation(seed)
    )
    check_config(data.draw(mutation))


@settings(FUZZ, max_examples=40)
@given(st.data())
def test_mutated_rule_files(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(RULE_FILES)))
    seed = RULE_FILES[name]
    kind = data.draw(st.sampled_from(["data", "text"]))
    mutation: st.SearchStrategy[bytes | str] = (
        data_mutation(seed) if kind == "data" else text_mutation(seed)
    )
    check_rule_file(name, data.draw(mutation))


# --- cases found so far, each pinned -----------------------------------------------------------

BOMB = "".join(
    [
        "feeds: [https://a.example/rss]\n",
        "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
        *(f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * 10)}]\n" for n in range(1, 9)),
    ]
)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("defaults:\n  interval: [1, 2]\n", 2, "expected a duration such as 30s"),
        ("defaults:\n  interval: {a: 1}\n", 2, "found a mapping"),
        ("fetch:\n  max_body: [10MB]\n", 2, "expected a size such as 10MB"),
        ("fetch:\n  max_body: {a: 1}\n", 2, "found a mapping"),
        ("retention: 1e400\n", 1, "at most"),
        ("retention: 99999999999999999999d\n", 1, "at most"),
        ("retention: .nan\n", 1, "not-a-number"),
        ("fetch:\n  max_body: 100000000000000000000\n", 2, "at most 1TiB"),
        ('feeds:\n  - url: "https://a.example\0/rss"\n', 2, "NUL byte"),
        ("feeds: [a.xml]\ndatabase: 2024-13-45\n", 2, "month must be in 1..12"),
        ("feeds: &f [a.xml, *f]\n", 1, "loop"),
        ("feeds: [" * 3000 + "\n", None, "nested too deeply"),
        (BOMB, 6, "x4: the document expands to more than 100,000 values"),
    ],
)
def test_found_cases_are_messages(tmp_path: Path, text: str, line: int | None, says: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert says in str(info.value)
    assert info.value.file == str(path) and info.value.line == line


def test_binary_file_as_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"concepts:\n  a: [b]\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    _, [error] = check_rules([path])
    assert error.file == str(path) and error.line == 3
    assert "not a UTF-8 text file" in str(error)


def test_control_character_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("concepts:\n  a: [b]\nrules:\n  - id: x\x07\n", encoding="utf-8")
    _, [error] = check_rules([path])
    assert error.line == 4 and "control character #x0007" in str(error)


# --- through the real CLI ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"defaults:\n  interval: [1, 2]\n", "monitor.yaml:2: defaults.interval"),
        (b'feeds:\n  - "https://a.example/\x00"\n', "monitor.yaml:2:"),
        (b"feeds: [a.xml]\nfetch:\n  max_body: {a: 1}\n", "monitor.yaml:3: fetch.max_body"),
        (BOMB.encode(), "monitor.yaml:6: x4"),
        (EXAMPLE.encode()[:200], "monitor.yaml:"),
    ],
)
def test_cli_reports_bad_configs_without_a_traceback(
    tmp_path: Path, content: bytes, where: str
) -> None:
    (tmp_path / "monitor.yaml").write_bytes(content)
    out = monitor("feeds", "list", cwd=tmp_path)
    assert "Traceback" not in out.stderr
    if out.returncode != 0:
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(f"error: {where}"), out.stderr


def test_cli_rules_check_on_a_binary_file(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)))
    out = monitor("rules", "check", "bin.yaml", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "bin.yaml:2: not a UTF-8 text file (byte 0x80" in out.stderr  # byte 10 is a newline
