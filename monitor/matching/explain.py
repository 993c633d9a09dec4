"""Hits, matches and explanations as text (highlighted) and JSON, for the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from monitor.matching.match import Explanation, SemanticResult
from monitor.matching.near import Link
from monitor.model import FIELDS, SEMANTIC, Entry, Hit, Match


def hit_json(hit: Hit) -> dict[str, Any]:
    if hit.semantic:
        return {
            "kind": hit.kind,
            "concept": hit.concept,
            "example": hit.variant,
            "cosine": round(hit.similarity / 100, 3),
            "threshold": None if hit.threshold is None else round(hit.threshold / 100, 3),
        }
    return {
        "concept": hit.concept,
        "variant": hit.variant,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
        "text": hit.text,
        "similarity": hit.similarity,
    }


def match_json(entry: Entry, matches: Sequence[Match]) -> dict[str, Any]:
    return {
        "id": entry.id,
        "matches": [
            {
                "rule": m.rule_id,
                "score": m.score,
                "priority": m.priority.value,
                **({"kind": SEMANTIC} if m.semantic else {}),
                "explanation": [hit_json(h) for h in m.hits],
            }
            for m in matches
        ],
    }


def table_row(entry: Entry, matches: Sequence[Match]) -> str:
    rules = (
        ", ".join(f"{m.rule_id} {m.score}{' (semantic)' if m.semantic else ''}" for m in matches)
        or "-"
    )
    title = (entry.title or entry.summary).replace("\n", " ")
    if len(title) > 70:
        title = title[:69] + "…"
    return f"{entry.id[:16]:16}  {rules:44}  {title}"


def highlight(text: str, hits: Sequence[Hit]) -> str:
    out, pos = [], 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < pos:
            continue
        out.append(text[pos : hit.start])
        out.append(click.style(text[hit.start : hit.end], fg="yellow", bold=True, underline=True))
        pos = hit.end
    out.append(text[pos:])
    return "".join(out)


def describe_hit(hit: Hit) -> str:
    if hit.semantic:
        limit = "" if hit.threshold is None else f", threshold {hit.threshold / 100:.2f}"
        return f"close in meaning to {hit.variant!r} (cosine {hit.similarity / 100:.2f}{limit})"
    how = "exact" if hit.exact else f"fuzzy {hit.similarity:g}%"
    return f"{hit.text!r} ({hit.field} {hit.start}:{hit.end}, variant {hit.variant!r}, {how})"


def describe_link(link: Link) -> str:
    """Both (all) ends of a ``near:``/``sentence:`` hit and how far apart they are."""
    ends = " ... ".join(f"{h.text!r} ({h.concept} {h.start}:{h.end})" for h in link.ends)
    words = "word" if link.distance == 1 else "words"
    if link.near.within is None:
        limit = "in one sentence"
    else:
        limit = f"within {link.near.within}, order {link.near.order}"
    return f"{link.near.operator}: {ends}, {link.distance} {words} apart ({limit})"


def link_json(link: Link) -> dict[str, Any]:
    return {
        "operator": link.near.operator,
        "ends": [hit_json(h) for h in link.ends],
        "distance": link.distance,
        "within": link.near.within,
        "order": link.near.order,
    }


def explanation_text(exp: Explanation, entry: Entry) -> list[str]:
    verdict = "MATCH" if exp.matched else "no match"
    lines = [
        f"rule {exp.rule_id}: {verdict} (score {exp.score}, threshold {exp.threshold}, "
        f"priority {exp.priority.value})",
        f"  {exp.reason}",
    ]
    for c in exp.concepts:
        found = "; ".join(describe_hit(h) for h in c.hits) or "not found"
        lines.append(f"  {c.role:4} {c.concept:22} {c.strength:4.2f}  {found}")
        for link in c.links:
            lines.append(f"       {'':22}       {describe_link(link)}")
        for h in c.excluded:
            lines.append(f"       {'':22}       excluded by context: {describe_hit(h)}")
    if exp.semantic is not None:
        lines += semantic_lines(exp.semantic)
    for name in FIELDS:
        text = entry.text(name)
        if text:
            shown = [h for c in exp.concepts for h in (*c.hits, *c.excluded) if h.field == name]
            lines.append(f"  {name}: {highlight(text, shown)}")
    return lines


def semantic_lines(sem: SemanticResult) -> list[str]:
    """The semantic block's verdict: closest example, cosine against the thresholds, gate."""
    verdict = "MATCH" if sem.matched else "no match"
    lines = [f"  semantic: {verdict}: {sem.reason}"]
    if sem.example is not None:
        lang = f" ({sem.language})" if sem.language else ""
        lines.append(f"       closest example{lang}: {sem.example!r}, cosine {sem.similarity:.2f}")
    if sem.unlike is not None:
        lines.append(
            f"       closest near miss (unlike): {sem.unlike!r}, cosine {sem.unlike_similarity:.2f}"
        )
    limits = f"threshold {sem.threshold:.2f} with a gate concept"
    if sem.ungated is not None:
        limits += f", {sem.ungated:.2f} without"
    found = ", ".join(sem.gate_found) or "none"
    gate = " and ".join("(" + " | ".join(g) + ")" if len(g) > 1 else g[0] for g in sem.gate)
    lines.append(f"       {limits}; gate: {gate} (found: {found})")
    return lines


def semantic_json(sem: SemanticResult) -> dict[str, Any]:
    return {
        "matched": sem.matched,
        "reason": sem.reason,
        "example": sem.example,
        "language": sem.language or None,
        "cosine": round(sem.similarity, 3),
        "threshold": sem.threshold,
        "ungated": sem.ungated,
        "gate": [list(g) for g in sem.gate],
        "gate_found": list(sem.gate_found),
        "unlike": sem.unlike,
        "unlike_cosine": round(sem.unlike_similarity, 3) if sem.unlike is not None else None,
    }


def explanation_json(exp: Explanation) -> dict[str, Any]:
    return {
        "rule": exp.rule_id,
        "kind": exp.kind or None,
        "matched": exp.matched,
        "score": exp.score,
        "threshold": exp.threshold,
        "priority": exp.priority.value,
        "reason": exp.reason,
        "concepts": [
            {
                "concept": c.concept,
                "role": c.role,
                "strength": round(c.strength, 3),
                "hits": [hit_json(h) for h in c.hits],
                "excluded": [hit_json(h) for h in c.excluded],
                "links": [link_json(link) for link in c.links],
            }
            for c in exp.concepts
        ],
        **({"semantic": semantic_json(exp.semantic)} if exp.semantic is not None else {}),
    }
