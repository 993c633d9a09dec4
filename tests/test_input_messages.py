"""Messages for bad input that users reported as wrong or weak; secrets never printed;
``--config`` accepted after any subcommand.

Most cases run the real ``monitor`` process, as a user would meet them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from monitor.config.settings import load_settings
from monitor.errors import ConfigError
from tests.fixtures.feed_server import FeedServer
from tests.support import run_monitor as monitor
from tests.test_cli_ingest import EXAMPLE


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env or {})
    return info.value


# --- messages ----------------------------------------------------------------------------------


def test_unclosed_quote_is_reported_where_it_opened(tmp_path: Path) -> None:
    items = "".join(f"  - https://{n}.example/rss\n" for n in range(8))
    path = write(tmp_path, f'feeds:\n  - url: "https://a.example/rss\n    name: A\n{items}')
    err = config_error(path)
    assert err.line == 2
    assert 'the " quote opened here is never closed' in str(err)


def test_found_value_is_said_once(tmp_path: Path) -> None:
    err = config_error(write(tmp_path, "defaults:\n  interval: often\n"))
    assert str(err).count("'often'") == 1


def test_min_score_is_0_to_100(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: [https://a.example/rss]\nchannels:\n  out: {type: file, path: out}\n"
        "subscriptions:\n  - name: a\n    channel: out\n    mode: alert\n    min_score: 150\n",
    )
    err = config_error(path)
    assert (err.line, err.key) == (8, "subscriptions[0].min_score")
    assert "less than or equal to 100" in str(err) and "150" in str(err)


def test_unknown_channel_points_at_its_line_with_did_you_mean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: [https://a.example/rss]\nchannels:\n  outbox: {type: file, path: out}\n"
        "subscriptions:\n  - name: a\n    mode: alert\n    channel: outbx\n",
    )
    err = config_error(path)
    assert (err.line, err.key) == (7, "subscriptions[0].channel")
    assert "did you mean 'outbox'?" in str(err)


def test_feed_listed_twice_points_at_the_second(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - https://a.example/rss\n  - https://a.example/rss\n")
    err = config_error(path)
    assert (err.line, err.key) == (3, "feeds[1]") and "listed twice" in str(err)


def test_empty_config_says_there_are_no_feeds_and_how_to_add_one(tmp_path: Path) -> None:
    write(tmp_path, "")
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 2, out
    assert "no feeds are configured" in out.stderr and "feeds:" in out.stderr
    assert "next poll" not in out.stdout + out.stderr


def test_unknown_rule_in_a_subscription_has_its_line_and_the_valid_ids(tmp_path: Path) -> None:
    write(
        tmp_path,
        "feeds: [feed.xml]\nchannels:\n  out: {type: file, path: out}\nsubscriptions:\n"
        "  - name: a\n    channel: out\n    mode: alert\n    rules:\n      - lithium\n"
        "      - galium\n",
    )
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 2
    assert "monitor.yaml:10: subscriptions[0].rules[1]:" in out.stderr
    assert "did you mean 'gallium-germanium'?" in out.stderr
    assert "rule ids: " in out.stderr and "seltene-erden" in out.stderr


def test_explain_unknown_rule_lists_the_valid_ids(tmp_path: Path) -> None:
    out = monitor("explain", "--rule", "nosuch", "Lithium", cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown rule id 'nosuch'" in out.stderr
    assert "rule ids: " in out.stderr and "lithium" in out.stderr and "kobalt" in out.stderr


def test_missing_feed_file_hint_says_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "feeds: [missing.xml]\n")
    out = monitor("once", "--config", "conf/monitor.yaml", cwd=tmp_path)
    assert out.returncode == 1
    assert f"file not found: {tmp_path / 'conf' / 'missing.xml'}" in out.stdout
    assert "taken from the folder of monitor.yaml" in out.stdout
    assert "taken from the working directory)" not in out.stdout


def test_unwritable_file_channel_folder_fails_at_start_even_with_quiet(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text("<rss/>", encoding="utf-8")
    (tmp_path / "plain-file").write_text("not a folder", encoding="utf-8")
    write(
        tmp_path,
        "feeds: [feed.xml]\nchannels:\n  archive:\n    type: file\n"
        "    path: plain-file/outbox\n"
        "subscriptions:\n  - {name: a, channel: archive, mode: alert}\n",
    )
    out = monitor("once", "-q", cwd=tmp_path)
    assert out.returncode == 2
    assert "monitor.yaml:5: channels.archive.path: channel 'archive'" in out.stderr
    assert str(tmp_path / "plain-file" / "outbox") in out.stderr


def test_quiet_once_still_prints_errors_on_stderr(tmp_path: Path) -> None:
    write(tmp_path, "feeds: [missing.xml]\n")
    out = monitor("once", "-q", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout == ""
    assert "error: feed " in out.stderr and "file not found" in out.stderr


@pytest.mark.postgres
def test_missing_postgres_database_is_a_config_error_with_a_hint(
    tmp_path: Path, postgres_url: str
) -> None:
    base = postgres_url.rsplit("/", 1)[0]
    write(tmp_path, f"database: {base}/no_such_db_xyz\nfeeds: [https://a.example/rss]\n")
    out = monitor("status", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "database 'no_such_db_xyz' does not exist" in out.stderr
    assert "createdb" in out.stderr and "CREATE DATABASE" in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_postgres_is_a_config_error(tmp_path: Path) -> None:
    from tests.support import free_port

    port = free_port()
    write(tmp_path, f"database: postgresql://u@127.0.0.1:{port}/db\nfeeds: [x.xml]\n")
    out = monitor("status", cwd=tmp_path)
    assert out.returncode == 2
    assert f"cannot reach the PostgreSQL server at 127.0.0.1:{port}" in out.stderr


# --- secrets -----------------------------------------------------------------------------------

TOKEN = "T0KEN-s3cr3t-9f8e7d"


@pytest.mark.parametrize(
    "channel",
    [
        {"type": "slack", "webhook_url": f"https://hooks.slack.com/services/{TOKEN} "},
        {"type": "slack", "webhook_url": f"ftp://hooks.slack.com/services/{TOKEN}"},
        {"type": "slack", "webhook_url": ["https://hooks.slack.com/services/", TOKEN]},
        {"type": "webhook", "url": f"https://hooks.example/{TOKEN} "},
        {"type": "webhook", "url": f"ftp://hooks.example/{TOKEN}"},
        {"type": "webhook", "url": "https://h.example/x", "headers": {"Authorization": [TOKEN]}},
        {"type": "webhook", "url": "https://h.example/x", "headers": {"X": f"{TOKEN}\nY: 1"}},
        {"type": "apprise", "urls": [{"tgram": TOKEN}]},
        {"type": "apprise", "urls": f"tgram://{TOKEN}", "format": "pdf"},
        {"type": "email", "host": "h", "from": "a@b.de", "to": "c@d.de", "password": TOKEN},
        {"type": "email", "host": "h", "from": "a@b.de", "to": "c@d.de", "password": [TOKEN]},
    ],
    ids=lambda c: f"{c['type']}-{sorted(c)[-1]}",
)
def test_secret_settings_are_never_echoed(tmp_path: Path, channel: dict[str, object]) -> None:
    path = write(
        tmp_path, json.dumps({"feeds": ["https://a.example/rss"], "channels": {"c": channel}})
    )
    err = config_error(path)
    assert TOKEN not in str(err), str(err)
    assert err.key is not None and err.key.startswith("channels.c")


def test_a_secret_from_the_environment_is_hidden(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: [https://a.example/rss]\nchannels:\n  c:\n    type: slack\n"
        "    webhook_url: ${SLACK_URL}\n",
    )
    out = monitor("feeds", "list", "--config", str(path), cwd=tmp_path, env={"SLACK_URL": TOKEN})
    assert out.returncode == 2 and "channels.c.webhook_url" in out.stderr
    assert TOKEN not in out.stderr


def test_feed_urls_with_tokens_are_redacted_in_feeds_list_status_and_logs(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.url("/status/500")
    write(
        tmp_path,
        f"feeds:\n  - {url}?api_key=${{FEED_API_TOKEN}}\n"
        f"  - https://reader:{TOKEN}@feeds.example/private.xml\n",
    )
    env = {"FEED_API_TOKEN": TOKEN}
    listed = monitor("feeds", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "api_key=***" in listed.stdout
    assert "reader:***@feeds.example" in listed.stdout
    once = monitor("once", "--all", cwd=tmp_path, env=env)
    status = monitor("status", "--format", "json", cwd=tmp_path, env=env)
    assert once.returncode == 1  # both feeds failed
    for text in (listed.stdout, listed.stderr, once.stdout, once.stderr, status.stdout):
        assert TOKEN not in text


def test_database_password_is_not_printed(tmp_path: Path) -> None:
    from tests.support import free_port

    write(
        tmp_path,
        f"database: postgresql://u:{TOKEN}@127.0.0.1:{free_port()}/db\nfeeds: [x.xml]\n",
    )
    out = monitor("status", cwd=tmp_path)
    assert out.returncode == 2 and TOKEN not in out.stderr


# --- --config anywhere -------------------------------------------------------------------------


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Through click's own look-up: the root group registers its commands as they are looked up.
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out += _commands(command, (*prefix, name))
    return out


def test_every_subcommand_accepts_config() -> None:
    commands = _commands(cli)
    assert len(commands) > 10
    for path in commands:
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            found = command.get_command(click.Context(command), name)
            assert found is not None
            command = found
        opts = {o for p in command.params for o in getattr(p, "opts", ())}
        assert "--config" in opts, path


@pytest.mark.parametrize(
    "args",
    [
        ("once", "--config", "{cfg}"),
        ("status", "--config", "{cfg}"),
        ("feeds", "list", "--config", "{cfg}"),
        ("feeds", "--config", "{cfg}", "list"),
        ("feeds", "list", "-c", "{cfg}"),
        ("--config", "{other}", "feeds", "list", "--config", "{cfg}"),  # nearest wins
    ],
)
def test_config_after_the_subcommand(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "conf").mkdir()
    cfg = write(tmp_path / "conf", "feeds:\n  - url: a.xml\n    name: From-the-config\n")
    other = write(tmp_path, "feeds: [other.xml]\n", name="other.yaml")
    argv = [a.format(cfg=cfg, other=other) for a in args]
    out = monitor(*argv, cwd=tmp_path)
    assert "Traceback" not in out.stderr
    assert str(tmp_path / "conf" / "a.xml") in out.stdout + out.stderr or "From-the-config" in (
        out.stdout
    ), out
    assert "other.xml" not in out.stdout


def test_monitor_config_environment_variable_still_works(tmp_path: Path) -> None:
    cfg = write(tmp_path, "feeds: [https://env.example/rss]\n", name="elsewhere.yaml")
    out = monitor("feeds", "list", cwd=tmp_path, env={"MONITOR_CONFIG": str(cfg)})
    assert out.returncode == 0 and "https://env.example/rss" in out.stdout
    assert EXAMPLE.exists()
