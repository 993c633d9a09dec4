"""HTML -> plain text for feed fields: tags stripped, entities decoded, whitespace folded.

Pure and total: any string in, a string out, never an exception. Block elements become line
breaks so that words from adjacent paragraphs do not run together; ``script``/``style`` and
similar non-prose content is dropped.

One regular-expression pass instead of ``html.parser``: feed text is small HTML fragments; the
pass never raises (html.parser does on some "<![" junk), is a little faster (~47 vs ~60 us per
generated bench entry), and every pattern either stops at the next ``<`` or consumes what it
scanned, so time stays linear on hostile input.
"""

from __future__ import annotations

import html
import re

__all__ = [
    "MAX_INPUT_CHARS",
    "checked_fold",
    "checked_html_to_text",
    "fold_whitespace",
    "has_unstorable",
    "html_to_text",
    "storable",
    "truncate",
]

MAX_INPUT_CHARS = 1_000_000
"""Markup beyond this is not looked at: bounds the time one pathological field can take."""

# Elements whose content is never prose a reader sees.
_DROP = frozenset(
    {"script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe", "object"}
)
# Paragraph-level elements: a blank line before and after.
_PARAGRAPH = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "aside", "nav", "main",
        "blockquote", "pre", "table", "ul", "ol", "dl", "figure", "form", "address",
        "details", "fieldset", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
# Line-level elements: a line break.
_LINE = frozenset({"br", "li", "tr", "dt", "dd", "figcaption", "caption", "option", "summary"})
# Cells: a space, so that "<td>1</td><td>2</td>" does not become "12".
_CELL = frozenset({"td", "th"})

# Characters a reader does not see but that split words for a matcher: soft hyphen, zero-width
# space, word joiner, BOM. C0/C1 controls other than tab and newline are noise from bad encodings.
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Code points PostgreSQL text cannot hold (NUL) or XML 1.0 forbids (other C0 controls but tab,
# newline and carriage return; U+FFFE, U+FFFF), and lone surrogates, which no UTF-8 encoder takes.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# One literal "<" first, so the engine jumps from "<" to "<" (10x faster than an alternation
# of patterns). Unclosed comments, CDATA and dropped elements run to the end of the text, as in
# a browser; a tag ends at the next ">" and never spans another "<".
# The drop branch is tried only after a letter that can start one of its names (the lookahead
# takes each of those letters in every case, as the names' own case-insensitive match does;
# tests/test_conversion_fastpaths.py checks that over all code points): a tag's "<" then costs
# one character test instead of a case-insensitive try of every name.
_DROP_INITIALS = "".join(sorted({name[0] for name in _DROP}))
_MARKUP = re.compile(
    r"<(?:"
    r"!(?:--(?:.*?-->|.*\Z)"
    r"|\[CDATA\[(?P<cdata>.*?)(?:\]\]>|\Z))"
    r"|(?=(?i:[" + _DROP_INITIALS + r"]))"
    r"(?P<drop>(?i:(?P<dropname>" + "|".join(sorted(_DROP)) + r"))\b[^<>]*>"
    r"(?:.*?</(?i:(?P=dropname))\s*>|.*\Z))"
    r"|(?P<tag>/?[a-zA-Z][\w:.-]*)[^<>]*>"
    r"|[!?/][^<>]*>"
    r")",
    re.DOTALL,
)


def _tag_replacement(name: str, end: bool) -> str:
    """What an element's tag becomes in the text (``name`` lower case)."""
    if name in _PARAGRAPH:
        return "\n\n"
    if name in _CELL:
        return " "
    if name in _LINE and (not end or name == "br"):
        # Only on the opening tag: "</li><li>" is one line break, not a blank line.
        return "\n"
    return ""


# Replacements by tag as written ("P", "/p", "br"), filled as tags are met: a dictionary look-up
# per tag instead of lower-casing and three set look-ups. Bounded: names beyond it are computed.
_BY_TAG: dict[str, str] = {}
_MAX_TAGS = 4096


# The groups by number: a look-up by name costs a dictionary look-up per tag.
_CDATA, _DROPPED, _TAG = (_MARKUP.groupindex[name] for name in ("cdata", "drop", "tag"))


def _replace(match: re.Match[str]) -> str:
    tag = match[_TAG]
    if tag is None:
        cdata = match[_CDATA]
        # HTML has no CDATA sections, but double-wrapped feed text does: keep the text.
        return cdata if cdata is not None else " " if match[_DROPPED] else ""
    replacement = _BY_TAG.get(tag)
    if replacement is None:
        end = tag.startswith("/")
        replacement = _tag_replacement(tag[1:].lower() if end else tag.lower(), end)
        if len(_BY_TAG) < _MAX_TAGS:
            _BY_TAG[tag] = replacement
    return replacement


_BLANK_LINES = re.compile("\n\n\n+")
_SPACE_RUNS = re.compile("  +")
# The code points _INVISIBLE matches, one by one (tests/test_conversion_fastpaths.py checks it).
_INVISIBLE_CHARS = "\u00ad\u200b\u2060\ufeff" + "".join(
    map(chr, (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)))
)
# What str.split() takes for a space besides " ", "\n", "\r", "\xa0" (replaced before) and the
# invisible characters (removed): the whole list (none lies above U+3000; checked by the tests).
_OTHER_SPACES = (
    "\t\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
# Text with a non-printable line: each such code point replaced by what folding the words of its
# line makes of it (a space; nothing for the invisible ones), in a C-speed pass per code point
# present, instead of splitting every line into words. All of them are non-printable.
_FIXES = tuple((char, " ") for char in _OTHER_SPACES) + tuple(
    (char, "") for char in _INVISIBLE_CHARS
)


def fold_whitespace(text: str) -> str:
    """Runs of spaces/tabs become one space, lines are trimmed, at most one blank line in a row.

    Line breaks are kept (they carry paragraph structure); invisible characters are removed.
    """
    return checked_fold(text, None)[0]


def html_to_text(markup: str, *, max_chars: int | None = None) -> str:
    """The text a reader of ``markup`` sees, with entities decoded and whitespace folded.

    Plain text without ``<`` or ``&`` passes through ``fold_whitespace`` only. ``max_chars`` caps
    the result (see ``truncate``).
    """
    return checked_html_to_text(markup, max_chars)[0]


def checked_html_to_text(markup: str, max_chars: int | None) -> tuple[str, bool]:
    """``html_to_text(markup, max_chars=max_chars)`` and whether it is known to be ``storable``
    as it is (False: it may or may not be; ``has_unstorable`` tells)."""
    if "<" in markup:
        # Entities are decoded after the tags are gone, so that "&lt;b&gt;" stays text.
        text = _MARKUP.sub(_replace, markup[:MAX_INPUT_CHARS])
        if "&" in text:
            text = html.unescape(text)
    elif "&" in markup:
        text = html.unescape(markup[:MAX_INPUT_CHARS])
    else:
        text = markup
    return checked_fold(text, max_chars)


def checked_fold(text: str, max_chars: int | None) -> tuple[str, bool]:
    """``truncate(fold_whitespace(text), max_chars)`` and whether it is known to be ``storable``:
    True when the text was printable but for its line breaks (then it holds no code point
    ``has_unstorable`` looks for, and the caller need not scan it again).

    (The one implementation of the folding, in one function: it runs on every text of every
    entry, and a call per step cost as much as the step.)
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\xa0" in text:  # no-break space (&nbsp;): a space like any other to str.split
        text = text.replace("\xa0", " ")
    # (None of the replacements below makes or removes a line break.)
    lines = "\n" in text
    # Every invisible character is non-printable, and so is every space but " ".
    printable = (text.replace("\n", " ") if lines else text).isprintable()
    if not printable:
        for char, replacement in _FIXES:
            if char in text:
                text = text.replace(char, replacement)
    # Now " " is the only space but line breaks, and no invisible character is left. Lines that
    # hold no two spaces in a row and none at either end are folded already: the usual case,
    # checked by substring search without splitting the text into words.
    if (
        "  " in text
        or (lines and (" \n" in text or "\n " in text))
        or text[:1] == " "
        or text[-1:] == " "
    ):
        # Fold runs of " " and trim them at line ends: the same as splitting each line into
        # words, without a step per line.
        if "  " in text:
            text = _SPACE_RUNS.sub(" ", text)
        text = text.replace(" \n", "\n").replace("\n ", "\n").strip(" ")
    if lines:
        if "\n\n\n" in text:
            text = _BLANK_LINES.sub("\n\n", text)
        text = text.strip("\n")
    if max_chars is not None and len(text) > max_chars:
        text = truncate(text, max_chars)
    return text, printable


def truncate(text: str, max_chars: int | None) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, ending in an ellipsis when cut."""
    if max_chars is None or len(text) <= max_chars:
        return text
    if max_chars < 1:
        return ""
    return text[: max_chars - 1].rstrip() + "…"


def storable(text: str) -> str:
    """``text`` without the code points a database or an XML document cannot hold.

    NUL makes PostgreSQL refuse the whole write; lone surrogates fail every UTF-8 encoder; the
    other C0 controls and U+FFFE/U+FFFF are invalid in XML 1.0 (so in no feed text on purpose).
    They are removed, not replaced: they carry nothing a reader or a rule could use.
    """
    return _UNSTORABLE.sub("", text)


def has_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None
