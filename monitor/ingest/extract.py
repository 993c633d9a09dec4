"""The main text of an article page: bytes and their Content-Type in, plain text or a reason out.

Pure (no network, no clock): ``extract_main_text`` takes the page as fetched and returns an
``Extracted``. The work is trafilatura's (Apache-2.0; on this project's 350-page German/English
set snippet F1 0.924, readability-lxml 0.878: bench/RESULTS.md "Full text"), with comments
left out. It is CPU-heavy (30-45 ms a page): callers run it off the event loop
(``monitor.ingest.fulltext``).

trafilatura is imported at the first extraction, so a monitor without any ``fulltext: true``
feed never pays for the import (~0.2 s).
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from typing import Any

from monitor.ingest.parse import MAX_TEXT_CHARS
from monitor.ingest.plaintext import storable, truncate

__all__ = ["HTML_TYPES", "Extracted", "extract_main_text", "looks_like_html"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "text/plain", "binary/octet-stream"})
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title|p|div|article)\b", re.I)
_SNIFF_BYTES = 4096
MIN_CHARS = 80
"""Less text than this is not an article (a menu, a cookie banner): the page has no main text.
The shortest main text among the 350 pages of the shared set is 151 characters."""
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str | None
    """The main text (paragraphs separated by newlines), None when there is none."""
    error: str | None = None
    """Why there is no text: what is wrong, with a hint."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(body: bytes) -> bool:
    """Whether the first bytes look like markup (for a missing or generic Content-Type)."""
    head = body[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8", b"PK\x03\x04", b"\x1f\x8b")):
        return False
    return _HTML_START.search(head) is not None


def _decoded(body: bytes, content_type: str | None) -> bytes | str:
    """``body`` as text when the HTTP header names a known charset; else the bytes, for the
    extractor to detect (meta tags, then statistics)."""
    found = _CHARSET.search(content_type or "")
    if found is None:
        return body
    try:
        codec = codecs.lookup(found.group(1)).name
    except LookupError:
        return body
    return body.decode(codec, errors="replace")


def extract_main_text(body: bytes, *, url: str, content_type: str | None) -> Extracted:
    """The main text of one page. Never raises for what a page holds."""
    kind = media_type(content_type)
    if kind not in HTML_TYPES and (kind not in _GENERIC_TYPES or not looks_like_html(body)):
        shown = kind or "none"
        return Extracted(
            None,
            f"not an HTML page (Content-Type: {shown}); hint: full text is taken from HTML "
            "article pages only; the entry is matched on the feed's own text",
        )
    if not body.strip():
        return Extracted(None, "the page is empty; hint: the entry is matched on the feed's text")
    try:
        text = _trafilatura(_decoded(body, content_type), url)
    except Exception as exc:  # a page that breaks the extractor must not break the poll
        return Extracted(
            None,
            f"the extractor failed ({type(exc).__name__}: {exc}); hint: the entry is matched "
            "on the feed's text; please report the page if it is an ordinary article",
        )
    text = storable(truncate((text or "").strip(), MAX_TEXT_CHARS))
    if len(text) < MIN_CHARS:
        found = f" (only {len(text)} characters)" if text else ""
        return Extracted(
            None,
            f"no main text found on the page{found}: a front page, a video, a paywall or a "
            "page built by JavaScript?; hint: the entry is matched on the feed's text",
        )
    return Extracted(text)


_quiet = False


def _trafilatura(html: bytes | str, url: str) -> str | None:
    global _quiet
    import trafilatura

    if not _quiet:
        # trafilatura logs every page it finds too short at WARNING; the outcome is ours to
        # report (an entry's full-text state), not a log line per page.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        _quiet = True
    result: Any = trafilatura.extract(
        html,
        url=url or None,
        include_comments=False,
        output_format="txt",
        with_metadata=False,
    )
    return result if isinstance(result, str) else None
