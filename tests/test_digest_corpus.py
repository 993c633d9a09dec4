"""Digests by story over ~30 real corpus feeds (../shared/corpus/feeds), re-dated so that they are
news: `monitor once` as a real process, a file channel, and the digest's JSON checked: each story
once, an entry in one story only, nothing published before the look-back, context-only rules
left out of ``rules: "*"``, and the HTML under 100 KB."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.fixtures.feed_server import FeedServer
from tests.support import run_monitor

# News feeds of the corpus (no parser test files, no podcasts), chosen by name, sorted.
_SKIP = ("feedjira", "edgecase", "nodefeedparser", "rssparser-test", "podcast", "gb2312")
FEED_COUNT = 30
STEP = timedelta(hours=3)
"""Re-dated items stand this far apart, newest first: a feed's 17th item is older than 2 days."""

_DATE = re.compile(
    rb"(<(pubDate|published|updated|dc:date|a10:updated)>)([^<]*)(</\2>)", re.IGNORECASE
)


def corpus_feeds(corpus: Path) -> list[Path]:
    names = sorted(
        p for p in (corpus / "feeds").glob("*.xml") if not any(s in p.name for s in _SKIP)
    )
    # The two versions that carry critical-minerals items first, so the digest has content.
    first = [p for p in names if "version-with" in p.name]
    return (first + [p for p in names if p not in first])[:FEED_COUNT]


def redated(body: bytes, now: datetime) -> bytes:
    """Every date element rewritten, in document order: now, now - STEP, now - 2*STEP, ...
    (a channel-level date comes first and takes ``now``)."""
    n = 0

    def repl(m: re.Match[bytes]) -> bytes:
        nonlocal n
        when = now - n * STEP
        n += 1
        tag = m.group(2).lower()
        text = format_datetime(when) if tag == b"pubdate" else when.isoformat()
        return m.group(1) + text.encode() + m.group(4)

    return _DATE.sub(repl, body)


def test_thirty_real_feeds_give_each_story_once_and_nothing_older_than_the_look_back(
    tmp_path: Path, feed_server: FeedServer, corpus_dir: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    feeds = corpus_feeds(corpus_dir)
    assert len(feeds) == FEED_COUNT
    urls = []
    for i, path in enumerate(feeds):
        feed_server.add(f"/f{i}.xml", redated(path.read_bytes(), now))
        urls.append(feed_server.url(f"/f{i}.xml"))
    feed_lines = "\n".join(f"  - {u}" for u in urls)
    (tmp_path / "monitor.yaml").write_text(
        f"""database: sqlite:///{tmp_path / "m.db"}
feeds:
{feed_lines}
channels:
  out: {{type: file, path: {tmp_path / "out"}}}
subscriptions:
  - {{name: alle, channel: out, mode: digest, schedule: "0 7 * * *", rules: "*",
      max_stories: 1000}}
  - {{name: kurz, channel: out, mode: digest, schedule: "0 7 * * *", rules: "*", language: en}}
  - {{name: china, channel: out, mode: digest, schedule: "0 7 * * *", rules: [china]}}
""",
        encoding="utf-8",
    )
    out = run_monitor("-c", str(tmp_path / "monitor.yaml"), "once", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    data = {
        p.name.split("-")[1]: json.loads(p.read_text("utf-8"))
        for p in (tmp_path / "out").glob("digest-*.json")
        if not p.name.endswith(".slack.json")
    }
    assert set(data) == {"alle", "kurz", "china"}, sorted(data)
    lookback = now - timedelta(days=2) - timedelta(minutes=10)
    for name, digest in data.items():
        stories = digest["stories"]
        assert stories, f"digest {name} is empty"
        ids = [s["story_id"] for s in stories]
        assert len(ids) == len(set(ids)), f"digest {name} lists a story twice"
        owner: dict[tuple[str, str], str] = {}
        for s in stories:
            for i in s["items"]:
                key = (i["feed_url"], i["entry_id"])
                assert owner.setdefault(key, s["story_id"]) == s["story_id"], key
                assert datetime.fromisoformat(i["published"]) >= lookback, (name, i["title"])
    everything = data["alle"]
    # Fewer stories than hits: the unit is the story.
    assert everything["stories_total"] < everything["total"]
    rules_in_star = {t["rule_id"] for s in everything["stories"] for t in s["tags"]}
    assert not rules_in_star & {"china", "lieferketten", "exportkontrollen"}
    assert {t["rule_id"] for s in data["china"]["stories"] for t in s["tags"]} == {"china"}
    # The capped one shows 25 and keeps the rest in its data; its HTML stays small.
    short = data["kurz"]
    assert short["stories_shown"] == min(25, short["stories_total"])
    [html] = (tmp_path / "out").glob("digest-kurz-*.html")
    assert len(html.read_bytes()) < 100_000
