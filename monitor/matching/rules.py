"""Watch rules: the typed model (``Rule``, ``Concept``, ``Variant``, ``RuleSet``).

A ``RuleSet`` keeps the mtimes of the files it came from, so a daemon can see that they changed
(``changed``, ``mark_seen``); ``rule_files`` names the files of a list of paths. Loading and
validating them is ``loader`` (with ``rulefile`` for one file); the file format is documented
in rules/README.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import RuleError
from monitor.model import Priority, RuleCatalog

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_SEMANTIC_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WITHIN",
    "MAX_WITHIN",
    "MIN_AFFIX_LENGTH",
    "VERB_LANGS",
    "Concept",
    "Near",
    "Rule",
    "RuleSet",
    "Semantic",
    "SourceFile",
    "Variant",
    "rule_files",
]

DEFAULT_FIELDS: tuple[tuple[str, float], ...] = (("title", 1.0), ("summary", 0.8), ("content", 0.6))
DEFAULT_THRESHOLD = 50
MIN_AFFIX_LENGTH = 4
"""A compound head or tail must fold to at least this many characters ("Seltenerd-", "-kette")."""
DEFAULT_WITHIN = 3
MAX_WITHIN = 30
VERB_LANGS = ("de", "en")
DEFAULT_SEMANTIC_THRESHOLD = 0.5
"""Cosine an entry must reach to one of a rule's example sentences (USE v3), with a gate word."""


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
    """Tolerate a typo; None means: only for words of at least 7 letters, and not in verbs."""
    case: bool = False
    """Case-sensitive and exact: for short symbols such as "REE"."""
    weight: float = 1.0
    """How much one hit counts (0-1]; lower for ambiguous words that need a second mention."""
    verb: str | None = None
    """"de" or "en": the term is a verb (infinitive); its inflected, participle, separated and
    -ung noun forms count too (``forms.verb_forms``)."""
    first_name: bool = True
    """False: a hit followed by a capitalised word ("Wolfram Weimer") is a person's first name
    and does not count."""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Near:
    """A combination of concepts found close together in one field and one sentence."""

    concepts: tuple[str, ...]
    within: int | None = DEFAULT_WITHIN
    """At most this many words between the hits (in all); None: anywhere in the sentence."""
    order: str = "any"
    """"any", or "fixed": the hits stand in the order the concepts are listed."""
    line: int | None = None

    @property
    def operator(self) -> str:
        return "sentence" if self.within is None else "near"


@dataclass(frozen=True, slots=True)
class Concept:
    id: str
    variants: tuple[Variant, ...]
    exclude: tuple[Variant, ...] = ()
    """Context terms: a variant hit that overlaps one of these does not count ("kobaltblau")."""
    near: tuple[Near, ...] = ()
    """Combinations of other concepts that count as a hit of this one (``near:``/``sentence:``)."""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    """What readers see for the concept, per language ("" for any): ``label:`` in the file."""
    file: str = ""
    line: int | None = None

    def label(self, language: str) -> str:
        """The reader's name of the concept: its ``label`` in ``language``, else its label for
        any language, else its first variant as written (without compound marks)."""
        by_lang = dict(self.labels)
        if language in by_lang:
            return by_lang[language]
        if "" in by_lang:
            return by_lang[""]
        if self.variants:
            return self.variants[0].term.strip("-") or self.id
        return self.id


@dataclass(frozen=True, slots=True)
class Semantic:
    """A rule's ``semantic:`` block: example sentences an entry may be close to in meaning.

    A semantic hit needs a cosine of at least ``threshold`` to the closest example and, in the
    entry, a word of one concept of each ``gate`` group (what keeps a vague likeness from
    flooding the digest); with ``ungated`` set, a cosine of at least that counts without them.
    """

    examples: tuple[tuple[str, str], ...]
    """(language, sentence): "de" or "en" as written under ``examples:``."""
    unlike: tuple[tuple[str, str], ...] = ()
    """Near misses (``unlike:``): an entry closer to one of these than to every example is no
    semantic hit ("breaking China's grip" is not China restricting)."""
    threshold: float = DEFAULT_SEMANTIC_THRESHOLD
    gate: tuple[tuple[str, ...], ...] = ()
    """Groups of concept ids: one concept of every group must be found. ``gate: [a, b]`` in the
    file is one group, ``gate: [[a, b], [c]]`` two; omitted: the rule's own concepts (``all``
    and ``any``) as one group."""
    ungated: float | None = None
    top: int = 1
    """The cosine compared with the thresholds: the mean of the ``top`` closest examples' (1:
    the closest example's alone)."""
    margin: float = 0.0
    """How far the closest near miss must stay below that cosine (0: below it)."""
    alert: bool = False
    """Whether a semantic match alone may carry the rule's ``priority: alert`` (else digest)."""
    line: int | None = None

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(text for _, text in (*self.examples, *self.unlike))

    @property
    def gate_concepts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for group in self.gate for c in group))


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
    context: bool = False
    """Context only (``china`` alone): not part of ``rules: "*"``, selectable by its id."""
    semantic: Semantic | None = None
    """Example sentences for the optional semantic layer (extra ``semantic``)."""
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

    def catalog(self) -> RuleCatalog:
        """Titles, context-only rules and concept labels, for alerts and digests."""
        return RuleCatalog(
            titles={r.id: r.title for r in self.rules},
            context=frozenset(r.id for r in self.rules if r.context),
            labels={
                lang: {cid: c.label(lang) for cid, c in self.concepts.items()}
                for lang in ("de", "en")
            },
        )

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

    @property
    def semantic_rules(self) -> tuple[Rule, ...]:
        """The rules with a ``semantic:`` block."""
        return tuple(r for r in self.rules if r.semantic is not None)

    def changed(self) -> bool:
        """Whether a rule file changed, appeared or vanished since loading or ``mark_seen``."""
        return self._scan() != self._seen[-1]

    def mark_seen(self) -> None:
        """Take the files as they are now as seen (after a failed reload: log each edit once)."""
        self._seen.append(self._scan())
        del self._seen[:-1]

    def _scan(self) -> tuple[SourceFile, ...] | None:
        try:
            return tuple(stat_source(p) for p in rule_files(self.inputs))
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


def stat_source(path: Path) -> SourceFile:
    try:
        return SourceFile(path, path.stat().st_mtime_ns)
    except OSError as exc:
        raise RuleError(f"cannot read file: {exc}", file=str(path)) from None


def did_you_mean(name: str, known: Mapping[str, Any] | Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return None
