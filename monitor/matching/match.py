"""Compiled watch rules x entries -> scored matches with explanations. Pure: no I/O, no clock.

An entry's fields are folded once, as one string (``text``), and scanned for the compiled
variants (``scan``); most entries have no candidate word and end there. Only when a
variant is found are the hits mapped back to the source text, excluded by context, and weighed
per rule. Identical variants are compiled once, so the cost grows with the number of distinct
terms, not with the number of rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Literal

from monitor.matching.embedder import SemanticIndex, Vector
from monitor.matching.near import Link, Words, combine
from monitor.matching.rules import Concept, Near, Rule, RuleSet
from monitor.matching.scan import Scanner, Unit, case_key
from monitor.matching.text import fold_utf8, fold_with_offsets, name_after
from monitor.matching.wordlist import common_words
from monitor.model import FIELDS, SEMANTIC, Entry, Hit, Match, Priority

__all__ = ["ConceptResult", "Explanation", "Matcher", "SemanticResult", "compile_rules"]

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
    links: tuple[Link, ...] = ()
    """For ``near:``/``sentence:`` hits among ``hits``: both ends and the distance."""


@dataclass(frozen=True, slots=True)
class SemanticResult:
    """What a rule's ``semantic:`` block made of an entry: the closest example sentence, its
    cosine, the thresholds and the gate concepts found."""

    example: str | None
    """The closest example sentence; None when the entry has no vector (layer off)."""
    language: str
    similarity: float
    """Cosine of the entry's vector and the example's (0 without a vector)."""
    threshold: float
    ungated: float | None
    gate: tuple[tuple[str, ...], ...]
    """The rule's gate: one concept of each group is needed."""
    gate_found: tuple[str, ...]
    """... and those found in the entry (in the rule's fields)."""
    matched: bool
    reason: str
    unlike: str | None = None
    """The closest near miss (``unlike:``), if the rule has any ..."""
    unlike_similarity: float = 0.0
    """... and its cosine: at or above ``similarity`` there is no hit."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an entry did or did not match one rule."""

    rule_id: str
    score: int
    threshold: int
    priority: Priority
    concepts: tuple[ConceptResult, ...]
    reason: str
    semantic: SemanticResult | None = None
    """For a rule with ``semantic:``: what the semantic layer found (also when it did not
    match, or was off)."""

    @property
    def matched(self) -> bool:
        return self.score >= self.threshold and self.score > 0

    @property
    def kind(self) -> str:
        """ "term" (the rule's words), "semantic" (its example sentences), or "" (no match)."""
        if not self.matched:
            return ""
        return SEMANTIC if self.semantic is not None and self.semantic.matched else "term"

    @property
    def hits(self) -> tuple[Hit, ...]:
        """Hits of the concepts that count towards the score (``all`` and ``any``)."""
        return _ordered(h for c in self.concepts if c.role != "none" for h in c.hits)


_Weighted = tuple[Hit, float]
_Strength = tuple[float, tuple[Hit, ...]]


class Matcher:
    """Rules compiled for matching: build once per rule set, then call ``match`` per entry."""

    def __init__(self, rules: RuleSet, semantic: SemanticIndex | None = None) -> None:
        """``semantic``: the rules' example sentences as vectors (from the edge); without it,
        ``semantic:`` blocks are not used and ``match`` ignores a vector."""
        self.ruleset = rules
        self.rules: tuple[Rule, ...] = rules.rules
        self.semantic = semantic
        self._semantic_rules = tuple(
            r
            for r in self.rules
            if r.semantic is not None and semantic is not None and semantic.examples.get(r.id)
        )
        self._ungated = any(
            r.semantic is not None and r.semantic.ungated is not None for r in self._semantic_rules
        )
        self._rule_fields = {r.id: dict(r.fields) for r in self.rules}
        # Gate concepts are looked for only where the semantic layer can use them: without
        # vectors a gate-only concept is dead weight (39 % of the scan on the shipped pack).
        gates = {
            c
            for r in self._semantic_rules
            if r.semantic is not None
            for c in r.semantic.gate_concepts
        }
        used = {c for r in self.rules for c in (*r.all, *r.any, *r.none)} | gates
        self._near = _near_order(rules.concepts, used)
        used |= {m for _, clauses in self._near for n in clauses for m in n.concepts}
        self._fields = tuple(f for f in FIELDS if any(f in fw for fw in self._rule_fields.values()))
        self._field_values: Callable[[Entry], tuple[str | None, ...]] = (
            attrgetter(*self._fields) if len(self._fields) > 1 else _OneField(self._fields)
        )
        units: dict[tuple[object, ...], Unit] = {}
        self._targets: dict[Unit, list[_Target]] = {}
        for cid in sorted(used):
            concept: Concept = rules.concepts[cid]
            for variants, exclude in ((concept.variants, False), (concept.exclude, True)):
                for v in variants:
                    if exclude and v.fuzzy is None:
                        v = replace(v, fuzzy=False)  # a context to exclude is spelt exactly
                    key = Unit.key(v)
                    unit = units.get(key)
                    if unit is None:
                        unit = units[key] = Unit(v)
                    self._targets.setdefault(unit, []).append(
                        _Target(cid, v.term, v.weight, exclude)
                    )
        # A word some variant spells exactly, or a common real word ("Scheitern" for the
        # variant "Scheelit"), is never taken for a typo.
        known = common_words().union(f for u in units.values() for forms in u.forms for f in forms)
        for unit in units.values():
            unit.known = known
        # Exclude terms are only looked for once a variant of their concept is found: the
        # exclude terms of the concepts that a found unit counts for.
        counted = [u for u, ts in self._targets.items() if any(not t.exclude for t in ts)]
        context = [u for u, ts in self._targets.items() if all(t.exclude for t in ts)]
        # Words that only count within a near: clause ("export", "control", "ban") are common.
        # Per clause one concept is its trigger (``_trigger``): the other concepts' words are
        # looked for (``_deferred``) only in entries where a trigger word is found.
        named = frozenset(c for r in self.rules for c in (*r.all, *r.any, *r.none)) | gates
        self._counts_for: dict[Unit, frozenset[str]] = {
            u: frozenset(t.concept for t in ts if not t.exclude) for u, ts in self._targets.items()
        }
        clauses = [near for _, cs in self._near for near in cs]
        shared = Counter(c for near in clauses for c in set(near.concepts))
        triggers = {_trigger(near, rules.concepts, shared) for near in clauses}
        early = named | triggers
        deferred = [u for u in counted if self._counts_for[u].isdisjoint(early)]
        self._main = Scanner(u for u in counted if not self._counts_for[u].isdisjoint(early))
        self._deferred = Scanner(deferred) if deferred else None
        self._triggered_by = frozenset(
            u for u in counted if not self._counts_for[u].isdisjoint(triggers)
        )
        self._named = named
        self._near_members = [
            (cid, [frozenset(near.concepts) for near in cs]) for cid, cs in self._near
        ]
        self._context = Scanner(context)
        context_of: dict[str, set[Unit]] = {}
        for unit in context:
            for t in self._targets[unit]:
                context_of.setdefault(t.concept, set()).add(unit)
        self._context_for: dict[Unit, frozenset[Unit]] = {
            unit: frozenset(
                c
                for t in self._targets[unit]
                if not t.exclude
                for c in context_of.get(t.concept, ())
            )
            for unit in counted
        }
        self._rules_by_concept: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for cid in dict.fromkeys(rule.concepts):
                self._rules_by_concept.setdefault(cid, []).append(rule)
        self.unit_count = len(units)

    # --- public API --------------------------------------------------------------------------
    @property
    def uses_vectors(self) -> bool:
        """Whether ``match`` uses an entry vector: some rule has examples in the index."""
        return bool(self._semantic_rules)

    def match(self, entry: Entry, vector: Vector | None = None) -> list[Match]:
        """The rules this entry matches at or above their threshold, best score first.

        ``vector``: the entry's embedding (``embedder.embedding_text``) under the index's model;
        with it, a rule with ``semantic:`` that its words do not match may match semantically.
        """
        hits, _, _ = self._concept_hits(entry)
        if not hits and (vector is None or not self._ungated):
            return []
        candidates: dict[str, Rule] = {}
        for cid in hits:
            for rule in self._rules_by_concept.get(cid, ()):
                candidates[rule.id] = rule
        # Rules mostly share their fields: each concept is weighed once per set of fields.
        cache: dict[tuple[str, tuple[tuple[str, float], ...]], _Strength] = {}
        out = []
        for rule in candidates.values():
            found: dict[str, _Strength] = {}
            for cid in (*rule.all, *rule.any, *rule.none):
                if cid in hits:
                    key = (cid, rule.fields)
                    weighed = cache.get(key)
                    if weighed is None:
                        weighed = cache[key] = self._strength(rule, hits[cid])
                    found[cid] = weighed
            score = _score(rule, {cid: st for cid, (st, _) in found.items()})
            if score >= rule.threshold and score > 0:
                shown = (h for cid in rule.concepts if cid in found for h in found[cid][1])
                out.append(Match(rule.id, score, rule.priority, _ordered(shown)))
        if vector is not None and self._semantic_rules:
            done = {m.rule_id for m in out}
            for rule in self._semantic_rules:
                sem = rule.semantic
                assert sem is not None
                if rule.id in done or (
                    sem.ungated is None and not all(any(c in hits for c in g) for g in sem.gate)
                ):
                    continue  # matched by its words, or no gate word: no cosine to compute
                result, shown_hits = self._semantic_judge(rule, hits, vector)
                if result.matched:
                    out.append(self._semantic_match(rule, result, shown_hits))
        out.sort(key=lambda m: (-m.score, m.rule_id))
        return out

    def _semantic_judge(
        self, rule: Rule, hits: dict[str, list[_Weighted]], vector: Vector | None
    ) -> tuple[SemanticResult, tuple[Hit, ...]]:
        """The semantic layer's verdict on one rule, and the gate concepts' hits."""
        sem = rule.semantic
        assert sem is not None
        gate_hits: list[Hit] = []
        found: list[str] = []
        for cid in sem.gate_concepts:
            if cid in hits:
                strength, shown = self._strength(rule, hits[cid])
                if strength > 0:
                    found.append(cid)
                    gate_hits += shown
        vetoed = [c for c in rule.none if c in hits and self._strength(rule, hits[c])[0] > 0]
        best = miss = None
        if vector is not None and self.semantic is not None:
            best = self.semantic.best(rule.id, vector, top=sem.top)
            miss = self.semantic.best(rule.id, vector, unlike=True)

        def result(matched: bool, reason: str) -> SemanticResult:
            return SemanticResult(
                best.example if best else None,
                best.language if best else "",
                best.similarity if best else 0.0,
                sem.threshold,
                sem.ungated,
                sem.gate,
                tuple(found),
                matched,
                reason,
                miss.example if miss else None,
                miss.similarity if miss else 0.0,
            )

        if best is None:
            why = "no entry vector" if vector is None else "no example vectors for this rule"
            return result(False, f"semantic layer off ({why})"), ()
        cos = best.similarity
        if vetoed:
            return result(False, "excluded: found " + ", ".join(map(repr, vetoed))), ()
        if miss is not None and miss.similarity + sem.margin >= cos:
            within = f" (or within {sem.margin:.2f} of it)" if sem.margin else ""
            return result(
                False,
                f"closer to the near miss {miss.example!r} ({miss.similarity:.2f}) than to any "
                f"example ({cos:.2f}){within}",
            ), ()
        missing = [g for g in sem.gate if not set(g) & set(found)]
        if cos >= sem.threshold and not missing:
            gate = ", ".join(repr(c) for c in found)
            return result(
                True, f"cosine {cos:.2f} reaches {sem.threshold:.2f}, gate concept found: {gate}"
            ), _ordered(gate_hits)
        if sem.ungated is not None and cos >= sem.ungated:
            return result(True, f"cosine {cos:.2f} reaches {sem.ungated:.2f} (no gate needed)"), (
                _ordered(gate_hits)
            )
        if cos < sem.threshold:
            return result(False, f"cosine {cos:.2f} is below the threshold {sem.threshold:.2f}"), ()
        need = "; ".join(", ".join(repr(c) for c in g) for g in missing)
        extra = f" (or a cosine of {sem.ungated:.2f})" if sem.ungated is not None else ""
        return result(
            False,
            f"cosine {cos:.2f} reaches {sem.threshold:.2f}, but the gate is not met: "
            f"needs one of {need}{extra}",
        ), ()

    def _semantic_match(
        self, rule: Rule, result: SemanticResult, gate_hits: tuple[Hit, ...]
    ) -> Match:
        """A match of its own kind: scored at the rule's threshold, and an alert only when the
        rule's ``semantic: {alert: true}`` says so."""
        sem = rule.semantic
        assert sem is not None and result.example is not None
        found = set(result.gate_found)
        gated = all(found.intersection(g) for g in sem.gate) and result.similarity >= sem.threshold
        used = sem.threshold if gated or sem.ungated is None else sem.ungated
        hit = Hit(
            SEMANTIC,
            result.example,
            rule.fields[0][0],
            0,
            0,
            "",
            round(100 * result.similarity, 1),
            kind=SEMANTIC,
            threshold=round(100 * used, 1),
        )
        priority = rule.priority if sem.alert else Priority.DIGEST
        return Match(rule.id, rule.threshold, priority, (hit, *gate_hits))

    def concept_hits(self, entry: Entry) -> dict[str, tuple[Hit, ...]]:
        """Every concept's hits in this entry (after excludes), in all the rules' fields; for
        tools that look at variants rather than scores (``lint``)."""
        hits, _, _ = self._concept_hits(entry)
        return {cid: tuple(h for h, _ in weighted) for cid, weighted in hits.items()}

    def explain(self, entry: Entry, rule_id: str, vector: Vector | None = None) -> Explanation:
        """Score, hits and the reason for one rule, also when it does not match; with
        ``vector``, also what the rule's ``semantic:`` block made of the entry."""
        rule = self.ruleset.rule(rule_id)
        hits, excluded, links = self._concept_hits(entry)
        exp = self._explain(rule, hits, excluded, links)
        if rule.semantic is None:
            return exp
        result, _ = self._semantic_judge(rule, hits, vector)
        if exp.matched and result.matched:
            result = replace(result, matched=False, reason="not needed: the rule's words match")
        if result.matched:
            return replace(
                exp,
                score=rule.threshold,
                priority=rule.priority if rule.semantic.alert else Priority.DIGEST,
                reason=f"semantic match: {result.reason} (lexically: {exp.reason})",
                semantic=result,
            )
        return replace(exp, semantic=result)

    # --- finding hits ------------------------------------------------------------------------
    def _entry_hits(self, entry: Entry) -> tuple[list[tuple[str, Unit, int, int, float]], bool]:
        """(field, unit, start, end, similarity) with offsets into that field's text, and
        whether some near: clause may be met."""
        values = self._field_values(entry)
        # All fields are folded and scanned as one string: per-call costs dominate short fields.
        # The separator is no phrase gap, so no match spans two fields.
        norm, data = fold_utf8(_FIELD_SEP.join(filter(None, values)))
        found = self._main.scan(norm, None, data)
        maybe_near = False
        # Without a trigger word no clause can be met, and every hit counts for a rule's concept.
        if found and not self._triggered_by.isdisjoint([f[0] for f in found]):
            if self._deferred is not None:
                found += self._deferred.scan(norm, None, data)
            found, maybe_near = self._needed(found)
        if not found:
            return [], False
        context = frozenset().union(*(self._context_for[f[0]] for f in found))
        if context:
            found += self._context.scan(norm, context, data)
        out = []
        offset = 0
        for name, text in zip(self._fields, values, strict=True):
            if not text:
                continue
            end = norm.find(_FIELD_SEP, offset)
            end = len(norm) if end < 0 else end
            mine = [f for f in found if offset <= f[1] < end]
            if mine:
                folded = fold_with_offsets(text, norm[offset:end])
                for unit, a, b, sim in mine:
                    start, stop = folded.source_span(a - offset, b - offset)
                    if unit.case_key is not None and case_key(text[start:stop]) != unit.case_key:
                        continue
                    if not unit.first_name and name_after(text, start, stop) is not None:
                        continue  # "Wolfram Weimer": a person, not the metal
                    out.append((name, unit, start, stop, sim))
            offset = end + len(_FIELD_SEP)
        return out, maybe_near

    def _needed(
        self, found: list[tuple[Unit, int, int, float]]
    ) -> tuple[list[tuple[Unit, int, int, float]], bool]:
        """``found`` without the hits that count only for near: clauses that cannot be met, and
        whether any clause may be met."""
        counts_for = self._counts_for
        present = set().union(*(counts_for[f[0]] for f in found))
        wanted = set(self._named)
        met = False
        for cid, members in self._near_members:
            for concepts in members:
                if concepts <= present:
                    present.add(cid)
                    wanted |= concepts
                    met = True
        return [f for f in found if not counts_for[f[0]].isdisjoint(wanted)], met

    def _concept_hits(
        self, entry: Entry
    ) -> tuple[dict[str, list[_Weighted]], dict[str, list[Hit]], dict[Hit, Link]]:
        found, maybe_near = self._entry_hits(entry)
        if not found:  # most entries
            return {}, {}, {}
        hits: dict[str, list[_Weighted]] = {}
        excluded_by: dict[str, list[Hit]] = {}
        for field_name, unit, start, end, sim in found:
            piece = entry.text(field_name)[start:end]
            sim = round(sim, 1)
            for tgt in self._targets[unit]:
                hit = Hit(tgt.concept, tgt.term, field_name, start, end, piece, sim)
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
        links: dict[Hit, Link] = {}
        if maybe_near and hits:
            self._near_hits(entry, hits, links)
        return hits, dropped, links

    def _near_hits(
        self, entry: Entry, hits: dict[str, list[_Weighted]], links: dict[Hit, Link]
    ) -> None:
        """Add the hits of ``near:``/``sentence:`` concepts (members before the concepts that
        combine them), each with its ``Link``."""
        words: dict[str, Words] = {}
        for cid, clauses in self._near:
            for near in clauses:
                if not all(m in hits for m in near.concepts):
                    continue
                fields = set.intersection(*({h.field for h, _ in hits[m]} for m in near.concepts))
                for name in sorted(fields, key=FIELDS.index):
                    per = [[h for h, _ in hits[m] if h.field == name] for m in near.concepts]
                    if name not in words:
                        words[name] = Words(entry.text(name))
                    own = [h for h, _ in hits.get(cid, ()) if h.field == name]
                    for link in combine(near, per, words[name], cid):
                        if any(_overlaps(link.hit, h) for h in own):
                            continue  # already a hit of this concept (a variant or a clause)
                        own.append(link.hit)
                        hits.setdefault(cid, []).append((link.hit, 1.0))
                        links[link.hit] = link

    # --- scoring -----------------------------------------------------------------------------
    def _strength(self, rule: Rule, weighted: Sequence[_Weighted]) -> _Strength:
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
        self,
        rule: Rule,
        hits: dict[str, list[_Weighted]],
        excluded: dict[str, list[Hit]],
        links: Mapping[Hit, Link],
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
                linked = tuple(links[h] for h in found if h in links)
                results.append(ConceptResult(cid, role, strength, found, dropped, linked))
        by_role = {r: [c for c in results if c.role == r] for r in ("all", "any", "none")}
        missing = [c.concept for c in by_role["all"] if c.strength == 0]
        vetoes = [c.concept for c in by_role["none"] if c.strength > 0]
        score = _score(rule, {c.concept: c.strength for c in results})
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


def _score(rule: Rule, strengths: Mapping[str, float]) -> int:
    """0-100: the weakest ``all`` concept and the strongest ``any`` concept; 0 on a veto.
    ``strengths`` may leave out the concepts that were not found."""
    if any(strengths.get(cid, 0.0) > 0 for cid in rule.none):
        return 0
    parts = [strengths.get(cid, 0.0) for cid in rule.all]
    if rule.any:
        parts.append(max(strengths.get(cid, 0.0) for cid in rule.any))
    return round(100 * min(parts)) if parts else 0


def compile_rules(rules: RuleSet) -> Matcher:
    """Compile a loaded rule set (the daemon calls this once per rules reload)."""
    return Matcher(rules)


def _trigger(near: Near, concepts: Mapping[str, Concept], shared: Counter[str]) -> str | None:
    """The concept of ``near`` that is in the most clauses (so that few concepts trigger them
    all), then the one with the fewest variants, then the first listed; None when every member
    is a near: concept without variants of its own."""
    spelled = [c for c in near.concepts if concepts[c].variants]
    if not spelled:
        return None
    return min(spelled, key=lambda c: (-shared[c], len(concepts[c].variants)))


def _near_order(
    concepts: Mapping[str, Concept], used: Iterable[str]
) -> tuple[tuple[str, tuple[Near, ...]], ...]:
    """The ``near:``/``sentence:`` concepts that ``used`` needs, each after the near concepts it
    combines (the loader refuses cycles)."""
    out: dict[str, tuple[Near, ...]] = {}
    seen: set[str] = set()

    def visit(cid: str) -> None:
        if cid in seen:
            return
        seen.add(cid)
        clauses = concepts[cid].near
        for near in clauses:
            for member in near.concepts:
                visit(member)
        if clauses:
            out[cid] = clauses

    for cid in sorted(used):
        visit(cid)
    return tuple(out.items())


class _OneField:
    """``attrgetter`` of one field (or none) as a tuple, as ``attrgetter`` gives several."""

    __slots__ = ("names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def __call__(self, entry: Entry) -> tuple[str | None, ...]:
        return tuple(getattr(entry, f) for f in self.names)


def _overlaps(a: Hit, b: Hit) -> bool:
    return a.field == b.field and a.start < b.end and b.start < a.end


def _outermost(weighted: list[_Weighted]) -> list[_Weighted]:
    """Drop hits inside a longer hit of the same concept and field (keep the better one)."""
    if len(weighted) < 2:
        return weighted
    weighted.sort(
        key=lambda hw: (
            _FIELD_RANK[hw[0].field],
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
    listed = list(hits)
    if len(listed) < 2:
        return tuple(listed)
    listed.sort(key=lambda h: (_FIELD_RANK[h.field], h.start, h.end, h.concept))
    return tuple(listed)


_FIELD_RANK = {name: i for i, name in enumerate(FIELDS)}
"""``FIELDS.index`` as a look-up (sort keys of every hit)."""
