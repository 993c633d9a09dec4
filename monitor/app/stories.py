"""Stories in the running monitor: each new entry is assigned as its poll stores it.

``StoryTracker`` holds this process's ``stories.Window``. It is rebuilt at first use from the
stored members of the recent stories (``Storage.story_window``: those within the span of the
newest), replayed in their assignment order, so a restart continues where the last process left
off instead of starting every story afresh. ``assign`` places a poll's new entries in publication
order; the pipeline hands the result to ``record_poll``, which writes it in the same transaction
as the entries. If that transaction fails, the window has seen entries the store has not: they
are new again at the next poll and join their own earlier copy (harmless: the store only ever
holds one story per entry).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from monitor.ingest.language import guess_language
from monitor.logs import event
from monitor.model import Entry, StoryAssignment
from monitor.store import Storage
from monitor.stories import Decision, Settings, StoryEntry, Window, assign, extract
from monitor.stories.outlets import outlet_of

log = logging.getLogger("monitor.stories")

__all__ = ["StoryTracker", "story_entry", "story_key"]


def story_key(feed_url: str, entry_id: str) -> str:
    """A short id, unique per stored entry: what a story started by the entry is called."""
    h = hashlib.blake2b(digest_size=8)
    h.update(feed_url.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(entry_id.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


LEAD_CHARS = 300
"""What an entry without a summary shows the story layer of its content (a full text's lead)."""


def lead(text: str, limit: int = LEAD_CHARS) -> str:
    """The first sentences of ``text``, at most about ``limit`` characters, cut at a sentence
    end (or a word) where there is one."""
    text = " ".join(text[: limit * 2].split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end >= limit // 3:
        return cut[: end + 1]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut


def story_entry(entry: Entry, masthead: str = "") -> StoryEntry:
    """What the story layer compares: title and summary. A headline-only feed's entry (no
    summary) is compared by the lead of its content instead, which for a ``fulltext: true``
    feed is the article's main text; the whole text would outweigh the headline (the story
    features are tuned on headlines and teasers)."""
    return StoryEntry(
        story_key(entry.feed_url, entry.id),
        entry.title,
        entry.summary or lead(entry.content),
        (entry.language or guess_language(entry.title, entry.summary) or "")[:2].lower(),
        entry.published,
        masthead,
        entry.link or "",
    )


FOLLOW_LOOKBACK = 200
"""How far below the highest sequence number seen the tracker looks again for members written by
others: a transaction that drew its numbers before another's may commit after it."""
FOLLOW_KNOWN = 50_000
"""Members remembered as seen (this process's own and those followed), oldest forgotten first."""


class StoryTracker:
    """Thread-safe; one per process. Several processes on one database (instances sharing the
    polling, a ``monitor once`` beside the daemon) each keep a window, and each follows what the
    others assign: before placing a poll's entries, the tracker adds the members stored since it
    last looked (``Storage.story_members_after``), so the same event polled by two instances
    joins one story. Two instances placing entries of one new event in the same instant can
    still start two stories (each commits before it sees the other's)."""

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        self.storage = storage
        self.settings = settings or Settings()
        self._window: Window | None = None
        self._lock = threading.Lock()
        self._follow = False
        self._seq = 0
        self._known: dict[tuple[str, str], None] = {}
        self.rebuilt: tuple[int, int, float] | None = None
        """(stories, members, seconds) of the rebuild at first use."""
        self.followed = 0
        """Members that other processes assigned, added to this window since the rebuild."""

    @property
    def window(self) -> Window:
        with self._lock:
            return self._ensure()

    def _ensure(self) -> Window:
        if self._window is None:
            started = time.perf_counter()
            window = Window(self.settings)
            # The sequence number first: what is written after it is followed, not missed.
            self._seq = self.storage.story_seq()
            rows = self.storage.story_window(self.settings.span)
            for entry, a in rows:
                self._replay(window, entry, a)
            self._window = window
            self._follow = True
            seconds = time.perf_counter() - started
            self.rebuilt = (len(window), len(rows), seconds)
            event(log, "stories.window", stories=len(window), members=len(rows), seconds=seconds)
        return self._window

    def assign(self, entries: Sequence[Entry], masthead: str = "") -> list[StoryAssignment]:
        """Place ``entries`` (one feed's new ones), in publication order (ties by id)."""
        if not entries:
            return []
        with self._lock:
            window = self._ensure()
            if self._follow:
                self._catch_up(window)
            out = []
            for entry in sorted(entries, key=lambda e: (e.published, e.id)):
                se = story_entry(entry, masthead)
                d = assign(se, window)
                out.append(
                    StoryAssignment(
                        entry.feed_url,
                        entry.id,
                        d.story,
                        entry.published,
                        se.language,
                        outlet_of(entry.link, entry.feed_url, masthead),
                        masthead,
                        d.new,
                        d.score,
                        d.reason,
                    )
                )
                self._remember((entry.feed_url, entry.id))
            return out

    def _replay(self, window: Window, entry: Entry, a: StoryAssignment) -> None:
        """Add a stored member to ``window`` as it was assigned (a rebuild, or another
        process's member)."""
        se = story_entry(entry, a.masthead)
        window.add(
            se,
            extract(se, window.settings.entities),
            Decision(a.story_id, a.new, a.score, a.reason),
        )
        self._remember((a.feed_url, a.entry_id))

    def _remember(self, key: tuple[str, str]) -> None:
        known = self._known
        known[key] = None
        if len(known) > FOLLOW_KNOWN:
            del known[next(iter(known))]

    def _catch_up(self, window: Window) -> None:
        """Add the members other processes stored since this one last looked."""
        top, rows = self.storage.story_members_after(
            max(self._seq - FOLLOW_LOOKBACK, 0), known=self._known
        )
        self._seq = max(self._seq, top)
        for seq, entry, a in rows:
            self._replay(window, entry, a)
            self._seq = max(self._seq, seq)
            self.followed += 1


def backfill(
    storage: Storage,
    settings: Settings,
    *,
    since: datetime | None,
    now: datetime,
    mastheads: Mapping[str, str] | None = None,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Assign stories to the stored entries that have none (stored before stories existed),
    published at or after ``since``, in publication order, ``batch`` entries per transaction.

    Idempotent: an entry with a story is skipped, and a second run finds nothing to do. The
    entries are clustered among themselves in a fresh window (they are older than what the
    running monitor's window holds). Returns (entries assigned, stories they started);
    ``progress`` is called with the number of entries done after each batch.
    """
    todo = storage.entries_without_story(since=since)
    tracker = StoryTracker(storage, settings)
    tracker._window = Window(settings)  # a fresh window: see above
    names = mastheads or {}
    written = started = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        assignments: list[StoryAssignment] = []
        for entry in chunk:  # already in publication order; one feed's masthead each
            assignments += tracker.assign([entry], names.get(entry.feed_url, ""))
        written += storage.record_stories(assignments, now)
        started += sum(1 for a in assignments if a.new)
        if progress is not None:
            progress(len(chunk))
    return written, started
