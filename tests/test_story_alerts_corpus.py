"""Every story at most once per alert subscription, over real feeds: the offline example and 32
real corpus feeds, re-dated into the last 40 hours so that alerts fire (``monitor once`` as a
real process, the shipped rule pack, the file channel).

The example's subscription (``rules: "*"``: the ``priority: alert`` rules) sends each story once;
a subscription naming rules of both priorities sends a story at most twice: once, and once more
when it newly matches a ``priority: alert`` rule. No entry is in two alerts of one subscription,
and a second run sends nothing.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.story_feeds import CORPUS_FEEDS, alert_messages, redate
from tests.support import run_monitor

REPO = Path(__file__).resolve().parents[1]
SPAN = timedelta(hours=40)
SUBSCRIPTIONS = """
channels:
  outbox: {type: file, path: outbox, formats: [data]}
subscriptions:
  - {name: eilmeldungen, channel: outbox, mode: alert, rules: "*", min_score: 60, language: de}
  - name: analyst
    channel: outbox
    mode: alert
    language: en
    rules: [lithium, kobalt, kritische-rohstoffe, seltene-erden, gallium-germanium,
            rohstoff-exportkontrollen]
"""


def check_once_per_story(db: Path) -> dict[str, dict[str, list[str]]]:
    got = alert_messages(db)
    for sub, stories in got.items():
        for story, keys in stories.items():
            tiers = Counter(k.rsplit("-", 1)[-1] for k in keys)
            assert set(tiers) <= {"alert", "digest"}, (sub, story, keys)  # no updates configured
            assert max(tiers.values()) == 1, (sub, story, keys)  # one alert per story and tier
            if sub == "eilmeldungen":
                assert keys and len(keys) == 1, (sub, story, keys)
            else:
                assert tiers.get("digest", 0) + tiers.get("alert", 0) <= 2
    return got


def run_twice(cwd: Path, config: Path) -> dict[str, dict[str, list[str]]]:
    first = run_monitor("-c", str(config), "once", cwd=cwd, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    got = check_once_per_story(cwd / "monitor.db")
    again = run_monitor("-c", str(config), "once", "--all", cwd=cwd, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert alert_messages(cwd / "monitor.db") == got  # nothing more
    return got


def test_the_offline_example_alerts_each_story_once(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples" / "feeds", tmp_path / "feeds")
    now = datetime.now(UTC)
    feeds = {p.name: p.read_bytes() for p in (tmp_path / "feeds").glob("*.xml")}
    for name, body in redate(feeds, now, SPAN).items():
        (tmp_path / "feeds" / name).write_bytes(body)
    example = (REPO / "examples" / "monitor.yaml").read_text(encoding="utf-8")
    head = example[: example.index("\nchannels:")]
    config = tmp_path / "monitor.yaml"
    config.write_text(head + SUBSCRIPTIONS, encoding="utf-8")
    got = run_twice(tmp_path, config)
    stories = got.get("eilmeldungen", {})
    assert len(stories) >= 3, got  # the example has rare-earth and export-control news


def test_32_real_feeds_alert_each_story_once(tmp_path: Path, corpus_dir: Path) -> None:
    folder = corpus_dir / "feeds"
    feeds = {name: (folder / name).read_bytes() for name in CORPUS_FEEDS}
    (tmp_path / "feeds").mkdir()
    for name, body in redate(feeds, datetime.now(UTC), SPAN).items():
        (tmp_path / "feeds" / name).write_bytes(body)
    listed = "\n".join(f"  - url: feeds/{name}" for name in CORPUS_FEEDS)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///monitor.db\nfeeds:\n{listed}\n" + SUBSCRIPTIONS,
        encoding="utf-8",
    )
    got = run_twice(tmp_path, config)
    assert sum(len(s) for s in got.values()) >= 10, got
