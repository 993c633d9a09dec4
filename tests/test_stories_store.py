"""Stories in the store (schema step 4), on SQLite and the real PostgreSQL: members written in the
poll's transaction, outlets, the representative, the window rebuilt after a restart, backfill."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app.pipeline import Pipeline, PollReport
from monitor.app.stories import StoryTracker, backfill, story_key
from monitor.errors import ConfigError
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.model import Entry, Feed, FeedState, StoryAssignment, StoryMember, StoryRecord
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.schema import MIGRATIONS
from monitor.store.sql import SQLStorage
from monitor.store.sqlite import SQLiteStorage
from monitor.stories import Settings
from monitor.stories.outlets import outlet_of, preference, representative
from tests.fixtures.feed_server import FeedServer
from tests.fixtures.storage import raw_execute

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
WIRE_A = "https://wire-a.example/rss"
WIRE_B = "https://feeds.wire-b.example/all.xml"

EN_TITLE = "Glencore buys Kamoto cobalt mine in Congo for $2.5 billion"
EN_TEXT = (
    "Glencore agreed to pay 2.5 billion dollars for the Kamoto mine in Kolwezi, Congo, "
    "its chief executive Gary Nagle said on Tuesday."
)
DE_TITLE = "Glencore kauft Kobaltmine Kamoto im Kongo für 2,5 Milliarden Dollar"
DE_TEXT = (
    "Der Rohstoffkonzern Glencore zahlt 2,5 Milliarden Dollar für die Kamoto-Mine bei Kolwezi "
    "im Kongo, sagte Konzernchef Gary Nagle am Dienstag."
)
OTHER_TITLE = "Tungsten prices hit a record as the Panasqueira mine in Portugal restarts"
OTHER_TEXT = "Scheelite output from Panasqueira resumes as demand from defence makers climbs."


def item(
    feed: str,
    entry_id: str,
    title: str = EN_TITLE,
    summary: str = EN_TEXT,
    *,
    minutes: int = 0,
    language: str = "en",
    link: str | None = None,
) -> Entry:
    host = feed.split("/")[2]
    return Entry(
        feed_url=feed,
        id=entry_id,
        title=title,
        link=link if link is not None else f"https://{host}/news/{entry_id}",
        summary=summary,
        content="",
        published=T0 + timedelta(minutes=minutes),
        language=language,
    )


def poll(
    storage: SQLStorage,
    tracker: StoryTracker,
    feed: str,
    entries: list[Entry],
    masthead: str = "",
    now: datetime = NOW,
) -> list[StoryAssignment]:
    known = storage.known_entries(feed)
    stories = tracker.assign([e for e in entries if e.id not in known], masthead)
    storage.record_poll(FeedState(url=feed), entries, {}, now, stories=stories)
    return stories


def members_without_story(url: str) -> int:
    rows = raw_execute(
        url,
        "SELECT count(*) FROM entries e LEFT JOIN story_members m "
        "ON m.feed_url = e.feed_url AND m.entry_id = e.entry_id WHERE m.entry_id IS NULL",
    )
    return int(rows[0][0])


# --- the store ----------------------------------------------------------------------------------


def test_schema_step_4_creates_the_story_tables(storage: SQLStorage) -> None:
    assert (MIGRATIONS[3].version, "stories" in MIGRATIONS[3].description) == (4, True)
    assert storage.recent_stories() == []
    assert storage.story_window(timedelta(hours=30)) == []


def test_wire_copy_in_two_outlets_and_a_german_report_are_one_story(
    storage: SQLStorage, storage_url: str
) -> None:
    tracker = StoryTracker(storage)
    poll(
        storage, tracker, WIRE_A, [item(WIRE_A, "a1"), item(WIRE_A, "a2", OTHER_TITLE, OTHER_TEXT)]
    )
    poll(storage, tracker, WIRE_B, [item(WIRE_B, "b1", minutes=5)], masthead="Wire B")
    # Two feeds of one outlet (wire-b.example) carrying the same piece count as one outlet.
    b2 = "https://www.wire-b.example/de/rss"
    de = item(b2, "b2", DE_TITLE, DE_TEXT, minutes=30, language="de")
    poll(storage, tracker, b2, [de], masthead="Wire B Deutsch")

    stories = storage.recent_stories(since=T0 - timedelta(days=1))
    assert len(stories) == 2
    big = next(s for s in stories if len(s.members) == 3)
    assert big.id == story_key(WIRE_A, "a1")
    assert big.outlets == ("wire-a.example", "wire-b.example")
    assert big.languages == ("de", "en")
    assert (big.first_seen, big.last_seen) == (T0, T0 + timedelta(minutes=30))
    assert [m.entry_id for m in big.members] == ["a1", "b1", "b2"]
    assert [m.new for m in big.members] == [True, False, False]
    assert big.members[2].masthead == "Wire B Deutsch"
    assert "across languages" in big.members[2].reason
    # Latest first; since and limit bound the list.
    assert stories[0].last_seen >= stories[1].last_seen
    assert storage.recent_stories(limit=1) == stories[:1]
    assert storage.recent_stories(since=T0 + timedelta(minutes=31)) == []
    assert storage.story_of(WIRE_B, "b1") == big.id
    assert members_without_story(storage_url) == 0


def test_stories_of_gives_each_asked_entry_its_whole_story(storage: SQLStorage) -> None:
    tracker = StoryTracker(storage)
    poll(
        storage, tracker, WIRE_A, [item(WIRE_A, "a1"), item(WIRE_A, "a2", OTHER_TITLE, OTHER_TEXT)]
    )
    poll(storage, tracker, WIRE_B, [item(WIRE_B, "b1", minutes=5)])
    asked = [(WIRE_B, "b1"), (WIRE_A, "a2"), (WIRE_A, "nope"), (WIRE_B, "b1")]
    got = storage.stories_of(asked)
    assert set(got) == {(WIRE_B, "b1"), (WIRE_A, "a2")}
    assert [m.entry_id for m in got[(WIRE_B, "b1")].members] == ["a1", "b1"]
    assert got[(WIRE_B, "b1")].id == story_key(WIRE_A, "a1")
    assert [m.entry_id for m in got[(WIRE_A, "a2")].members] == ["a2"]
    assert storage.stories_of([]) == {}
    # Many keys go in chunks; the answer is the same.
    many = [(WIRE_A, f"x{i}") for i in range(1000)] + [(WIRE_A, "a1")]
    assert set(storage.stories_of(many)) == {(WIRE_A, "a1")}


def test_a_rerun_or_a_changed_entry_keeps_its_story(storage: SQLStorage) -> None:
    tracker = StoryTracker(storage)
    entries = [item(WIRE_A, "a1")]
    first = poll(storage, tracker, WIRE_A, entries)
    # The same poll again: nothing new, nothing assigned, nothing written.
    assert poll(storage, tracker, WIRE_A, entries) == []
    changed = replace(entries[0], title=OTHER_TITLE, summary=OTHER_TEXT, fingerprint="")
    # Even handed a new assignment for it, a changed entry keeps the story it has.
    other = replace(first[0], story_id="elsewhere")
    result = storage.record_poll(FeedState(url=WIRE_A), [changed], {}, NOW, stories=[other])
    assert result.changed == ("a1",)
    assert storage.story_of(WIRE_A, "a1") == first[0].story_id
    assert [len(s.members) for s in storage.recent_stories()] == [1]


def test_a_story_for_an_entry_not_in_the_poll_is_refused_before_writing(
    storage: SQLStorage,
) -> None:
    stray = StoryAssignment(WIRE_A, "zz", "s1", T0, "en", "wire-a.example")
    with pytest.raises(ValueError, match="'zz'"):
        storage.record_poll(FeedState(url=WIRE_A), [item(WIRE_A, "a1")], {}, NOW, stories=[stray])
    twice = StoryAssignment(WIRE_A, "a1", "s1", T0, "en", "wire-a.example")
    with pytest.raises(ValueError, match="twice"):
        storage.record_poll(
            FeedState(url=WIRE_A), [item(WIRE_A, "a1")], {}, NOW, stories=[twice, twice]
        )
    assert storage.get_entry(WIRE_A, "a1") is None
    assert storage.recent_stories() == []


def test_record_stories_is_idempotent_and_skips_entries_not_stored(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(url=WIRE_A), [item(WIRE_A, "a1"), item(WIRE_A, "a2")], {}, NOW)
    assert [e.id for e in storage.entries_without_story()] == ["a1", "a2"]
    rows = [
        StoryAssignment(WIRE_A, "a1", "s1", T0, "en", "wire-a.example"),
        StoryAssignment(WIRE_A, "a2", "s1", T0 + timedelta(minutes=1), "en", "wire-a.example"),
        StoryAssignment(WIRE_A, "gone", "s1", T0, "en", "wire-a.example"),
    ]
    assert storage.record_stories(rows, NOW) == 2
    assert storage.record_stories(rows, NOW) == 0
    assert storage.record_stories([replace(rows[0], story_id="s2")], NOW) == 0
    assert storage.entries_without_story() == []
    [story] = storage.recent_stories()
    assert (story.id, len(story.members)) == ("s1", 2)


def test_prune_takes_members_with_their_entries_and_then_empty_stories(
    storage: SQLStorage,
) -> None:
    tracker = StoryTracker(storage)
    poll(storage, tracker, WIRE_A, [item(WIRE_A, "a1")], now=NOW)
    poll(
        storage,
        tracker,
        WIRE_B,
        [item(WIRE_B, "b1", OTHER_TITLE, OTHER_TEXT)],
        now=NOW + timedelta(days=2),
    )
    assert storage.prune(NOW + timedelta(days=1), NOW + timedelta(days=3)) == 1
    assert [s.members[0].entry_id for s in storage.recent_stories()] == ["b1"]
    assert storage.prune_stories() == 1
    assert storage.prune_stories() == 0
    assert len(storage.recent_stories()) == 1


@pytest.mark.parametrize(("minutes", "stories"), [(10, 2), (700, 0)])
def test_the_window_rebuilt_after_a_restart_assigns_as_if_never_stopped(
    storage: SQLStorage, tmp_path: Path, minutes: int, stories: int
) -> None:
    # One process sees everything; another stops halfway and a new one continues from the store.
    feeds = [f"https://outlet{i}.example/rss" for i in range(4)]
    texts = [(EN_TITLE, EN_TEXT, "en"), (OTHER_TITLE, OTHER_TEXT, "en"), (DE_TITLE, DE_TEXT, "de")]
    entries = [
        item(
            feeds[n % 4], f"e{n}", *texts[n % 3][:2], minutes=minutes * n, language=texts[n % 3][2]
        )
        for n in range(12)
    ]
    reference = open_storage(f"sqlite:///{tmp_path / 'reference.db'}")
    assert isinstance(reference, SQLStorage)
    one = StoryTracker(reference)
    expected: list[str] = []
    for n, e in enumerate(entries):
        expected += [a.story_id for a in poll(reference, one, e.feed_url, [e])]
        if n == 5:
            kept = len(one.window)
    reference.close()

    first = StoryTracker(storage)
    got = [a.story_id for e in entries[:6] for a in poll(storage, first, e.feed_url, [e])]
    second = StoryTracker(storage)
    got += [a.story_id for e in entries[6:] for a in poll(storage, second, e.feed_url, [e])]
    assert second.rebuilt is not None
    # The rebuilt window holds what the uninterrupted one held at that point: 10 minutes apart
    # every story; 700 apart (58 h for the first six) not those the span has expired.
    assert second.rebuilt[0] == kept
    # 700 minutes apart, the first stories ended more than a span before the sixth entry.
    assert second.rebuilt[1] == 6 if minutes == 10 else second.rebuilt[1] < 6
    assert got == expected
    if stories:
        assert len(set(expected)) == stories


def test_the_rebuilt_window_holds_only_stories_within_its_span(storage: SQLStorage) -> None:
    tracker = StoryTracker(storage, Settings(span=timedelta(hours=30)))
    poll(
        storage,
        tracker,
        WIRE_A,
        [item(WIRE_A, "old", OTHER_TITLE, OTHER_TEXT, minutes=-3 * 24 * 60)],
    )
    poll(storage, tracker, WIRE_A, [item(WIRE_A, "a1")])
    window = storage.story_window(timedelta(hours=30))
    assert [(e.id, a.story_id) for e, a in window] == [("a1", story_key(WIRE_A, "a1"))]


def test_backfill_assigns_entries_stored_before_stories_in_publication_order(
    storage: SQLStorage, storage_url: str
) -> None:
    old = [
        item(WIRE_B, "b1", minutes=5),
        item(WIRE_A, "a1"),
        item(WIRE_A, "a2", OTHER_TITLE, OTHER_TEXT, minutes=1),
        item(WIRE_A, "ancient", minutes=-90 * 24 * 60),
    ]
    storage.record_poll(FeedState(url=WIRE_A), old[1:], {}, NOW)
    storage.record_poll(FeedState(url=WIRE_B), old[:1], {}, NOW)
    done: list[int] = []
    written, started = backfill(
        storage, Settings(), since=T0 - timedelta(days=30), now=NOW, progress=done.append
    )
    assert (written, started) == (3, 2)
    assert sum(done) == 3
    assert (
        storage.story_of(WIRE_B, "b1") == storage.story_of(WIRE_A, "a1") == story_key(WIRE_A, "a1")
    )
    assert storage.story_of(WIRE_A, "ancient") is None  # older than --since
    assert backfill(storage, Settings(), since=T0 - timedelta(days=30), now=NOW) == (0, 0)
    assert backfill(storage, Settings(), since=None, now=NOW)[0] == 1
    assert members_without_story(storage_url) == 0


def test_a_database_at_schema_3_gains_the_story_tables_and_keeps_its_entries(
    storage_url: str,
) -> None:
    from monitor.store.postgres import PostgresStorage

    base: type[SQLStorage] = SQLiteStorage if storage_url.startswith("sqlite") else PostgresStorage

    class Old(base):  # type: ignore[valid-type,misc]
        migrations = MIGRATIONS[:3]

    old = Old.from_url(storage_url)
    assert old.schema_version == 3
    old.close()
    # Rows as schema 3 wrote them (today's record_poll writes columns of later steps).
    stamp = "2024-05-06T07:08:09.000000Z"
    raw_execute(storage_url, "INSERT INTO feeds (url) VALUES (?)", (WIRE_A,))
    raw_execute(
        storage_url,
        "INSERT INTO entries (feed_url, entry_id, title, summary, content, published, "
        "fingerprint, first_seen, last_changed) VALUES (?, 'a1', ?, 's', 'c', ?, 'f', ?, ?)",
        (WIRE_A, EN_TITLE, stamp, stamp, stamp),
    )
    new = open_storage(storage_url)
    try:
        assert isinstance(new, SQLStorage)  # narrows to the class that has schema_version
        assert new.schema_version == SCHEMA_VERSION
        assert [e.id for e in new.entries_without_story()] == ["a1"]
        assert backfill(new, Settings(), since=None, now=NOW) == (1, 1)
    finally:
        new.close()


# --- outlets and the representative (pure) ------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "feed", "outlet"),
    [
        ("https://www.reuters.com/world/x", "https://feeds.example/rss", "reuters.com"),
        ("https://rss.dw.com/x", "https://feeds.example/rss", "dw.com"),
        ("https://news.bbc.co.uk/x", "https://feeds.example/rss", "bbc.co.uk"),
        (None, "https://feeds.tagesschau.de/all.xml", "tagesschau.de"),
        ("", "http://127.0.0.1:8000/feed.xml", "127.0.0.1"),
        (None, "feeds/local.xml", "local news"),
    ],
)
def test_outlet_is_the_link_domain(link: str | None, feed: str, outlet: str) -> None:
    assert outlet_of(link, feed, "Local News") == outlet


def member(outlet: str, minutes: int, masthead: str = "", author: str | None = None) -> StoryMember:
    return StoryMember(
        f"https://{outlet}/rss", f"id{minutes}", f"t{minutes}", f"https://www.{outlet}/x",
        T0 + timedelta(minutes=minutes), "en", outlet, masthead, author,
    )  # fmt: skip


def test_representative_is_the_first_preferred_source_else_the_earliest() -> None:
    members = (
        member("blog.example", 0),
        member("reuters.com", 10),
        member("zeitung.example", 5, masthead="Zeitung (dpa-AFX)"),
        member("other.example", 3, author="dpa"),
    )
    story = StoryRecord("s", T0, T0 + timedelta(minutes=10), members)
    assert representative(story).outlet == "blog.example"
    assert representative(story, ("reuters.com",)).outlet == "reuters.com"
    assert representative(story, ("dpa", "reuters.com")).outlet == "other.example"
    assert representative(story, ("apnews.com", "afp")).outlet == "blog.example"
    assert preference(members[1], ("wire.example", "reuters.com")) == 1


def test_preferred_sources_are_validated_with_file_and_line(tmp_path: Path) -> None:
    from monitor.config.settings import load_settings

    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        "stories:\n  preferred_sources:\n    - dpa\n    - https://www.reuters.com/\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = str(err.value)
    assert "monitor.yaml" in text and "preferred_sources" in text and "domain" in text
    assert ":4" in text or "line 4" in text
    cfg.write_text("stories:\n  preferred_sources: [DPA, www.Reuters.com]\n", encoding="utf-8")
    assert load_settings(cfg).stories.preferred_sources == ("dpa", "reuters.com")


# --- in the pipeline ----------------------------------------------------------------------------


def _wire_feed(guid: str, title: str, summary: str, host: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://{host}/</link><item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://{host}/{guid}</link><description>{summary}</description>"
        "<pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


class _Broken:
    def assign(self, entries: object, masthead: str = "") -> list[StoryAssignment]:
        raise RuntimeError("story core bug")


def test_a_poll_assigns_its_new_entries_and_a_story_bug_does_not_stop_ingestion(
    storage: SQLStorage, storage_url: str, feed_server: FeedServer
) -> None:
    feed_server.add("/a.xml", _wire_feed("a1", EN_TITLE, EN_TEXT, "www.wire-a.example"))
    feed_server.add("/b.xml", _wire_feed("b1", EN_TITLE, EN_TEXT, "wire-b.example"))
    a, b = Feed(url=feed_server.url("/a.xml")), Feed(url=feed_server.url("/b.xml"), name="B")

    def run(assigner: object) -> list[PollReport]:
        async def go() -> list[PollReport]:
            async with Fetcher(FetchLimits(total_timeout=5), trust_env=False) as fetcher:
                pipe = Pipeline(
                    storage,
                    fetcher,
                    clock=lambda: NOW,
                    stories=assigner,  # type: ignore[arg-type]
                )
                return [await pipe.poll(a), await pipe.poll(b)]

        return asyncio.run(go())

    reports = run(_Broken())
    assert [r.new for r in reports] == [1, 1]
    assert members_without_story(storage_url) == 2
    raw_execute(storage_url, "DELETE FROM entries")
    raw_execute(storage_url, "DELETE FROM feeds")
    reports = run(StoryTracker(storage))
    assert [(r.status, r.new) for r in reports] == [("ok", 1), ("ok", 1)]
    [story] = storage.recent_stories()
    assert story.outlets == ("wire-a.example", "wire-b.example")
    assert [m.masthead for m in story.members] == ["Wire", "B"]
    assert members_without_story(storage_url) == 0


def test_two_processes_on_one_database_follow_each_others_stories(
    storage: SQLStorage, storage_url: str
) -> None:
    """Two instances, each with its own connection and window, take turns polling feeds that
    carry one event: each follows what the other stored, so the event is one story, as one
    process would make it; what each process assigned itself is not read back."""
    other_store = open_storage(storage_url)
    assert isinstance(other_store, SQLStorage)
    try:
        one, two = StoryTracker(storage), StoryTracker(other_store)
        assert one.window is not None and two.window is not None  # both start (empty) now
        a = poll(storage, one, WIRE_A, [item(WIRE_A, "a1")])
        b = poll(other_store, two, WIRE_B, [item(WIRE_B, "b1", minutes=5)], masthead="Wire B")
        de = poll(
            storage,
            one,
            "https://de.example/rss",
            [item("https://de.example/rss", "d1", DE_TITLE, DE_TEXT, minutes=9, language="de")],
        )
        other = poll(
            other_store, two, WIRE_B, [item(WIRE_B, "b2", OTHER_TITLE, OTHER_TEXT, minutes=12)]
        )
        assert a[0].story_id == b[0].story_id == de[0].story_id
        assert other[0].story_id != a[0].story_id
        assert (one.followed, two.followed) == (1, 2)  # b1; a1 and d1
        # A third look finds nothing new: seen members are never added twice.
        poll(storage, one, WIRE_A, [item(WIRE_A, "a9", OTHER_TITLE, OTHER_TEXT, minutes=20)])
        assert one.followed == 2  # b2 only
        (record,) = [r for r in storage.recent_stories() if r.id == a[0].story_id]
        assert len(record.members) == 3
    finally:
        other_store.close()


def test_members_after_a_sequence_number(storage: SQLStorage) -> None:
    tracker = StoryTracker(storage)
    assert storage.story_seq() == 0
    assert storage.story_members_after(0) == (0, [])
    poll(
        storage, tracker, WIRE_A, [item(WIRE_A, "a1"), item(WIRE_A, "a2", OTHER_TITLE, OTHER_TEXT)]
    )
    assert storage.story_seq() == 2
    top, rows = storage.story_members_after(0)
    assert top == 2 and [(s, e.id, a.entry_id) for s, e, a in rows] == [
        (1, "a1", "a1"),
        (2, "a2", "a2"),
    ]
    assert rows[0][1].title == EN_TITLE and rows[0][2].story_id
    top, rows = storage.story_members_after(0, known={(WIRE_A, "a1")})
    assert top == 2 and [e.id for _, e, _ in rows] == ["a2"]
    assert storage.story_members_after(2) == (2, [])


def test_recent_stories_filtered_by_rule_language_outlet_window_and_outlets(
    storage: SQLStorage,
) -> None:
    """The web view's stream filters, in SQL on both engines (before the limit, so a narrow
    filter still fills the page)."""
    from monitor.model import Hit, Match, Priority

    def put(feed: str, entry_id: str, story: str, minutes: int, language: str, rule: str) -> None:
        e = item(feed, entry_id, minutes=minutes, language=language)
        outlet = feed.split("/")[2]
        a = StoryAssignment(feed, entry_id, story, e.published, language, outlet, outlet)
        hit = Hit("c", "v", "title", 0, 3, "Gle")
        matches = {entry_id: [Match(rule, 70, Priority.ALERT, (hit,))]} if rule else {}
        storage.record_poll(FeedState(feed), [e], matches, NOW, stories=[a])

    put("https://a.example/f", "1", "s1", 0, "en", "kobalt")
    put("https://b.example/f", "2", "s1", 5, "de", "")
    put("https://c.example/f", "3", "s1", 9, "en", "")
    put("https://a.example/f", "4", "s2", 60, "en", "lithium")
    put("https://b.example/f", "5", "s3", 120, "de", "")

    def ids(**kw: object) -> list[str]:
        return [s.id for s in storage.recent_stories(**kw)]  # type: ignore[arg-type]

    assert ids() == ["s3", "s2", "s1"]
    assert ids(rule_id="kobalt") == ["s1"]
    assert ids(rule_id="lithium") == ["s2"]
    assert ids(rule_id="nothing") == []
    assert ids(language="de") == ["s3", "s1"]
    assert ids(outlet="a.example") == ["s2", "s1"]
    assert ids(outlet="c.example", language="en") == ["s1"]
    assert ids(min_outlets=3) == ["s1"]
    assert ids(min_outlets=2) == ["s1"]
    assert ids(since=T0 + timedelta(minutes=30), until=T0 + timedelta(minutes=90)) == ["s2"]
    assert ids(until=T0 + timedelta(minutes=60)) == ["s1"]  # until is exclusive
    assert ids(language="de", limit=1) == ["s3"]
    assert storage.story_facets() == (["de", "en"], ["a.example", "b.example", "c.example"])
    late = storage.story_facets(since=T0 + timedelta(minutes=100))
    assert late == (["de"], ["b.example"])
    assert storage.story_facets(until=T0) == ([], [])
    [s1] = storage.recent_stories(rule_id="kobalt")
    assert len(s1.members) == 3  # a filter picks stories, never members


def test_rule_day_counts_for_the_volume_chart(storage: SQLStorage) -> None:
    """(rule, UTC day, new stories, their entries), on both engines: a story counts once, on
    the day of its first member the rule matched, with its matched members; an entry without a
    story is a story of its own."""
    from datetime import date

    from monitor.model import Hit, Match, Priority

    hit = Hit("c", "v", "title", 0, 3, "Gle")

    def put(entry_id: str, minutes: int, rules: list[str], story: str | None) -> None:
        feed = "https://a.example/f"
        e = item(feed, entry_id, minutes=minutes)
        matches = {entry_id: [Match(r, 70, Priority.ALERT, (hit,)) for r in rules]}
        stories = (
            [StoryAssignment(feed, entry_id, story, e.published, "en", "a.example", "a.example")]
            if story
            else []
        )
        storage.record_poll(FeedState(feed), [e], matches, NOW, stories=stories)

    day = 24 * 60
    put("1", 0, ["kobalt", "china"], "s1")  # T0 is 2025-03-04 08:00 UTC
    put("2", 10, ["kobalt"], "s1")
    put("3", day, ["kobalt"], "s1")  # s1 again the next day: not new there, counted on day 1
    put("4", day + 5, ["kobalt"], None)
    put("5", day + 6, ["kobalt"], None)
    put("6", 2 * day, [], "s9")  # no match: not counted
    put("7", 16 * 60 - 1, ["china"], "s2")  # 23:59 UTC: still the first day
    d1, d2 = date(2025, 3, 4), date(2025, 3, 5)
    assert storage.rule_day_counts(since=T0) == [
        ("china", d1, 2, 2),
        ("kobalt", d1, 1, 3),
        ("kobalt", d2, 2, 2),
    ]
    # The window cuts before grouping: s1 seen from the second day on is new there.
    later = storage.rule_day_counts(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2))
    assert later == [("china", d1, 1, 1), ("kobalt", d2, 3, 3)]
