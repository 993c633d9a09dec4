"""Watch rules: the typed model (``Rule``, ``Concept``, ``Variant``, ``RuleSet``) and the loader.

The loader finds the rule files, has ``monitor.rulefile`` validate each one, checks ids and concept
references across files, and keeps the files' mtimes for reloading. Every error names the file,
line, rule id and key at fault, what was expected and a hint. The file format is documented in
rules/README.md; ``monitor rules check`` runs this loader.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import RuleError
from monitor.model import Priority
from monitor.yamlfile import load_yaml

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_THRESHOLD",
    "MIN_AFFIX_LENGTH",
    "Concept",
    "Rule",
    "RuleSet",
    "SourceFile",
    "Variant",
    "check_rules",
    "load_rules",
    "rule_files",
]

DEFAULT_FIELDS: tuple[tuple[str, float], ...] = (("title", 1.0), ("summary", 0.8), ("content", 0.6))
DEFAULT_THRESHOLD = 50
MIN_AFFIX_LENGTH = 4
"""A compound head or tail must fold to at least this many characters ("Seltenerd-", "-kette")."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of writing a concept. ``term`` is as written in the rule file."""

    term: str
    head: bool = False
    """Compound head: also matches at the start of a word (Seltenerd- -> Seltenerdmagnete)."""
    tail: bool = False
    """Compound tail: also matches at the end of a word (-exportstopp -> Waffenexportstopp)."""
    inflect: bool = True
    """Accept German/English endings on each word (Seltene -> Seltenen, chain -> chains)."""
    fuzzy: bool | None = None
    """Tolerate a typo; None means: only for words of at least 7 letters."""
    case: bool = False
    """Case-sensitive and exact: for short symbols such as "REE"."""
    weight: float = 1.0
    """How much one hit counts (0-1]; lower for ambiguous words that need a second mention."""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    id: str
    variants: tuple[Variant, ...]
    exclude: tuple[Variant, ...] = ()
    """Context terms: a variant hit that overlaps one of these does not count ("kobaltblau")."""
    description: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    all: tuple[str, ...] = ()
    """Concept ids that must all be found."""
    any: tuple[str, ...] = ()
    """Concept ids of which at least one must be found."""
    none: tuple[str, ...] = ()
    """Concept ids that veto the rule when found anywhere in the rule's fields."""
    description: str = ""
    fields: tuple[tuple[str, float], ...] = DEFAULT_FIELDS
    threshold: int = DEFAULT_THRESHOLD
    priority: Priority = Priority.DIGEST
    enabled: bool = True
    file: str = ""
    line: int | None = None

    @property
    def concepts(self) -> tuple[str, ...]:
        """Concepts that add to the score (``all`` then ``any``)."""
        return self.all + self.any


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    mtime_ns: int


@dataclass(frozen=True)
class RuleSet:
    """Rules and concepts from a set of files, with the files' mtimes for reloading."""

    rules: tuple[Rule, ...]
    concepts: Mapping[str, Concept]
    sources: tuple[SourceFile, ...] = ()
    inputs: tuple[Path, ...] = ()
    _by_id: dict[str, Rule] = field(default_factory=dict, init=False, repr=False, compare=False)
    _seen: list[tuple[SourceFile, ...] | None] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._by_id.update({r.id: r for r in self.rules})
        self._seen.append(self.sources)

    def rule(self, rule_id: str) -> Rule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            close = did_you_mean(rule_id, self._by_id)
            known = "rule ids: " + (", ".join(sorted(self._by_id)) or "none")
            hint = f"{close} {known}" if close else known
            raise RuleError(f"unknown rule id {rule_id!r}", hint=hint) from None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def changed(self) -> bool:
        """Whether a rule file changed, appeared or vanished since loading or ``mark_seen``."""
        return self._scan() != self._seen[-1]

    def mark_seen(self) -> None:
        """Take the files as they are now as seen (after a failed reload: log each edit once)."""
        self._seen.append(self._scan())
        del self._seen[:-1]

    def _scan(self) -> tuple[SourceFile, ...] | None:
        try:
            return tuple(_stat(p) for p in rule_files(self.inputs))
        except RuleError:
            return None


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The YAML files named by ``paths``: files as given, directories' *.yaml/*.yml sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"}))
        elif path.exists():
            out.append(path)
        else:
            raise RuleError(
                "rule file or directory not found",
                file=str(path),
                hint="pass a .yaml file or a directory of them",
            )
    return out


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Load and validate every rule file; raise the first ``RuleError`` (noting how many more)."""
    ruleset, errors = _load(paths)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            more = f"(and {len(errors) - 1} more; run `monitor rules check` to list them)"
            first.hint = f"{first.hint}\n  {more}" if first.hint else more
            first.args = (first._format(),)
        raise first
    assert ruleset is not None
    return ruleset


def check_rules(paths: Sequence[Path]) -> tuple[RuleSet | None, list[RuleError]]:
    """Every problem in the rule files (for ``monitor rules check``), and the rules if none."""
    return _load(paths)


def _load(paths: Sequence[Path]) -> tuple[RuleSet | None, list[RuleError]]:
    # Imported here: monitor.rulefile builds this module's Rule/Concept/Variant, so it imports us.
    from monitor.rulefile import RuleFileParser

    errors: list[RuleError] = []
    try:
        files = rule_files(paths)
    except RuleError as exc:
        return None, [exc]
    if not files:
        where = ", ".join(str(p) for p in paths)
        return None, [RuleError("no rule files found", file=where, hint="add a rules/*.yaml file")]
    concepts: dict[str, Concept] = {}
    rules: list[Rule] = []
    sources: list[SourceFile] = []
    for path in files:
        try:
            doc = load_yaml(path, error=RuleError)
            sources.append(_stat(path))
        except RuleError as exc:
            errors.append(exc)
            continue
        parser = RuleFileParser(doc, errors)
        for concept in parser.concepts():
            if concept.id in concepts:
                other = concepts[concept.id]
                errors.append(
                    RuleError(
                        f"duplicate concept id {concept.id!r} (first defined at "
                        f"{other.file}:{other.line})",
                        file=concept.file,
                        line=concept.line,
                        key=f"concepts.{concept.id}",
                        hint="concept ids are shared by all rule files; rename one",
                    )
                )
            else:
                concepts[concept.id] = concept
        rules.extend(parser.rules())
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            errors.append(
                RuleError(
                    f"duplicate rule id (first defined at {first.file}:{first.line})",
                    file=rule.file,
                    line=rule.line,
                    rule=rule.id,
                    key="id",
                    hint="rule ids must be unique across all rule files",
                )
            )
        seen[rule.id] = rule
        for role in ("all", "any", "none"):
            for i, ref in enumerate(getattr(rule, role)):
                if ref not in concepts:
                    errors.append(
                        RuleError(
                            f"unknown concept {ref!r}",
                            file=rule.file,
                            line=rule.line,
                            rule=rule.id,
                            key=f"{role}[{i}]",
                            hint=did_you_mean(ref, concepts)
                            or "define it under `concepts:` in any rule file",
                        )
                    )
    if errors:
        return None, errors
    ruleset = RuleSet(
        rules=tuple(r for r in rules if r.enabled),
        concepts=concepts,
        sources=tuple(sources),
        inputs=tuple(paths),
    )
    return ruleset, []


def _stat(path: Path) -> SourceFile:
    try:
        return SourceFile(path, path.stat().st_mtime_ns)
    except OSError as exc:
        raise RuleError(f"cannot read file: {exc}", file=str(path)) from None


def did_you_mean(name: str, known: Mapping[str, Any] | Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return None
