"""Rule lint: what each variant of a rule set hits in a body of entries, and false friends.

For ``monitor rules check --corpus/--store``. Pure: takes a compiled ``Matcher`` and entries,
returns data. The word-frequency list is computed from the same entries, so "a frequent word"
means frequent in the news the rules will see (no word list is downloaded).

Warnings (each with what to do):

- ``false-friend``: a fuzzy variant whose hits are mostly another word that is itself frequent
  in the corpus ("Scheelit" -> "Scheitern"): not a typo of the term but a different word.
- ``name``: a one-word variant matching mostly as the first word of a capitalised two-word name
  ("Wolfram Weimer", a minister, for tungsten).
- ``case``: a short all-capitals symbol ("REE") matching mostly in other spellings ("Ree").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.matching.match import Matcher
from monitor.matching.text import fold, name_after, tokens
from monitor.model import FIELDS, Entry, Hit

__all__ = [
    "FREQUENT_MIN",
    "MOSTLY",
    "Lint",
    "LintWarning",
    "VariantStats",
    "lint_rules",
]

FREQUENT_MIN = 3
"""A word is frequent when it occurs at least this often in the corpus (and more often than the
term itself): a typo of the term is rarer than the term."""
MOSTLY = 0.5
"""Share of a variant's hits that makes a pattern "mostly"."""
SYMBOL_MAX_LEN = 5


@dataclass(slots=True)
class VariantStats:
    """Hits of one variant of one concept, counted for one rule (in that rule's fields)."""

    rule_id: str
    concept: str
    variant: str
    hits: int = 0
    entries: int = 0
    words: Counter[str] = field(default_factory=Counter)
    """Matched text as written -> hits."""
    fuzzy: Counter[str] = field(default_factory=Counter)
    """Folded matched word of the fuzzy (inexact) hits -> hits."""
    names: Counter[str] = field(default_factory=Counter)
    """"Word Name" where the hit is followed by a capitalised word -> hits."""

    def top(self, n: int) -> list[tuple[str, int]]:
        return self.words.most_common(n)


@dataclass(frozen=True, slots=True)
class LintWarning:
    kind: str
    """"false-friend", "name" or "case"."""
    rule_id: str
    concept: str
    variant: str
    word: str
    """The false friend, the name ("Wolfram Weimer") or the other spelling."""
    count: int
    """Hits of the variant that are this pattern."""
    of: int
    """All hits of the variant (for this rule)."""
    corpus_count: int
    """How often ``word`` occurs in the corpus (for names: the two-word sequence's hits)."""
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class Lint:
    entries: int
    variants: tuple[VariantStats, ...]
    warnings: tuple[LintWarning, ...]


def lint_rules(matcher: Matcher, entries: Iterable[Entry]) -> Lint:
    """Per rule and variant: hits, matched words and warnings, over ``entries``."""
    freq: Counter[str] = Counter()
    stats: dict[tuple[str, str, str], VariantStats] = {}
    variant_terms = {
        cid: {v.term for v in c.variants} for cid, c in matcher.ruleset.concepts.items()
    }
    rule_fields = {r.id: {f for f, _ in r.fields} for r in matcher.rules}
    count = 0
    for entry in entries:
        count += 1
        for name in FIELDS:
            text = entry.text(name)
            if text:
                freq.update(tokens(fold(text)))
        found = matcher.concept_hits(entry)
        if not found:
            continue
        for rule in matcher.rules:
            seen: set[tuple[str, str, str]] = set()
            for cid in dict.fromkeys(rule.concepts):
                for hit in found.get(cid, ()):
                    if (
                        hit.field not in rule_fields[rule.id]
                        or hit.variant not in variant_terms[cid]
                    ):
                        continue  # another rule's field, or a near: combination
                    key = (rule.id, cid, hit.variant)
                    st = stats.get(key)
                    if st is None:
                        st = stats[key] = VariantStats(rule.id, cid, hit.variant)
                    _count_hit(st, hit, entry.text(hit.field))
                    if key not in seen:
                        seen.add(key)
                        st.entries += 1
    ordered = sorted(stats.values(), key=lambda s: (s.rule_id, s.concept, -s.hits, s.variant))
    warnings = [w for st in ordered for w in _warnings(matcher, st, freq)]
    return Lint(count, tuple(ordered), tuple(warnings))


def _count_hit(st: VariantStats, hit: Hit, text: str) -> None:
    st.hits += 1
    st.words[hit.text] += 1
    if not hit.exact:
        st.fuzzy[fold(hit.text)] += 1
    name = name_after(text, hit.start, hit.end)
    if name is not None:
        st.names[name] += 1


def _warnings(matcher: Matcher, st: VariantStats, freq: Counter[str]) -> list[LintWarning]:
    out: list[LintWarning] = []
    if not st.hits:
        return out
    where = f"rule {st.rule_id!r}, concept {st.concept!r}, variant {st.variant!r}"
    term_words = tokens(fold(st.variant))
    term_freq = freq[term_words[0]] if len(term_words) == 1 else 0
    friends = [
        (w, n)
        for w, n in st.fuzzy.most_common()
        if w not in term_words and freq[w] >= FREQUENT_MIN and freq[w] > term_freq
    ]
    friend_hits = sum(n for _, n in friends)
    if friends and friend_hits >= MOSTLY * st.hits:
        word, n = friends[0]
        shown = _as_written(st, word)
        others = ", ".join(repr(_as_written(st, w)) for w, _ in friends[1:4])
        also = f" (also {others})" if others else ""
        out.append(
            LintWarning(
                "false-friend",
                st.rule_id,
                st.concept,
                st.variant,
                shown,
                n,
                st.hits,
                freq[word],
                f"{where}: fuzzy matching turns it into the common word {shown!r}{also}: "
                f"{friend_hits} of {st.hits} hits; {shown!r} occurs {freq[word]} times in the "
                f"corpus, {st.variant!r} {term_freq}",
                f"turn fuzzy off for this variant ({{term: {st.variant}, fuzzy: false}}) or add "
                f"exclude: [{shown}] to concept {st.concept!r}",
            )
        )
    if len(term_words) == 1 and st.names:
        named = sum(st.names.values())
        if named >= MOSTLY * st.hits and named >= 2:
            name, n = st.names.most_common(1)[0]
            others = ", ".join(repr(w) for w, _ in st.names.most_common(4)[1:])
            also = f" (also {others})" if others else ""
            out.append(
                LintWarning(
                    "name",
                    st.rule_id,
                    st.concept,
                    st.variant,
                    name,
                    named,
                    st.hits,
                    n,
                    f"{where}: {named} of {st.hits} hits are the first word of a capitalised "
                    f"two-word name, mostly {name!r} ({n}){also}: likely a person or company",
                    f"write the variant as {{term: {st.variant}, first_name: false}} (never "
                    f"before a capitalised word), or add exclude: [{name}] to concept "
                    f"{st.concept!r} (one entry per name)",
                )
            )
    variant = next(
        (v for v in matcher.ruleset.concepts[st.concept].variants if v.term == st.variant), None
    )
    term = st.variant
    if (
        variant is not None
        and not variant.case
        and term.isupper()
        and len(term) <= SYMBOL_MAX_LEN
        and " " not in term
    ):
        other = sum(n for w, n in st.words.items() if w != term)
        if other >= MOSTLY * st.hits:
            word, n = next((w, n) for w, n in st.words.most_common() if w != term)
            out.append(
                LintWarning(
                    "case",
                    st.rule_id,
                    st.concept,
                    st.variant,
                    word,
                    other,
                    st.hits,
                    freq[fold(word)],
                    f"{where}: the symbol matches mostly in other spellings, "
                    f"{other} of {st.hits} hits (mostly {word!r}, {n})",
                    f"spell it exactly: {{term: {term}, case: true}}",
                )
            )
    return out


def _as_written(st: VariantStats, folded: str) -> str:
    """The most common spelling of a folded matched word among the variant's hits."""
    for text, _ in st.words.most_common():
        if fold(text) == folded:
            return text
    return folded
