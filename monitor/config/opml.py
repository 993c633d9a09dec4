"""OPML feed lists in and out, so a feed list round-trips with other feed readers.

Outline attributes used: ``xmlUrl`` (required for a feed), ``title``/``text`` (name),
``category`` (comma-separated tags; an enclosing folder outline adds its text as a tag),
``language`` and ``interval`` (ours, e.g. "15m"; other readers ignore them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from monitor.config.feeds import FeedSettings
from monitor.config.units import format_duration
from monitor.errors import ConfigError
from monitor.model import Feed


def read_opml(path: Path) -> list[FeedSettings]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read OPML file: {exc.strerror or exc}", file=str(path)) from None
    return parse_opml(data, name=str(path))


def parse_opml(data: bytes, *, name: str) -> list[FeedSettings]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ConfigError(
            f"not a well-formed OPML file: {exc}",
            file=name,
            line=line,
            hint="export the feed list again from your reader, or fix the XML",
        ) from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ConfigError(
            f"not an OPML file (root element <{root.tag}>, expected <opml> with a <body>)",
            file=name,
        )
    feeds: list[FeedSettings] = []
    _collect(body, (), feeds, name)
    return feeds


def _collect(
    node: ET.Element, folders: tuple[str, ...], out: list[FeedSettings], name: str
) -> None:
    for outline in node.findall("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        label = outline.get("title") or outline.get("text")
        if not url:
            _collect(outline, (*folders, label) if label else folders, out, name)
            continue
        tags = [
            *folders,
            *(t.strip() for t in (outline.get("category") or "").split(",") if t.strip()),
        ]
        try:
            out.append(
                FeedSettings.model_validate(
                    {
                        "url": url,
                        "name": label,
                        "tags": tuple(dict.fromkeys(t.strip("/") for t in tags if t.strip("/"))),
                        "language": outline.get("language"),
                        "interval": outline.get("interval"),
                    }
                )
            )
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise ConfigError(
                f"outline for {url!r}: {'.'.join(map(str, first['loc']))}: {first['msg']}",
                file=name,
                hint="fix or remove that attribute of the <outline>",
            ) from None


def write_opml(feeds: Iterable[Feed], *, title: str = "raw-materials-monitor feeds") -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.name:
            attrs["title"] = feed.name
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        if feed.language:
            attrs["language"] = feed.language
        attrs["interval"] = format_duration(feed.interval)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
