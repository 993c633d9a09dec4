"""The spike signal: is a story spreading unusually fast for its rule? (pure: data in, data out)

The rule, in one sentence: a story is *breaking* when, within the last ``WINDOW`` (2 h) before
``now``, at least ``MIN_OUTLETS`` (3) distinct outlets carried it for the first time, and that is
at least ``FACTOR`` (3) times as many outlets as the rule's usual story reaches.

- *outlets in the window*: the story's distinct outlets whose first member was published in
  ``(now - WINDOW, now]`` (a member dated a little in the future, as some feeds do, counts as
  now). An outlet counts once however many of its feeds carried the piece.
- *the usual story*: the mean number of distinct outlets over the rule's recent stories (the
  store's ``rule_story_outlets``: stories of the last ``BASELINE_SPAN``, 14 days, with a member
  the rule matched), the story itself left out. With fewer than ``MIN_BASELINE`` (5) such
  stories the baseline is 1.0: most stories are carried by one outlet. A baseline never counts
  below 1.0, so a quiet rule still needs ``MIN_OUTLETS``.

Why so simple: the reader must be able to check it from the line the alert shows ("7 outlets in
2 h; this rule's usual story reaches 1.4"); thresholds are module constants, tested by tables in
tests/test_spike.py. ``story_spike`` is what alerts call and what a digest can call too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.delivery.l10n import format_number

__all__ = [
    "BASELINE_SPAN",
    "FACTOR",
    "MIN_BASELINE",
    "MIN_OUTLETS",
    "WINDOW",
    "Spike",
    "spike",
    "story_spike",
]

WINDOW = timedelta(hours=2)
MIN_OUTLETS = 3
FACTOR = 3.0
MIN_BASELINE = 5
BASELINE_SPAN = timedelta(days=14)
FUTURE_SLACK = timedelta(minutes=15)
"""Members published up to this far after ``now`` count (clock skew of feeds); later ones not."""


@dataclass(frozen=True, slots=True)
class Spike:
    """A breaking story: the figures behind the flag, for a badge and a one-line explanation."""

    outlets: int
    """Distinct outlets that first carried the story within ``window``."""
    window: timedelta
    baseline: float
    """Mean distinct outlets of the rule's recent stories (1.0 when there are too few)."""
    baseline_stories: int
    """How many stories the baseline was taken over (0: the default 1.0 was used)."""
    rule_id: str = ""

    @property
    def ratio(self) -> float:
        return self.outlets / self.baseline

    @property
    def window_hours(self) -> float:
        return self.window.total_seconds() / 3600

    def explanation(self, language: str = "en") -> str:
        """The one line a reader sees, in ``language`` (de, en; English for the JSON payload and
        logs). The alert templates word it themselves from the figures (``at.spike``)."""
        hours = format_number(self.window_hours, language)
        usual = format_number(self.baseline, language, 1)
        if language == "de":
            return (
                f"{self.outlets} Medien in {hours} Std.; sonst erreicht eine Meldung dieser "
                f"Regel im Schnitt {usual}"
            )
        return f"{self.outlets} outlets in {hours} h; this rule's usual story reaches {usual}"


def _baseline(counts: Iterable[int]) -> tuple[float, int]:
    values = [c for c in counts if c > 0]
    if len(values) < MIN_BASELINE:
        return 1.0, 0
    return max(1.0, sum(values) / len(values)), len(values)


def spike(
    members: Iterable[tuple[str, datetime]],
    baseline_counts: Iterable[int],
    now: datetime,
    *,
    rule_id: str = "",
    window: timedelta = WINDOW,
) -> Spike | None:
    """The spike of one story for one rule, or None when it is not breaking.

    ``members``: (outlet, published) of the story's entries, in any order; ``baseline_counts``:
    distinct outlets of each of the rule's other recent stories.
    """
    first: dict[str, datetime] = {}
    for outlet, published in members:
        if outlet and (outlet not in first or published < first[outlet]):
            first[outlet] = published
    fresh = sum(1 for t in first.values() if now - window < t <= now + FUTURE_SLACK)
    if fresh < MIN_OUTLETS:
        return None
    baseline, n = _baseline(baseline_counts)
    if fresh < FACTOR * baseline:
        return None
    return Spike(fresh, window, baseline, n, rule_id)


def story_spike(
    story_id: str,
    members: Sequence[tuple[str, datetime]],
    rule_ids: Iterable[str],
    baselines: Mapping[str, Mapping[str, int]],
    now: datetime,
) -> Spike | None:
    """The strongest spike of a story over the rules it matched (None: breaking for none).

    ``baselines``: the store's ``rule_story_outlets`` (rule -> story id -> outlets); the story
    itself is left out of its own baseline.
    """
    best: Spike | None = None
    for rule_id in dict.fromkeys(rule_ids):
        counts = [n for sid, n in baselines.get(rule_id, {}).items() if sid != story_id]
        found = spike(members, counts, now, rule_id=rule_id)
        if found is not None and (best is None or found.ratio > best.ratio):
            best = found
    return best
