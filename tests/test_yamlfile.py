"""``parse_yaml`` reads through libyaml when it can and through PyYAML's Python parser when
libyaml finds fault (the messages users get) or the text holds what the Python reader refuses.
Both ways give the same data and the same line for every key and item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import yamlfile
from monitor.config.yamlfile import YamlDocument, parse_yaml
from monitor.errors import ConfigError

REPO = Path(__file__).parent.parent
SHIPPED = sorted(
    p
    for pattern in ("rules/*.yaml", "examples/*.yaml", "examples/starter/**/*.yaml")
    for p in REPO.glob(pattern)
)

needs_libyaml = pytest.mark.skipif(
    yamlfile._FAST_LOADER is None, reason="PyYAML was built without libyaml here"
)


def python_only(text: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> YamlDocument:
    with monkeypatch.context() as m:
        m.setattr(yamlfile, "_FAST_LOADER", None)
        return parse_yaml(text, name="x.yaml", **kw)


@needs_libyaml
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shipped_files_read_the_same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text(encoding="utf-8")
    fast = parse_yaml(text, name="x.yaml", env={})
    assert (fast.data, fast.lines) == (
        (slow := python_only(text, monkeypatch, env={})).data,
        slow.lines,
    )
    assert len(fast.lines) > 10


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@needs_libyaml
@given(data=DATA, flow=st.sampled_from([None, True, False]), width=st.sampled_from([20, 80]))
@settings(max_examples=300, deadline=None)
def test_any_dumped_document_reads_the_same_both_ways(
    data: Any, flow: bool | None, width: int
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, width=width, allow_unicode=True)
    fast = parse_yaml(text, name="x.yaml")
    saved = yamlfile._FAST_LOADER
    yamlfile._FAST_LOADER = None
    try:
        slow = parse_yaml(text, name="x.yaml")
    finally:
        yamlfile._FAST_LOADER = saved
    assert fast.data == slow.data  # (not always ``data``: PyYAML writes U+0085 as is, a break)
    assert fast.lines == slow.lines


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [1, 2\n",  # a flow sequence never closed
        'a: "open\nb: 2\n',  # a quote never closed
        "a: 1\n  b: 2\n",  # bad indentation
        "a: 1\x00\n",  # a NUL byte (the Python reader refuses it)
        "a: *missing\n",  # an alias without its anchor
        "- a\nb: 1\n",
        "a: 1\na: 2\n",  # a duplicate key: the walker's message, same either way
    ],
)
def test_errors_are_the_python_parsers_messages(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as fast:
        parse_yaml(text, name="x.yaml")
    with pytest.raises(ConfigError) as slow:
        python_only(text, monkeypatch)
    assert str(fast.value) == str(slow.value)
    assert "x.yaml" in str(fast.value)
