"""Load a set of rule files into a ``RuleSet``: find the files, have ``rulefile`` validate
each, check ids and concept references across files. Every error names the file, line, rule id
and key at fault, with a hint; ``monitor rules check`` runs this loader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from monitor.config.yamlfile import load_yaml
from monitor.errors import RuleError
from monitor.matching.rulefile import RuleFileParser
from monitor.matching.rules import (
    Concept,
    Rule,
    RuleSet,
    SourceFile,
    did_you_mean,
    rule_files,
    stat_source,
)


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
            sources.append(stat_source(path))
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
        if rule.semantic is not None:
            for ref in rule.semantic.gate_concepts:
                if ref not in concepts:
                    errors.append(
                        RuleError(
                            f"unknown concept {ref!r} in the semantic gate",
                            file=rule.file,
                            line=rule.semantic.line,
                            rule=rule.id,
                            key="semantic.gate",
                            hint=did_you_mean(ref, concepts)
                            or "define it under `concepts:` in any rule file",
                        )
                    )
    errors += _near_errors(concepts)
    if errors:
        return None, errors
    rules = [_with_gate(r) for r in rules]
    ruleset = RuleSet(
        rules=tuple(r for r in rules if r.enabled),
        concepts=concepts,
        sources=tuple(sources),
        inputs=tuple(paths),
    )
    return ruleset, []


def _with_gate(rule: Rule) -> Rule:
    """A ``semantic:`` block without ``gate:`` is gated by the rule's own concepts."""
    if rule.semantic is None or rule.semantic.gate:
        return rule
    gate = (tuple(dict.fromkeys(rule.concepts)),)
    return replace(rule, semantic=replace(rule.semantic, gate=gate))


def _near_errors(concepts: dict[str, Concept]) -> list[RuleError]:
    """Unknown concepts in ``near:``/``sentence:`` clauses, and concepts that combine
    themselves (directly or through others)."""
    errors: list[RuleError] = []
    for concept in concepts.values():
        for near in concept.near:
            for ref in near.concepts:
                if ref not in concepts:
                    errors.append(
                        RuleError(
                            f"unknown concept {ref!r} in `{near.operator}:`",
                            file=concept.file,
                            line=near.line,
                            key=f"concepts.{concept.id}.{near.operator}",
                            hint=did_you_mean(ref, concepts)
                            or "define it under `concepts:` in any rule file",
                        )
                    )
    if errors:
        return errors
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def cycle(cid: str, path: list[str]) -> list[str] | None:
        if state.get(cid) == 2:
            return None
        if state.get(cid) == 1:
            return [*path[path.index(cid) :], cid]
        state[cid] = 1
        for near in concepts[cid].near:
            for ref in near.concepts:
                found = cycle(ref, [*path, cid])
                if found:
                    return found
        state[cid] = 2
        return None

    for cid in concepts:
        found = cycle(cid, [])
        if found:
            concept = concepts[found[0]]
            errors.append(
                RuleError(
                    "concepts combine each other in a circle: " + " -> ".join(found),
                    file=concept.file,
                    line=concept.line,
                    key=f"concepts.{concept.id}",
                    hint="a `near:`/`sentence:` concept can only combine concepts that do not "
                    "(through others) combine it",
                )
            )
            break
    return errors
