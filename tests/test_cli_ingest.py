"""The `monitor` command as a user runs it: a real process, the bundled offline example,
exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.feed_server import FeedServer
from tests.support import run_monitor as monitor

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "monitor.yaml"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = monitor("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("run", "once", "status", "feeds"):
        assert f"  {command} " in out.stdout


def test_offline_example_without_a_config_file(tmp_path: Path) -> None:
    """The README's first command: no ./monitor.yaml, so the bundled example runs."""
    first = monitor("once", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Polled 5 feeds" in first.stdout and "0 failed" in first.stdout
    assert "Klingbeil will mehr Kooperation bei kritischen Rohstoffen" in first.stdout
    assert (tmp_path / "monitor.db").exists()  # state goes to the working directory

    again = monitor("once", cwd=tmp_path)
    assert again.returncode == 0 and "No feed is due" in again.stdout

    forced = monitor("once", "--all", cwd=tmp_path)
    assert "Polled 5 feeds" in forced.stdout and " 0 new, 0 changed" in forced.stdout

    status = monitor("status", "--format", "json", cwd=tmp_path)
    rows = json.loads(status.stdout)["feeds"]
    assert len(rows) == 5
    assert all(r["entries"] > 0 and r["error_count"] == 0 and r["last_success"] for r in rows)


def test_config_error_is_a_message_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("feeds:\n  - url: x.xml\n    intervall: 5m\n", encoding="utf-8")
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{cfg.name}:3: feeds[0].intervall: unknown setting" in out.stderr
    assert "did you mean 'interval'" in out.stderr


def test_missing_env_variable_is_named(tmp_path: Path) -> None:
    (tmp_path / "monitor.yaml").write_text("database: postgresql://${PGUSER_X}@h/db\n")
    out = monitor("status", cwd=tmp_path, env={"PGUSER_X": ""})
    assert out.returncode == 2 and "PGUSER_X is not set" in out.stderr


def test_failing_feeds_are_reported_and_the_rest_ingested(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    (tmp_path / "monitor.yaml").write_text(
        "feeds:\n"
        f"  - {feed_server.url('/feed.xml')}\n"
        f"  - {feed_server.url('/status/500')}\n"
        "  - missing.xml\n",
        encoding="utf-8",
    )
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 new" in out.stdout and "2 failed" in out.stdout
    assert "status=error" in out.stderr
    strict = monitor("once", "--all", "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    status = json.loads(monitor("status", "--format", "json", cwd=tmp_path).stdout)["feeds"]
    errors = {r["feed"]: r["error_count"] for r in status}
    assert errors[feed_server.url("/status/500")] == 2
    assert errors[feed_server.url("/feed.xml")] == 0


def test_opml_export_import_round_trip(tmp_path: Path) -> None:
    exported = tmp_path / "export.opml"
    out = monitor("-c", str(EXAMPLE), "feeds", "export", "-o", str(exported), cwd=tmp_path)
    assert out.returncode == 0, out.stderr

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "monitor.yaml").write_text("opml: feeds.opml\n", encoding="utf-8")
    imported = monitor("feeds", "import", str(exported), cwd=fresh)
    assert imported.returncode == 0, imported.stderr
    assert "added 5 feeds" in imported.stdout
    again = monitor("feeds", "import", str(exported), cwd=fresh)
    assert "added 0 feeds" in again.stdout  # duplicates are skipped

    original = monitor("-c", str(EXAMPLE), "feeds", "list", cwd=tmp_path).stdout.splitlines()
    round_trip = monitor("feeds", "list", cwd=fresh).stdout.splitlines()
    assert sorted(original) == sorted(round_trip)


def test_json_logs_one_event_per_poll(tmp_path: Path, feed_server: FeedServer) -> None:
    (tmp_path / "monitor.yaml").write_text(
        "log: {format: json}\nfeeds:\n"
        f"  - {feed_server.url('/feed.xml')}\n  - {feed_server.url('/status/404')}\n",
        encoding="utf-8",
    )
    out = monitor("once", cwd=tmp_path)
    events = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    polls = {e["feed"]: e for e in events if e["event"] == "poll"}
    assert polls[feed_server.url("/feed.xml")]["status"] == "ok"
    assert polls[feed_server.url("/feed.xml")]["new"] == 2
    failed = polls[feed_server.url("/status/404")]
    assert failed["status"] == "error" and failed["level"] == "warning" and "404" in failed["error"]
    assert any(e["event"] == "cycle" and e["errors"] == 1 for e in events)


def test_the_summary_lists_context_only_matches_last_and_marks_them(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`china` (context: true) matches every China story; in the summary an entry that matched
    only such a rule comes after every entry that matched a rule of its own, whatever the
    order of the feed, and the context rule is marked."""
    items = "".join(
        f"<item><guid>urn:cn:{i}</guid><title>China eröffnet Freizeitpark Nummer {i}</title>"
        "<pubDate>Tue, 04 Mar 2025 07:00:00 GMT</pubDate></item>"
        for i in range(30)
    ) + (
        "<item><guid>urn:ree</guid><title>China verschärft Exportkontrollen für Seltene Erden"
        "</title><pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate></item>"
    )
    feed_server.add(
        "/cn.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>CN</title>{items}'
        "</channel></rss>".encode(),
    )
    (tmp_path / "monitor.yaml").write_text(
        f"feeds:\n  - {feed_server.url('/cn.xml')}\n", encoding="utf-8"
    )
    out = monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Matched entries (31; 30 of them only by context rules, listed last):" in out.stdout
    lines = out.stdout.splitlines()
    listed = [i for i, line in enumerate(lines) if line.startswith("  * ")]
    assert "Seltene Erden" in lines[listed[0]]
    first_rules = lines[listed[0] + 1]
    assert "seltene-erden" in first_rules and "china 100 (context)" in first_rules
    assert first_rules.index("china 100 (context)") > first_rules.index("seltene-erden")
    assert all("Freizeitpark" in lines[i] for i in listed[1:])
    assert lines[listed[1] + 1].strip() == "[china 100 (context)]"


def test_the_summary_lists_the_best_matched_entries_and_counts_the_rest(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A big cycle's summary stays bounded: the 25 best matched entries, then how many more."""
    items = "".join(
        f"<item><guid>urn:li:{i}</guid><title>Lithium-Mine {i} in Portugal genehmigt</title>"
        f"<description>Spodumen aus der Mine {i}.</description>"
        "<pubDate>Tue, 04 Mar 2025 07:00:00 GMT</pubDate></item>"
        for i in range(40)
    ) + (
        "<item><guid>urn:other</guid><title>Wetter: Sonne am Wochenende</title>"
        "<pubDate>Tue, 04 Mar 2025 07:00:00 GMT</pubDate></item>"
    )
    feed_server.add(
        "/many.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>{items}'
        "</channel></rss>".encode(),
    )
    quiet_dir, loud_dir = tmp_path / "quiet", tmp_path / "loud"
    for folder in (quiet_dir, loud_dir):
        folder.mkdir()
        (folder / "monitor.yaml").write_text(
            f"feeds:\n  - {feed_server.url('/many.xml')}\n", encoding="utf-8"
        )
    quiet = monitor("once", "-q", cwd=quiet_dir)
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stderr
    again = monitor("once", "--all", cwd=quiet_dir)
    assert "Matched entries" not in again.stdout  # nothing new in the second cycle
    out = monitor("once", cwd=loud_dir)
    assert out.returncode == 0, out.stderr
    assert "Matched entries (40):" in out.stdout
    listed = [line for line in out.stdout.splitlines() if line.startswith("  * ")]
    assert len(listed) == 25 and all("Lithium-Mine" in line for line in listed)
    assert "  ... and 15 more (the 25 best are listed; all are stored)" in out.stdout
