"""Verb forms for ``verb:`` variants: German and English inflection by rule. Pure, no data files.

``verb_forms(word, lang)`` takes a folded infinitive ("beschraenken", "einschraenken", "restrict")
and returns the forms that count for it: present and past tenses, participles (also as inflected
adjectives), the zu-infinitive, the finite forms of a separable verb without its prefix
("schraenkt ... ein"), and for German the -ung noun (Beschraenkung, Beschraenkungen). Irregular
(strong) past forms are not derived; a rule lists them as variants of their own ("verboten").

Why rules and not a lemmatizer: the matcher compiles every form into its automaton once, so a
form costs nothing per entry; a lemmatizer would run on every word of every entry (see
bench/RESULTS.md, "Verb forms"). The verbs a rule pack needs are few and mostly weak.
"""

from __future__ import annotations

__all__ = ["SEPARABLE_PREFIXES", "verb_forms"]

SEPARABLE_PREFIXES = (
    "zurueck", "heraus", "herunter", "fest", "frei", "nach", "auf", "aus", "ein", "mit", "vor",
    "weg", "ab", "an", "zu",
)  # fmt: skip
"""German separable prefixes, longest first (folded: "zurück" -> "zurueck")."""
_INSEPARABLE = (
    "be", "emp", "ent", "er", "ge", "miss", "ver", "zer", "unter", "ueber", "durch", "hinter",
    "wider", "voll",
)  # fmt: skip
"""No ge- in the participle (beschraenkt, untersagt); "unter-"/"ueber-" taken as inseparable."""
_ADJ = ("", "e", "en", "er", "es", "em")
_VOWELS = "aeiou"


def verb_forms(word: str, lang: str) -> tuple[str, ...]:
    """Every form of the folded verb ``word`` in language ``lang`` ("de" or "en"), itself first."""
    forms = _german(word) if lang == "de" else _english(word)
    return tuple(dict.fromkeys((word, *forms)))


def _german(word: str) -> list[str]:
    if word.endswith(("eln", "ern")):
        stem = word[:-1]  # sammeln -> sammel (sammelt, sammelte)
    elif word.endswith("en"):
        stem = word[:-2]
    else:
        return [word]
    prefix = next(
        (p for p in SEPARABLE_PREFIXES if word.startswith(p) and len(word) - len(p) >= 5), ""
    )
    base = stem[len(prefix) :]
    # -et/-ete after t/d ("arbeitet", "meldete"); otherwise -t/-te.
    e = "e" if base.endswith(("t", "d")) else ""
    endings = ("e", "st", f"{e}t", "en", f"{e}te", f"{e}test", f"{e}ten", f"{e}tet")
    finite = [base + s for s in endings]
    inseparable = base.startswith(_INSEPARABLE) or base.endswith("ier")
    participle = f"{base}{e}t" if inseparable else f"ge{base}{e}t"
    out = [prefix + f for f in finite]
    if prefix:
        out += finite  # "China schraenkt den Export ... ein"
        out.append(f"{prefix}zu{word[len(prefix) :]}")  # einzuschraenken
    out += [prefix + participle + a for a in _ADJ]
    out += [f"{word}d{a}" for a in _ADJ]  # present participle: beschraenkend(e)
    out += [f"{stem}ung", f"{stem}ungen"]  # noun: Beschraenkung(en), Einschraenkung(en)
    return out


def _english(word: str) -> list[str]:
    out = [word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        out.append(word + "es")
    elif word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        out.append(word[:-1] + "ies")
    else:
        out.append(word + "s")
    if word.endswith("e"):
        out += [word + "d", word[:-1] + "ing"]  # license -> licensed, licensing
    elif word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        out += [word[:-1] + "ied", word + "ing"]
    else:
        out += [word + "ed", word + "ing"]
        # ban -> banned, control -> controlled: a final consonant after one vowel may double
        if (
            len(word) >= 3
            and word[-1] not in _VOWELS + "wxy"
            and word[-2] in _VOWELS
            and word[-3] not in _VOWELS
        ):
            out += [word + word[-1] + "ed", word + word[-1] + "ing"]
    return out
