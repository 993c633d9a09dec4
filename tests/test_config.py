"""monitor.yaml validation: every error names file, line and key, with a hint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.settings import load_settings
from monitor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "feeds:\n  - https://example.org/feed.xml\n"), env={})
    assert s.database == "sqlite:///monitor.db"
    [feed] = s.feed_list()
    assert feed.url == "https://example.org/feed.xml"
    assert feed.interval == timedelta(minutes=30)


def test_per_feed_settings_override_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
defaults:
  interval: 1h
  language: de
feeds:
  - url: https://a.example/rss
  - url: https://b.example/rss
    interval: 10m
    language: en
    tags: [mining]
    name: B
""",
    )
    a, b = load_settings(path, env={}).feed_list()
    assert (a.interval, a.language) == (timedelta(hours=1), "de")
    assert (b.interval, b.language, b.tags, b.name) == (
        timedelta(minutes=10),
        "en",
        ("mining",),
        "B",
    )


def test_relative_feed_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    s = load_settings(write(tmp_path, "feeds:\n  - feeds/x.xml\n"), env={})
    assert s.feed_list()[0].url == str(tmp_path / "feeds" / "x.xml")


def test_unknown_key_names_file_line_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    intervall: 5m\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    err = info.value
    assert err.file == str(path) and err.line == 3
    assert err.key == "feeds[0].intervall"
    assert "did you mean 'interval'" in str(err)


def test_wrong_type_says_what_was_found(tmp_path: Path) -> None:
    path = write(tmp_path, "fetch:\n  concurrency: many\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.line == 2
    assert info.value.key == "fetch.concurrency"
    assert "'many'" in str(info.value)


def test_bad_duration(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults:\n  interval: soon\n")
    with pytest.raises(ConfigError, match=r"monitor.yaml:2: defaults.interval: .*duration"):
        load_settings(path, env={})


def test_env_reference_expanded_and_missing_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "database: postgresql://${DBUSER}@127.0.0.1/test\n")
    s = load_settings(path, env={"DBUSER": "postgres"})
    assert s.database == "postgresql://postgres@127.0.0.1/test"
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert "DBUSER is not set" in str(info.value) and info.value.line == 1
    assert "export DBUSER" in str(info.value)


def test_env_default_and_escape(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'database: "sqlite:///${STATE:-x}.db"\nfeeds: ["https://e.org/?a=$${b}"]\n'
    )
    s = load_settings(path, env={})
    assert s.database == "sqlite:///x.db"
    assert s.feeds[0].url == "https://e.org/?a=${b}"


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: a\n   bad: [\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.line is not None and info.value.line >= 2
    assert "invalid YAML" in str(info.value)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "database: sqlite:///a.db\ndatabase: sqlite:///b.db\n")
    with pytest.raises(ConfigError, match="duplicate key 'database'") as info:
        load_settings(path, env={})
    assert info.value.line == 2


def test_duplicate_feed(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: [https://a.example/rss, https://a.example/rss]\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_bad_database_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected sqlite:///path\.db"):
        load_settings(write(tmp_path, "database: mysql://x\n"), env={})


def test_opml_feeds_merge_and_inline_wins(tmp_path: Path) -> None:
    (tmp_path / "list.opml").write_text(
        """<?xml version="1.0"?><opml version="2.0"><head/><body>
        <outline text="Mining"><outline text="A" xmlUrl="https://a.example/rss" language="en"/>
        <outline text="B" xmlUrl="https://b.example/rss" category="x, y" interval="2h"/></outline>
        </body></opml>""",
        encoding="utf-8",
    )
    path = write(
        tmp_path, "opml: list.opml\nfeeds:\n  - url: https://a.example/rss\n    name: Inline A\n"
    )
    feeds = {f.url: f for f in load_settings(path, env={}).feed_list()}
    assert feeds["https://a.example/rss"].name == "Inline A"
    b = feeds["https://b.example/rss"]
    assert b.tags == ("Mining", "x", "y") and b.interval == timedelta(hours=2)


def test_error_inside_a_channel_names_the_exact_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "channels:\n  archive:\n    type: file\n    path: out\n    formats: [eml, json]\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == "channels.archive.formats[1]" and info.value.line == 5
    assert "'json'" in str(info.value)


def test_subscription_must_name_a_defined_channel(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "channels:\n  a: {type: file, path: out}\nsubscriptions:\n"
        "  - {name: s, channel: b, mode: digest, schedule: '0 7 * * *'}\n",
    )
    with pytest.raises(ConfigError, match=r"names channel 'b'.*known: a"):
        load_settings(path, env={})


def test_interval_outside_its_bounds_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    interval: 1m\n")
    with pytest.raises(ConfigError, match=r"interval 1m is outside min_interval 5m") as info:
        load_settings(path, env={})
    assert "lower min_interval" in str(info.value)
    ok = write(
        tmp_path, "feeds:\n  - {url: https://a.example/rss, interval: 1m, min_interval: 30s}\n"
    )
    assert load_settings(ok, env={}).feed_list()[0].interval == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "env", "enabled"),
    [
        ("feeds: [x.xml]\n", {}, True),
        ("feeds: [x.xml]\n", {"MONITOR_SEMANTIC": "off"}, False),
        ("feeds: [x.xml]\n", {"MONITOR_SEMANTIC": " No "}, False),
        ("feeds: [x.xml]\n", {"MONITOR_SEMANTIC": "on"}, True),
        ("feeds: [x.xml]\nsemantic: {model: 'st:x'}\n", {"MONITOR_SEMANTIC": "0"}, False),
        ("feeds: [x.xml]\nsemantic: {enabled: false}\n", {"MONITOR_SEMANTIC": "on"}, False),
    ],
)
def test_monitor_semantic_off_in_the_environment_turns_the_layer_off_when_loaded(
    tmp_path: Path, text: str, env: dict[str, str], enabled: bool
) -> None:
    settings = load_settings(write(tmp_path, text), env=env)
    assert settings.semantic.enabled is enabled
    if "st:x" in text:
        assert settings.semantic.model == "st:x"  # the rest of the block stands


def test_monitor_semantic_off_applies_to_settings_made_in_code_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.config.settings import SemanticSettings, Settings

    monkeypatch.setenv("MONITOR_SEMANTIC", "off")
    assert Settings().semantic.enabled is False
    given = Settings(semantic=SemanticSettings(model="st:y"))
    assert given.semantic.enabled is False and given.semantic.model == "st:y"
    monkeypatch.setenv("MONITOR_SEMANTIC", "")
    assert Settings().semantic.enabled is True
    with pytest.raises(ValueError, match="semantic"):
        Settings.model_validate({"semantic": "off"})


@pytest.mark.parametrize("value", ["disabled", "auus", "2"])
def test_monitor_semantic_with_a_value_neither_off_nor_on_is_an_error_naming_it(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "feeds: [x.xml]\n"), env={"MONITOR_SEMANTIC": value})
    message = str(caught.value)
    assert f"MONITOR_SEMANTIC={value!r}" in message
    assert "MONITOR_SEMANTIC=off" in message  # the hint says what works


def test_monitor_semantic_typo_stops_a_command_with_a_message_not_a_traceback(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    config = write(tmp_path, "database: sqlite:///m.db\nfeeds: [x.xml]\n")
    env = {**os.environ, "MONITOR_SEMANTIC": "of"}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done
    assert "MONITOR_SEMANTIC='of'" in done.stderr
    assert "Traceback" not in done.stderr
