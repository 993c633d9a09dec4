"""Compiled watch rules x entries -> scored matches with explanations. Pure: no I/O, no clock.

Each field is folded once (``monitor.text``) and tokenized; tokens are looked up in a hash index
built at compile time (keyed by their first characters, memoized per distinct token), and only
candidates are checked in full: inflected forms, joined/hyphenated spellings, compound heads and
tails, and a rapidfuzz typo check on long words. Identical variants are compiled once, so the
cost grows with the number of distinct terms, not with the number of rules.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rapidfuzz import fuzz, process

from monitor.model import FIELDS, Entry, Hit, Match, Priority
from monitor.rules import Concept, Rule, RuleSet, Variant
from monitor.text import TOKEN_RE, fold, fold_with_offsets, is_phrase_gap, tokens

__all__ = ["ConceptResult", "Explanation", "Matcher", "compile_rules"]

ENDINGS = ("", "s", "e", "n", "r", "m", "en", "er", "es", "em", "ern", "ns", "ens")
"""German and English endings accepted on every word of an inflecting variant."""
FUZZY_MIN_LEN = 7
FUZZY_CUTOFF = 90.0
"""rapidfuzz ``fuzz.ratio``: one missing or extra letter in 10 passes, a swapped letter in 7 not."""
KEY_LEN = 4
JOIN_MIN_LEN = 5
MEMO_LIMIT = 300_000
_FIELD_SEP = "\n\x00\n"
REPEAT_BONUS = 0.1
MAX_REPEAT_BONUS = 0.2
Role = Literal["all", "any", "none"]


@dataclass(frozen=True, slots=True)
class _Target:
    concept: str
    term: str
    weight: float
    exclude: bool


class _Unit:
    """One distinct variant, compiled. Shared by every concept that lists the same spelling."""

    __slots__ = (
        "case_key", "forms", "fuzzy", "head", "joined", "joined_forms", "known", "parts", "tail",
    )  # fmt: skip

    def __init__(self, v: Variant) -> None:
        self.parts = tuple(tokens(fold(v.term)))
        inflect = v.inflect and not v.case
        endings = ENDINGS if inflect else ("",)
        self.forms = tuple(tuple(p + e for e in endings) for p in self.parts)
        self.joined = "".join(self.parts)
        self.joined_forms = frozenset(self.joined + e for e in endings)
        self.head, self.tail = v.head, v.tail
        self.fuzzy = (v.fuzzy if v.fuzzy is not None else True) and not v.case
        self.case_key = _case_key(v.term) if v.case else None
        self.known: frozenset[str] = frozenset()
        """Every word form of every variant in the matcher (set by ``Matcher``)."""

    @staticmethod
    def key(v: Variant) -> tuple[object, ...]:
        return (
            tuple(tokens(fold(v.term))),
            v.head,
            v.tail,
            v.inflect and not v.case,
            v.fuzzy if v.fuzzy is not None else True,
            _case_key(v.term) if v.case else None,
        )

    def index_keys(self) -> set[str]:
        keys = {f[:KEY_LEN] for f in self.forms[0]} | {f[:KEY_LEN] for f in self.joined_forms}
        if len(self.joined) > KEY_LEN:
            keys.add(self.joined[:KEY_LEN])  # "Liefer-Kette" starts a joined "lieferkette"
        return keys

    def _fuzzy_ok(self, token: str, j: int) -> float | None:
        if not self.fuzzy or len(token) < FUZZY_MIN_LEN or len(self.parts[j]) < FUZZY_MIN_LEN:
            return None
        if token in self.known:
            return None  # a word some variant spells exactly is not a typo ("seltener")
        best = process.extractOne(
            token, self.forms[j], scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        return None if best is None else float(best[1])

    def part_similarity(self, token: str, j: int) -> float | None:
        """100 if ``token`` is word ``j`` of this variant, the similarity if fuzzy, else None."""
        forms = self.forms[j]
        if token in forms:
            return 100.0
        if self.head and j == len(self.parts) - 1 and token.startswith(self.parts[j]):
            return 100.0
        if self.tail and j == 0 and token.endswith(forms):
            return 100.0
        return self._fuzzy_ok(token, j)

    def could_start(self, token: str) -> bool:
        if self.part_similarity(token, 0) is not None:
            return True
        if token in self.joined_forms or (self.head and token.startswith(self.joined)):
            return True
        # A piece of a hyphenated spelling ("Liefer-Kette"); short pieces ("euro") start too much.
        return JOIN_MIN_LEN <= len(token) < len(self.joined) and self.joined.startswith(token)

    def match_at(
        self, toks: Sequence[str], adjacent: Callable[[int], bool], i: int
    ) -> tuple[int, float] | None:
        """(index of the last token, similarity) of a match starting at token ``i``, or None."""
        n, k = len(toks), len(self.parts)
        tokenwise: tuple[int, float] | None = None
        if i + k <= n:
            sim = 100.0
            for j in range(k):
                if j and not adjacent(i + j - 1):
                    break
                s = self.part_similarity(toks[i + j], j)
                if s is None:
                    break
                sim = min(sim, s)
            else:
                tokenwise = (i + k - 1, sim)
                if sim >= 100.0:
                    return tokenwise
        # Joined and hyphenated spellings: "Liefer-Kette", "rareearth", "Seltenerd-Magnete".
        joined, head = self.joined, self.head
        c = ""
        for m in range(min(n - i, k + 2)):
            if m and not adjacent(i + m - 1):
                break
            c += toks[i + m]
            if c in self.joined_forms or (head and c.startswith(joined)):
                return (i + m, 100.0)
            if not joined.startswith(c):
                break
        return tokenwise


def _case_key(text: str) -> str:
    """Case-sensitive comparison form: compatibility-normalized, words joined by one space."""
    return " ".join(TOKEN_RE.findall(unicodedata.normalize("NFKC", text)))


@dataclass(frozen=True, slots=True)
class ConceptResult:
    """What one concept of a rule contributed."""

    concept: str
    role: Role
    strength: float
    """0-1: the best hit's field weight x variant weight x similarity, plus repeats."""
    hits: tuple[Hit, ...] = ()
    excluded: tuple[Hit, ...] = ()
    """Hits that did not count because an exclude term overlapped them."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an entry did or did not match one rule."""

    rule_id: str
    score: int
    threshold: int
    priority: Priority
    concepts: tuple[ConceptResult, ...]
    reason: str

    @property
    def matched(self) -> bool:
        return self.score >= self.threshold and self.score > 0

    @property
    def hits(self) -> tuple[Hit, ...]:
        """Hits of the concepts that count towards the score (``all`` and ``any``)."""
        return _ordered(h for c in self.concepts if c.role != "none" for h in c.hits)


_Weighted = tuple[Hit, float]


class _Scanner:
    """Finds hits of a set of units in folded text.

    One regex (a trie of the units' first-word prefixes, anchored at word starts) runs in C over
    the text and stops only where a variant could begin; compound tails get a second, unanchored
    one. Each candidate word is checked once (memoized) and then in full with the next few words.
    """

    def __init__(self, units: Iterable[_Unit]) -> None:
        by_key: dict[str, list[_Unit]] = {}
        self.tails: list[_Unit] = []
        for unit in units:
            for k in unit.index_keys():
                by_key.setdefault(k, []).append(unit)
            if unit.tail:
                self.tails.append(unit)
        self.by_key = by_key
        self.tail_groups: dict[str, list[_Unit]] = {}
        for unit in self.tails:
            self.tail_groups.setdefault(unit.parts[0][:6], []).append(unit)
        self.window = 2 + max((len(u.parts) for us in by_key.values() for u in us), default=0)
        self.starts = re.compile(r"(?<![^\W_])" + _trie_pattern(by_key)) if by_key else None
        self.memo: dict[str, tuple[_Unit, ...]] = {}

    def _units_for(self, token: str) -> tuple[_Unit, ...]:
        units = self.memo.get(token)
        if units is None:
            found = (u for u in self.by_key.get(token[:KEY_LEN], ()) if u.could_start(token))
            units = tuple(found)
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()  # bounded: a long-running daemon sees an open vocabulary
            self.memo[token] = units
        return units

    def scan(self, norm: str) -> list[tuple[_Unit, int, int, float]]:
        """(unit, start, end, similarity) with offsets into the folded text ``norm``."""
        out: list[tuple[_Unit, int, int, float]] = []
        if self.starts is not None:
            for m in self.starts.finditer(norm):
                word = TOKEN_RE.match(norm, m.start())
                assert word is not None
                units = self._units_for(word.group())
                if units:
                    self._check(norm, m.start(), units, out)
        # A C substring search per group of tails ("export" for -exportstopp, -exportverbot).
        tails = [u for prefix, us in self.tail_groups.items() if prefix in norm for u in us]
        if tails:
            spans = [t.span() for t in TOKEN_RE.finditer(norm)]
            for unit in tails:
                for m in re.finditer(re.escape(unit.parts[0]), norm):
                    i = bisect.bisect_right(spans, (m.start(), len(norm))) - 1
                    start, end = spans[i]
                    # a word that starts with the tail was checked above
                    if start < m.start() and unit.could_start(norm[start:end]):
                        self._check(norm, start, (unit,), out)
        return out

    def _check(
        self, norm: str, pos: int, units: Sequence[_Unit], out: list[tuple[_Unit, int, int, float]]
    ) -> None:
        window = list(itertools.islice(TOKEN_RE.finditer(norm, pos), self.window))
        toks = [t.group() for t in window]

        def adjacent(i: int) -> bool:
            return is_phrase_gap(norm[window[i].end() : window[i + 1].start()])

        for unit in units:
            found = unit.match_at(toks, adjacent, 0)
            if found is not None:
                out.append((unit, pos, window[found[0]].end(), found[1]))


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, factored as a trie so the engine branches per letter."""
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, dict[str, Any]]) -> str:
        alts = [re.escape(ch) + pattern(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


class Matcher:
    """Rules compiled for matching: build once per rule set, then call ``match`` per entry."""

    def __init__(self, rules: RuleSet) -> None:
        self.ruleset = rules
        self.rules: tuple[Rule, ...] = rules.rules
        self._rule_fields = {r.id: dict(r.fields) for r in self.rules}
        used = {c for r in self.rules for c in (*r.all, *r.any, *r.none)}
        self._fields = tuple(f for f in FIELDS if any(f in fw for fw in self._rule_fields.values()))
        units: dict[tuple[object, ...], _Unit] = {}
        self._targets: dict[_Unit, list[_Target]] = {}
        for cid in sorted(used):
            concept: Concept = rules.concepts[cid]
            for variants, exclude in ((concept.variants, False), (concept.exclude, True)):
                for v in variants:
                    if exclude and v.fuzzy is None:
                        v = replace(v, fuzzy=False)  # a context to exclude is spelt exactly
                    key = _Unit.key(v)
                    unit = units.get(key)
                    if unit is None:
                        unit = units[key] = _Unit(v)
                    self._targets.setdefault(unit, []).append(
                        _Target(cid, v.term, v.weight, exclude)
                    )
        known = frozenset(f for u in units.values() for forms in u.forms for f in forms)
        for unit in units.values():
            unit.known = known
        # Exclude terms are only looked for in a field where some variant was found.
        counted = [u for u, ts in self._targets.items() if any(not t.exclude for t in ts)]
        context = [u for u, ts in self._targets.items() if all(t.exclude for t in ts)]
        self._main = _Scanner(counted)
        self._context = _Scanner(context)
        self._rules_by_concept: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for cid in dict.fromkeys(rule.concepts):
                self._rules_by_concept.setdefault(cid, []).append(rule)
        self.unit_count = len(units)

    # --- public API --------------------------------------------------------------------------
    def match(self, entry: Entry) -> list[Match]:
        """The rules this entry matches at or above their threshold, best score first."""
        hits, excluded = self._concept_hits(entry)
        if not hits:
            return []
        candidates: dict[str, Rule] = {}
        for cid in hits:
            for rule in self._rules_by_concept.get(cid, ()):
                candidates[rule.id] = rule
        out = []
        for rule in candidates.values():
            exp = self._explain(rule, hits, excluded)
            if exp.matched:
                out.append(Match(rule.id, exp.score, rule.priority, exp.hits))
        out.sort(key=lambda m: (-m.score, m.rule_id))
        return out

    def explain(self, entry: Entry, rule_id: str) -> Explanation:
        """Score, hits and the reason for one rule, also when it does not match."""
        rule = self.ruleset.rule(rule_id)
        hits, excluded = self._concept_hits(entry)
        return self._explain(rule, hits, excluded)

    # --- finding hits ------------------------------------------------------------------------
    def _entry_hits(self, entry: Entry) -> list[tuple[str, _Unit, int, int, float]]:
        """(field, unit, start, end, similarity) with offsets into that field's text."""
        texts = [(name, text) for name in self._fields if (text := getattr(entry, name))]
        # All fields are folded and scanned as one string: per-call costs dominate short fields.
        # The separator is no phrase gap, so no match spans two fields.
        norm = fold(_FIELD_SEP.join(text for _, text in texts))
        found = self._main.scan(norm)
        if not found:
            return []
        found += self._context.scan(norm)
        out = []
        offset = 0
        for name, text in texts:
            end = norm.find(_FIELD_SEP, offset)
            end = len(norm) if end < 0 else end
            mine = [f for f in found if offset <= f[1] < end]
            if mine:
                folded = fold_with_offsets(text)
                if norm[offset:end] != folded.text:  # cannot happen: folding is per character
                    raise AssertionError(f"fold is not local in field {name} of {entry.id!r}")
                for unit, a, b, sim in mine:
                    start, stop = folded.source_span(a - offset, b - offset)
                    if unit.case_key is None or _case_key(text[start:stop]) == unit.case_key:
                        out.append((name, unit, start, stop, sim))
            offset = end + len(_FIELD_SEP)
        return out

    def _concept_hits(
        self, entry: Entry
    ) -> tuple[dict[str, list[_Weighted]], dict[str, list[Hit]]]:
        hits: dict[str, list[_Weighted]] = {}
        excluded_by: dict[str, list[Hit]] = {}
        for field_name, unit, start, end, sim in self._entry_hits(entry):
            text = entry.text(field_name)
            for tgt in self._targets[unit]:
                hit = Hit(
                    tgt.concept, tgt.term, field_name, start, end, text[start:end], round(sim, 1)
                )
                if tgt.exclude:
                    excluded_by.setdefault(tgt.concept, []).append(hit)
                else:
                    hits.setdefault(tgt.concept, []).append((hit, tgt.weight))
        dropped: dict[str, list[Hit]] = {}
        for cid, blockers in excluded_by.items():
            if cid not in hits:
                continue
            kept = []
            for hit, weight in hits[cid]:
                if any(_overlaps(hit, b) for b in blockers):
                    dropped.setdefault(cid, []).append(hit)
                else:
                    kept.append((hit, weight))
            if kept:
                hits[cid] = kept
            else:
                del hits[cid]
        for cid in hits:
            hits[cid] = _outermost(hits[cid])
        return hits, dropped

    # --- scoring -----------------------------------------------------------------------------
    def _strength(self, rule: Rule, weighted: Sequence[_Weighted]) -> tuple[float, tuple[Hit, ...]]:
        fields = self._rule_fields[rule.id]
        scored = [
            (fields[h.field] * w * h.similarity / 100.0, h)
            for h, w in weighted
            if h.field in fields
        ]
        if not scored:
            return 0.0, ()
        best = max(s for s, _ in scored)
        bonus = min(MAX_REPEAT_BONUS, REPEAT_BONUS * (len(scored) - 1))
        return min(1.0, best + bonus), _ordered(h for _, h in scored)

    def _explain(
        self, rule: Rule, hits: dict[str, list[_Weighted]], excluded: dict[str, list[Hit]]
    ) -> Explanation:
        results: list[ConceptResult] = []
        roles: tuple[tuple[Role, tuple[str, ...]], ...] = (
            ("all", rule.all),
            ("any", rule.any),
            ("none", rule.none),
        )
        for role, cids in roles:
            for cid in cids:
                strength, found = self._strength(rule, hits.get(cid, ()))
                dropped = tuple(excluded.get(cid, ()))
                results.append(ConceptResult(cid, role, strength, found, dropped))
        by_role = {r: [c for c in results if c.role == r] for r in ("all", "any", "none")}
        missing = [c.concept for c in by_role["all"] if c.strength == 0]
        vetoes = [c.concept for c in by_role["none"] if c.strength > 0]
        parts = [c.strength for c in by_role["all"]]
        if by_role["any"]:
            parts.append(max(c.strength for c in by_role["any"]))
        score = 0 if vetoes or not parts else round(100 * min(parts))
        if vetoes:
            reason = "excluded: found " + ", ".join(repr(c) for c in vetoes) + " (none:)"
        elif missing:
            reason = "required concept not found: " + ", ".join(repr(c) for c in missing)
        elif by_role["any"] and max(c.strength for c in by_role["any"]) == 0:
            reason = "none of " + ", ".join(repr(c.concept) for c in by_role["any"]) + " found"
        elif score < rule.threshold:
            reason = f"score {score} is below the threshold {rule.threshold}"
        else:
            reason = f"score {score} reaches the threshold {rule.threshold}"
        return Explanation(rule.id, score, rule.threshold, rule.priority, tuple(results), reason)


def compile_rules(rules: RuleSet) -> Matcher:
    """Compile a loaded rule set (the daemon calls this once per rules reload)."""
    return Matcher(rules)


def _overlaps(a: Hit, b: Hit) -> bool:
    return a.field == b.field and a.start < b.end and b.start < a.end


def _outermost(weighted: list[_Weighted]) -> list[_Weighted]:
    """Drop hits inside a longer hit of the same concept and field (keep the better one)."""
    weighted.sort(
        key=lambda hw: (
            FIELDS.index(hw[0].field),
            hw[0].start,
            -hw[0].end,
            -hw[0].similarity,
            -hw[1],
        )
    )
    out: list[_Weighted] = []
    for hit, weight in weighted:
        if out and out[-1][0].field == hit.field and hit.end <= out[-1][0].end:
            continue
        out.append((hit, weight))
    return out


def _ordered(hits: Iterable[Hit]) -> tuple[Hit, ...]:
    return tuple(sorted(hits, key=lambda h: (FIELDS.index(h.field), h.start, h.end, h.concept)))
