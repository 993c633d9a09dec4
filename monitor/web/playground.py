"""The rule playground: a draft of one of the user's rule files, validated and tried on the
stored entries of the last days against the matches on record (``matching.backtest``).

Only the user's own rule files can be edited (those under ``rules:`` outside the shipped pack);
the draft is validated together with every other configured rule file (concepts are shared), in
a temporary stand-in for the edited file, so errors name the edited file's line and key. Saving
replaces the file atomically (the daemon's rule reload picks it up).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.errors import RuleError
from monitor.matching.backtest import Backtest, Change, backtest
from monitor.matching.loader import check_rules
from monitor.matching.match import Matcher, compile_rules
from monitor.matching.rules import RuleSet, rule_files
from monitor.model import Entry, Match
from monitor.resources import shipped_rules_dir
from monitor.web.highlight import HitLine, marked

__all__ = [
    "DEFAULT_DAYS",
    "MAX_CHANGES",
    "ChangeView",
    "Problem",
    "Trial",
    "change_views",
    "save_rule_file",
    "try_draft",
    "user_rule_files",
]

DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_CHANGES = 50
"""Per rule and direction, the page lists at most this many entries (it counts them all)."""
MAX_DRAFT = 1_000_000


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation error of the draft, where it is."""

    message: str
    file: str
    line: int | None
    key: str | None
    hint: str | None


@dataclass(frozen=True, slots=True)
class Trial:
    problems: tuple[Problem, ...]
    matcher: Matcher | None
    """The draft file's rules (with every configured concept), None when the draft is invalid."""
    rule_ids: tuple[str, ...]
    """The rules the draft file defines (enabled ones), in file order."""


def user_rule_files(paths: Sequence[Path]) -> list[Path]:
    """The configured rule files that are the user's own (never the shipped pack's)."""
    shipped = shipped_rules_dir().resolve()
    return [p for p in rule_files(paths) if not p.resolve().is_relative_to(shipped)]


def try_draft(paths: Sequence[Path], target: Path, draft: str) -> Trial:
    """Validate ``draft`` as the new text of ``target`` among the rule files of ``paths``."""
    if len(draft) > MAX_DRAFT:
        problem = Problem(
            f"the draft is over {MAX_DRAFT:,} characters", target.name, None, None, None
        )
        return Trial((problem,), None, ())
    try:
        files = rule_files(paths)
    except RuleError as exc:
        return Trial((_problem(exc, None, target),), None, ())
    with tempfile.TemporaryDirectory(prefix="monitor-playground-") as tmp:
        stand_in = Path(tmp) / target.name
        stand_in.write_text(draft, encoding="utf-8")
        swapped = [stand_in if f == target else f for f in files]
        if stand_in not in swapped:
            swapped.append(stand_in)
        ruleset, errors = check_rules(swapped)
    if errors or ruleset is None:
        return Trial(tuple(_problem(e, stand_in, target) for e in errors), None, ())
    own = tuple(r for r in ruleset.rules if r.file == str(stand_in))
    only = RuleSet(rules=own, concepts=ruleset.concepts)
    return Trial((), compile_rules(only), tuple(r.id for r in own))


def _problem(exc: RuleError, stand_in: Path | None, target: Path) -> Problem:
    file = exc.file or ""
    if stand_in is not None:
        file = file.replace(str(stand_in), str(target))
    return Problem(exc.message, file, exc.line, exc.key, exc.hint)


def diff(
    trial: Trial,
    entries: Iterable[Entry],
    on_record: Iterable[tuple[Entry, Match]],
    shown: Sequence[str],
) -> Backtest:
    """The backtest of the draft's rules; ``shown``: the rule ids to report (the draft's and
    the file's ones before the edit, so that a removed rule shows what it no longer matches)."""
    assert trial.matcher is not None
    wanted = set(shown)
    report = backtest(
        entries,
        ((e, m) for e, m in on_record if m.rule_id in wanted),
        trial.matcher.match,
        list(dict.fromkeys(shown)),
    )
    return replace(report, rules=tuple(r for r in report.rules if r.rule_id in wanted))


@dataclass(frozen=True, slots=True)
class ChangeView:
    """One entry that a rule would match now and did not (or the other way), explained."""

    entry: Entry
    score: int
    title: list[tuple[str, bool]]
    hits: tuple[HitLine, ...]


def change_views(changes: Sequence[Change]) -> list[ChangeView]:
    return [
        ChangeView(
            c.entry,
            c.match.score,
            marked(c.entry.title or "", c.match.hits),
            tuple(
                HitLine(h.concept, h.text, h.field, h.variant, h.similarity) for h in c.match.hits
            ),
        )
        for c in changes[:MAX_CHANGES]
    ]


def rule_ids_in(paths: Sequence[Path], path: Path) -> tuple[str, ...]:
    """The rule ids ``path`` defines now, among the rule files of ``paths`` (for the diff of a
    draft that drops one); none when the rule files do not load as they are."""
    with contextlib.suppress(RuleError, OSError):
        ruleset, _errors = check_rules(rule_files(paths))
        if ruleset is not None:
            return tuple(r.id for r in ruleset.rules if r.file == str(path))
    return ()


def save_rule_file(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (a reader sees the old or the new file, whole)."""
    shipped = shipped_rules_dir().resolve()
    if path.resolve().is_relative_to(shipped):
        raise RuleError("the shipped rule pack is never written", file=str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
