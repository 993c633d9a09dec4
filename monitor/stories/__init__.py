"""The story layer: which entries report the same real-world event. Pure: no I/O, no clock.

``assign(entry, window)`` decides, for one new entry, whether it joins a story of the recent
window or starts a new one, and says why; ``Window`` holds the recent stories, adds the entry to
the chosen one and expires stories that ended more than its span ago. See README "Stories".
"""

from __future__ import annotations

from monitor.stories.features import Features, extract
from monitor.stories.model import Decision, StoryEntry
from monitor.stories.window import Settings, Story, Window, assign

__all__ = [
    "Decision",
    "Features",
    "Settings",
    "Story",
    "StoryEntry",
    "Window",
    "assign",
    "extract",
]
