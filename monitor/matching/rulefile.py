"""One rule file's YAML -> ``Concept`` and ``Rule`` objects, with file/line/rule/key errors.

The parser collects every problem instead of stopping at the first. Finding the files and the
checks across files (duplicate ids, unknown concepts) live in ``rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.config.yamlfile import Loc, YamlDocument, dotted
from monitor.errors import RuleError
from monitor.matching.rules import (
    DEFAULT_FIELDS,
    DEFAULT_SEMANTIC_THRESHOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_WITHIN,
    MAX_WITHIN,
    MIN_AFFIX_LENGTH,
    VERB_LANGS,
    Concept,
    Near,
    Rule,
    Semantic,
    Variant,
    did_you_mean,
)
from monitor.matching.text import fold, tokens
from monitor.model import FIELDS, Priority

__all__ = ["RuleFileParser"]

_FILE_KEYS = ("concepts", "rules", "version")
_CONCEPT_KEYS = ("description", "label", "variants", "exclude", "near", "sentence")
_VARIANT_KEYS = (
    "term", "head", "tail", "inflect", "fuzzy", "case", "weight", "verb", "lang", "first_name",
)  # fmt: skip
_NEAR_KEYS = ("concepts", "within", "order")
_SENTENCE_KEYS = ("concepts", "order")
_ORDERS = ("any", "fixed")
_RULE_KEYS = (
    "id",
    "title",
    "description",
    "all",
    "any",
    "none",
    "fields",
    "threshold",
    "priority",
    "enabled",
    "context",
    "semantic",
)
_SEMANTIC_KEYS = (
    "examples",
    "unlike",
    "threshold",
    "gate",
    "ungated",
    "top",
    "margin",
    "alert",
)
MAX_EXAMPLE_CHARS = 300
_SEMANTIC_EXAMPLE = (
    "e.g. `semantic: {examples: {de: [Peking dreht den Hahn für Gallium zu], "
    "en: [China chokes off gallium supplies]}, threshold: 0.5}`"
)


class RuleFileParser:
    """Walks one parsed YAML document; collects errors instead of stopping at the first."""

    def __init__(self, doc: YamlDocument, errors: list[RuleError]) -> None:
        self.doc = doc
        self.errors = errors
        data = doc.data if doc.data is not None else {}
        if not isinstance(data, dict):
            self._error((), "expected a mapping with `concepts:` and/or `rules:`", data)
            data = {}
        self._check_keys((), data, _FILE_KEYS, what="top-level key")
        self.data = data

    # --- errors ------------------------------------------------------------------------------
    def _error(
        self,
        loc: Loc,
        message: str,
        found: Any = ...,
        *,
        rule: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        if found is not ...:
            message = f"{message}, found {_describe(found)}"
        self.errors.append(
            RuleError(
                message,
                file=self.doc.path,
                line=self.doc.line_of(loc),
                rule=rule,
                key=key if key is not None else (dotted(loc) or None),
                hint=hint,
            )
        )

    def _check_keys(
        self,
        loc: Loc,
        data: dict[Any, Any],
        allowed: Sequence[str],
        *,
        what: str = "key",
        rule: str | None = None,
        prefix: str = "",
    ) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or "allowed: " + ", ".join(allowed)
                self._error(
                    (*loc, str(key)),
                    f"unknown {what} {key!r}",
                    rule=rule,
                    key=f"{prefix}{key}" if rule else None,
                    hint=hint,
                )

    # --- concepts ----------------------------------------------------------------------------
    def concepts(self) -> list[Concept]:
        raw = self.data.get("concepts", {})
        if not isinstance(raw, dict):
            self._error(("concepts",), "expected a mapping of concept id to variants", raw)
            return []
        out = []
        for cid, body in raw.items():
            concept = self._concept(str(cid), body)
            if concept is not None:
                out.append(concept)
        return out

    def _concept(self, cid: str, body: Any) -> Concept | None:
        loc: Loc = ("concepts", cid)
        description = ""
        labels: tuple[tuple[str, str], ...] = ()
        excludes: list[Any] = []
        near: list[Near] = []
        if isinstance(body, list):
            variants_raw: Any = body
        elif isinstance(body, dict):
            self._check_keys(loc, body, _CONCEPT_KEYS, what="concept key")
            variants_raw = body.get("variants", [])
            if not variants_raw and ("near" in body or "sentence" in body):
                variants_raw = None  # a concept of combinations alone
            excludes_raw = body.get("exclude", [])
            if not isinstance(excludes_raw, list):
                self._error((*loc, "exclude"), "expected a list of terms", excludes_raw)
            else:
                excludes = excludes_raw
            description = str(body.get("description", "") or "")
            if "label" in body:
                labels = self._labels((*loc, "label"), body["label"])
            for op in ("near", "sentence"):
                if op in body:
                    near += self._near_clauses((*loc, op), op, body[op])
        else:
            self._error(loc, "expected a list of variants or a mapping with `variants:`", body)
            return None
        if variants_raw is None:
            variants_raw = []
        elif not isinstance(variants_raw, list):
            self._error((*loc, "variants"), "expected a list of terms", variants_raw)
            return None
        elif not variants_raw:
            self._error(
                loc,
                "empty concept: no variants",
                hint="list at least one term, e.g. [Lithium], or combine concepts with `near:`",
            )
            return None
        variants = self._variants(
            (*loc, "variants") if isinstance(body, dict) else loc, variants_raw
        )
        exclude = self._variants((*loc, "exclude"), excludes)
        return Concept(
            id=cid,
            variants=tuple(variants),
            exclude=tuple(exclude),
            near=tuple(near),
            description=description,
            labels=labels,
            file=self.doc.path,
            line=self.doc.line_of(loc),
        )

    def _labels(self, loc: Loc, raw: Any) -> tuple[tuple[str, str], ...]:
        """``label: Seltene Erden`` or ``label: {de: Seltene Erden, en: rare earths}``: what
        readers see for the concept in alerts and digests."""
        hint = "e.g. `label: Seltene Erden` or `label: {de: Seltene Erden, en: rare earths}`"
        if isinstance(raw, str) and raw.strip():
            return (("", raw.strip()),)
        if isinstance(raw, dict) and raw:
            out = []
            for lang, text in raw.items():
                if lang not in ("de", "en"):
                    self._error(
                        loc, f"unknown language {lang!r} (expected de or en)", raw, hint=hint
                    )
                elif not isinstance(text, str) or not text.strip():
                    self._error((*loc, str(lang)), "expected a non-empty string", text, hint=hint)
                else:
                    out.append((str(lang), text.strip()))
            return tuple(out)
        self._error(loc, "expected a string or a mapping of de/en to strings", raw, hint=hint)
        return ()

    def _near_clauses(self, loc: Loc, op: str, raw: Any) -> list[Near]:
        """``near:``/``sentence:``: one clause (a list of concept ids, or a mapping) or a list
        of mappings."""
        if isinstance(raw, list) and raw and all(isinstance(c, dict) for c in raw):
            items = [((*loc, i), c) for i, c in enumerate(raw)]
        else:
            items = [(loc, raw)]
        out = []
        for where, item in items:
            clause = self._near_clause(where, op, item)
            if clause is not None:
                out.append(clause)
        return out

    def _near_clause(self, loc: Loc, op: str, raw: Any) -> Near | None:
        example = (
            "e.g. `near: {concepts: [export, beschraenken], within: 4}`"
            if op == "near"
            else "e.g. `sentence: [seltene-erden, export, beschraenken]`"
        )
        body: dict[Any, Any] = {"concepts": raw} if isinstance(raw, list) else raw
        if not isinstance(body, dict):
            self._error(loc, "expected a list of concept ids or a mapping", raw, hint=example)
            return None
        self._check_keys(
            loc, body, _NEAR_KEYS if op == "near" else _SENTENCE_KEYS, what=f"{op} key"
        )
        concepts = body.get("concepts")
        where = loc if isinstance(raw, list) else (*loc, "concepts")
        if (
            not isinstance(concepts, list)
            or len(concepts) < 2
            or not all(isinstance(c, str) and c for c in concepts)
        ):
            self._error(
                where, "expected a list of at least two concept ids", concepts, hint=example
            )
            return None
        within: int | None = None
        if op == "near":
            within = body.get("within", DEFAULT_WITHIN)
            if (
                isinstance(within, bool)
                or not isinstance(within, int)
                or not 0 <= within <= MAX_WITHIN
            ):
                self._error(
                    (*loc, "within"),
                    f"expected a number of words from 0 to {MAX_WITHIN}",
                    within,
                    hint="words allowed between the hits; `sentence:` for anywhere in a sentence",
                )
                return None
        order = body.get("order", "any")
        if order not in _ORDERS:
            self._error((*loc, "order"), "expected `any` or `fixed`", order)
            return None
        return Near(tuple(concepts), within, str(order), self.doc.line_of(loc))

    def _variants(self, loc: Loc, items: list[Any]) -> list[Variant]:
        out = []
        for i, item in enumerate(items):
            variant = self._variant((*loc, i), item)
            if variant is not None:
                out.append(variant)
        return out

    def _variant(self, loc: Loc, item: Any) -> Variant | None:
        line = self.doc.line_of(loc)
        opts: dict[str, Any] = {}
        if isinstance(item, str):
            term = item.strip()
            opts = {"head": term.endswith("-"), "tail": term.startswith("-")}
            term = term.strip("-").strip()
        elif isinstance(item, dict):
            self._check_keys(loc, item, _VARIANT_KEYS, what="variant option")
            raw_term = item.get("term")
            if not isinstance(raw_term, str):
                self._error((*loc, "term"), "expected the variant's text as a string", raw_term)
                return None
            term = raw_term
            for key in ("head", "tail", "inflect", "fuzzy", "case", "first_name"):
                if key in item:
                    value = item[key]
                    if not isinstance(value, bool):
                        self._error((*loc, key), "expected true or false", value)
                        return None
                    opts[key] = value
            if "weight" in item:
                weight = item["weight"]
                if (
                    isinstance(weight, bool)
                    or not isinstance(weight, int | float)
                    or not 0 < weight <= 1
                ):
                    self._error(
                        (*loc, "weight"),
                        "expected a number in (0, 1]",
                        weight,
                        hint="1 counts fully; 0.6 needs the title or a second mention",
                    )
                    return None
                opts["weight"] = float(weight)
            if "verb" in item:
                verb = item["verb"]
                if verb not in VERB_LANGS:
                    self._error(
                        (*loc, "verb"),
                        "expected `de` or `en` (the verb's language)",
                        verb,
                        hint="e.g. `{term: beschränken, verb: de}`, `{term: restrict, verb: en}`",
                    )
                    return None
                opts["verb"] = str(verb)
        else:
            self._error(loc, "expected a term (string) or a mapping with `term:`", item)
            return None
        variant = Variant(term=term, line=line, **opts)
        return variant if self._variant_ok(loc, variant) else None

    def _variant_ok(self, loc: Loc, v: Variant) -> bool:
        words = tokens(fold(v.term))
        if not words:
            self._error(loc, "the term has no letters or digits", v.term)
            return False
        if v.head and v.tail:
            self._error(
                loc,
                "a variant is either a compound head or a compound tail, not both",
                hint="write `Seltenerd-` (head) or `-exportstopp` (tail)",
            )
            return False
        affix = words[-1] if v.head else words[0]
        if (v.head or v.tail) and len(affix) < MIN_AFFIX_LENGTH:
            self._error(
                loc,
                f"a compound head or tail needs at least {MIN_AFFIX_LENGTH} letters",
                v.term,
                hint="short words match too many compounds; list the compounds instead",
            )
            return False
        if v.verb is not None and (len(words) != 1 or v.head or v.tail or v.case):
            self._error(
                loc,
                "a verb variant is one word, without head/tail/case",
                v.term,
                hint="write the infinitive alone, e.g. `{term: einschränken, verb: de}`",
            )
            return False
        if v.case and v.fuzzy:
            self._error(loc, "a case-sensitive variant cannot be fuzzy", hint="drop `fuzzy: true`")
            return False
        return True

    # --- rules -------------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        raw = self.data.get("rules", [])
        if not isinstance(raw, list):
            self._error(("rules",), "expected a list of rules", raw)
            return []
        out = []
        for i, body in enumerate(raw):
            rule = self._rule(("rules", i), body)
            if rule is not None:
                out.append(rule)
        return out

    def _rule(self, loc: Loc, body: Any) -> Rule | None:
        if not isinstance(body, dict):
            self._error(loc, "expected a mapping with id, title and concepts", body)
            return None
        rid = body.get("id")
        if not isinstance(rid, str) or not rid.strip():
            self._error(
                (*loc, "id"),
                "expected a rule id (a non-empty string)",
                rid,
                hint="e.g. `id: seltene-erden`",
            )
            return None
        n_errors = len(self.errors)
        self._check_keys(loc, body, _RULE_KEYS, what="rule key", rule=rid)

        def err(key: str, message: str, found: Any = ..., hint: str | None = None) -> None:
            self._error((*loc, key), message, found, rule=rid, key=key, hint=hint)

        title = body.get("title", rid)
        if not isinstance(title, str):
            err("title", "expected a string", title)
        refs: dict[str, tuple[str, ...]] = {}
        for role in ("all", "any", "none"):
            value = body.get(role, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                err(role, "expected a list of concept ids", value)
                value = []
            refs[role] = tuple(value)
        if not refs["all"] and not refs["any"]:
            err(
                "any",
                "the rule names no concept to look for",
                hint="add `any: [concept-id]` and/or `all: [...]`",
            )
        fields = DEFAULT_FIELDS
        if "fields" in body:
            fields = self._fields(body["fields"], err)
        threshold = body.get("threshold", DEFAULT_THRESHOLD)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 1 <= threshold <= 100
        ):
            err("threshold", "expected a whole number from 1 to 100", threshold)
            threshold = DEFAULT_THRESHOLD
        priority = body.get("priority", Priority.DIGEST.value)
        if not isinstance(priority, str) or priority not in {p.value for p in Priority}:
            err("priority", "expected `alert` or `digest`", priority)
            priority = Priority.DIGEST.value
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            err("enabled", "expected true or false", enabled)
        context = body.get("context", False)
        if not isinstance(context, bool):
            err("context", "expected true or false", context)
        semantic = None
        if "semantic" in body:
            semantic = self._semantic((*loc, "semantic"), body["semantic"], rid)
        if len(self.errors) > n_errors:
            return None
        return Rule(
            id=rid,
            title=str(title),
            description=str(body.get("description", "") or ""),
            all=refs["all"],
            any=refs["any"],
            none=refs["none"],
            fields=fields,
            threshold=threshold,
            priority=Priority(priority),
            enabled=bool(enabled),
            context=bool(context),
            semantic=semantic,
            file=self.doc.path,
            line=self.doc.line_of(loc),
        )

    def _semantic(self, loc: Loc, raw: Any, rid: str) -> Semantic | None:
        """``semantic:``: example sentences (per language), a threshold, the gate concepts."""

        def err(where: Loc, message: str, found: Any = ..., hint: str | None = None) -> None:
            key = "semantic" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in where[len(loc) :]
            )
            self._error(where, message, found, rule=rid, key=key, hint=hint)

        if not isinstance(raw, dict):
            err(loc, "expected a mapping with `examples:`", raw, _SEMANTIC_EXAMPLE)
            return None
        before = len(self.errors)
        self._check_keys(
            loc, raw, _SEMANTIC_KEYS, what="semantic key", rule=rid, prefix="semantic."
        )
        found: dict[str, list[tuple[str, str]]] = {"examples": [], "unlike": []}
        for name in ("examples", "unlike"):
            where: Loc = (*loc, name)
            given = raw.get(name)
            if given is None and name == "unlike":
                continue
            groups: list[tuple[str, Loc, Any]] = []
            if isinstance(given, dict) and given:
                for lang, items in given.items():
                    if lang not in VERB_LANGS:
                        err((*where, str(lang)), f"unknown language {lang!r} (expected de or en)")
                        continue
                    groups.append((str(lang), (*where, str(lang)), items))
            elif isinstance(given, list) and given:
                groups.append(("", where, given))
            else:
                err(
                    where,
                    "expected example sentences: a list, or a mapping of de/en to lists",
                    given,
                    _SEMANTIC_EXAMPLE,
                )
            for lang, at, items in groups:
                if isinstance(items, str):
                    items = [items]
                if not isinstance(items, list) or not items:
                    err(at, "expected a list of example sentences", items, _SEMANTIC_EXAMPLE)
                    continue
                for i, text in enumerate(items):
                    if not isinstance(text, str) or not text.strip():
                        err((*at, i), "expected an example sentence (a non-empty string)", text)
                    elif len(text) > MAX_EXAMPLE_CHARS:
                        err(
                            (*at, i),
                            f"an example sentence has at most {MAX_EXAMPLE_CHARS} characters, "
                            f"found {len(text)}",
                            hint="write a headline-like sentence; split a long one in two",
                        )
                    else:
                        found[name].append((lang, " ".join(text.split())))
        threshold = raw.get("threshold", DEFAULT_SEMANTIC_THRESHOLD)
        if not _unit_number(threshold):
            err(
                (*loc, "threshold"),
                "expected a cosine between 0 and 1",
                threshold,
                "e.g. `threshold: 0.5`; higher finds fewer, closer entries",
            )
            threshold = DEFAULT_SEMANTIC_THRESHOLD
        ungated = raw.get("ungated")
        if ungated is not None and (not _unit_number(ungated) or ungated < threshold):
            err(
                (*loc, "ungated"),
                f"expected a cosine from the threshold ({threshold:g}) to 1",
                ungated,
                "the cosine at which no gate word is needed, e.g. `ungated: 0.7`",
            )
            ungated = None
        top = raw.get("top", 1)
        if (
            isinstance(top, bool)
            or not isinstance(top, int)
            or not 1 <= top <= max(len(found["examples"]), 1)
        ):
            err(
                (*loc, "top"),
                f"expected a whole number from 1 to the number of examples "
                f"({len(found['examples'])})",
                top,
                "e.g. `top: 2`: the cosine is the mean of the two closest examples'",
            )
            top = 1
        margin = raw.get("margin", 0.0)
        if not _fraction(margin):
            err(
                (*loc, "margin"),
                "expected a cosine difference between 0 and 1",
                margin,
                "e.g. `margin: 0.03`: the closest near miss must stay that far below",
            )
            margin = 0.0
        gate_raw = raw.get("gate", [])
        if isinstance(gate_raw, str):
            gate_raw = [gate_raw]
        gate_groups = gate_raw
        if (
            isinstance(gate_raw, list)
            and gate_raw
            and not any(isinstance(g, list) for g in gate_raw)
        ):
            gate_groups = [gate_raw]
        gate: list[tuple[str, ...]] = []
        if isinstance(gate_groups, list) and all(
            isinstance(g, list) and g and all(isinstance(c, str) and c for c in g)
            for g in gate_groups
        ):
            gate = [tuple(g) for g in gate_groups]
        else:
            err(
                (*loc, "gate"),
                "expected a list of concept ids, or a list of such lists",
                gate_raw,
                "e.g. `gate: [seltene-erden, gallium-germanium]` (one of them), or "
                "`gate: [[seltene-erden, lithium], [beschraenkung]]` (one of each list); "
                "omitted: the rule's concepts",
            )
        alert = raw.get("alert", False)
        if not isinstance(alert, bool):
            err((*loc, "alert"), "expected true or false", alert)
        if len(self.errors) > before:
            return None
        return Semantic(
            examples=tuple(found["examples"]),
            unlike=tuple(found["unlike"]),
            threshold=float(threshold),
            gate=tuple(gate),
            ungated=None if ungated is None else float(ungated),
            top=int(top),
            margin=float(margin),
            alert=bool(alert),
            line=self.doc.line_of(loc),
        )

    def _fields(self, raw: Any, err: Any) -> tuple[tuple[str, float], ...]:
        hint = "e.g. `fields: {title: 1.0, summary: 0.8}` or `fields: [title, summary]`"
        if isinstance(raw, list):
            if not all(isinstance(f, str) for f in raw):
                err("fields", "expected a list of field names", raw, hint)
                return DEFAULT_FIELDS
            raw = {f: dict(DEFAULT_FIELDS).get(f, 1.0) for f in raw}
        if not isinstance(raw, dict) or not raw:
            err("fields", "expected field names with weights", raw, hint)
            return DEFAULT_FIELDS
        out = []
        for name, weight in raw.items():
            if name not in FIELDS:
                err("fields", f"unknown field {name!r} (expected one of {', '.join(FIELDS)})")
                continue
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                err(f"fields.{name}", "expected a positive number", weight, hint)
                continue
            out.append((str(name), float(weight)))
        return tuple(sorted(out, key=lambda fw: FIELDS.index(fw[0]))) or DEFAULT_FIELDS


def _unit_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value <= 1


def _fraction(value: Any) -> bool:
    """A number from 0 to 1, both included (``_unit_number`` leaves 0 out)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= 1


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
