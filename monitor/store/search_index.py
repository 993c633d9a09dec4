"""The full-text search index over stored entries: what is indexed, and the SQL per dialect.

The index holds each entry's title, summary and content folded the way the matcher folds text
(``monitor.matching.text.fold``: casefolded, umlauts spelt out, other marks dropped), so that
"Ausfuhrbeschränkungen", "AUSFUHRBESCHRAENKUNGEN" and "Ausfuhrbeschraenkungen" are one word to
both. SQLite keeps it in an FTS5 table (rowid = ``entry_search_keys.docid``, a plain table whose
cascade from ``entries`` deletes the FTS row through a trigger; since schema step 12 with the
``ascii`` tokenizer, which keeps each folded token one FTS token, and without positions);
PostgreSQL in a ``tsvector`` column with a GIN index. A query is folded and tokenized the same
way; every token must occur.

On PostgreSQL (schema step 11) the index is a ``tsvector`` column of ``entries`` itself
(``search``, GIN-indexed), written by the entry's own upsert: no second row, key and foreign-key
check per entry. Both sides are built from these Python tokens, not by the server's text parser:
an entry's tsvector is sent as a literal of its tokens (``'a' 'b' ...``, no positions: no query
reads them) and a query as a tsquery literal (``'a' & 'b'``). So what matches does not depend on
the server's parser or locale, and the server skips the parse. A token longer than the server's
limit for a lexeme (2,047 bytes) is left out of the index, as ``to_tsvector`` did; a query with
one finds nothing. (Steps 8-10 kept a separate ``entry_search`` table built by
``to_tsvector('simple', ...)``; step 11 drops it.)

This module depends on nothing but the folding, the log events and a minimal cursor, so that the
schema (which uses ``backfill`` in its migration step) does not import the storage plumbing. The
migration steps read the stored entries a chunk at a time (``stored_entries``) and log their
progress on a large database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from monitor.logs import event
from monitor.matching.text import fold, folded_tokens, tokens

__all__ = [
    "FTS_TOKENS_STATEMENTS",
    "LEXEME_LIMIT",
    "SEARCH_STATEMENTS",
    "TsVectorBinary",
    "backfill",
    "indexed_text",
    "match_expression",
    "query_tokens",
    "refill",
    "reindex",
    "search_sql",
    "stored_entries",
    "token_text",
    "tsquery_literal",
    "tsvector_binary",
    "tsvector_literal",
    "write_index",
]

_CHUNK = 500
log = logging.getLogger("monitor.store")
LEXEME_LIMIT = 2047
"""PostgreSQL's longest lexeme in bytes (``MAXSTRLEN``): a longer one is an error in a literal."""
_SAFE_CHARS = LEXEME_LIMIT // 4
"""Tokens of at most this many characters fit whatever their characters (4 UTF-8 bytes each)."""
_LONG_RUN = re.compile(f"[^ ]{{{_SAFE_CHARS + 1}}}")


class SearchTx(Protocol):
    """What the index needs of a transaction (``monitor.store.dbapi.Tx`` has it)."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> int: ...
    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


# The migration's statements per dialect (``{key}`` as in ``monitor.store.schema``).
SEARCH_STATEMENTS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        """CREATE TABLE entry_search_keys (
            docid INTEGER PRIMARY KEY,
            feed_url {key} NOT NULL,
            entry_id {key} NOT NULL,
            UNIQUE (feed_url, entry_id),
            FOREIGN KEY (feed_url, entry_id) REFERENCES entries (feed_url, entry_id)
                ON DELETE CASCADE
        )""",
        # Folded text only ASCII-lowers further; no diacritics left to remove.
        "CREATE VIRTUAL TABLE entry_search USING fts5(body, tokenize = 'unicode61')",
        """CREATE TRIGGER entry_search_keys_delete AFTER DELETE ON entry_search_keys
        BEGIN DELETE FROM entry_search WHERE rowid = old.docid; END""",
    ),
    "postgresql": (
        """CREATE TABLE entry_search (
            feed_url {key} NOT NULL,
            entry_id {key} NOT NULL,
            body tsvector NOT NULL,
            PRIMARY KEY (feed_url, entry_id),
            FOREIGN KEY (feed_url, entry_id) REFERENCES entries (feed_url, entry_id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX entry_search_body ON entry_search USING GIN (body)",
    ),
}
# Schema step 12 (SQLite): the FTS table again, one FTS token per indexed token and no positions.
# The indexed text is folded tokens (letters and digits) separated by single spaces, so the
# ``ascii`` tokenizer (ASCII letters and digits, and every non-ASCII character, are token
# characters) keeps each one whole: a query word is one FTS token, never a phrase of several as
# ``unicode61`` made of a token holding a character its (Unicode 6.1) tables call a separator.
# Every query is a set of such words, so no query reads positions (``detail = none``) or
# column sizes (``columnsize = 0``, no ``rank``/bm25 is asked for): a first poll's index costs
# ~10 % less of the store's CPU and writes less (bench/RESULTS.md, issue 14, helper storecost).
FTS_TOKENS_STATEMENTS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "DROP TABLE entry_search",
        "CREATE VIRTUAL TABLE entry_search USING fts5("
        "body, tokenize = 'ascii', detail = none, columnsize = 0)",
    ),
}


def indexed_text(title: str, summary: str, content: str) -> str:
    """The folded tokens of an entry's text, space-separated (what the index stores).

    The tokens of ``fold(f"{title}\\n{summary}\\n{content}")``: folding maps each character on
    its own and a line break is no token character, so they are the tokens of the three parts
    in turn; the title's and summary's come from ``folded_tokens``, which the story layer has
    usually just filled for the same texts."""
    body = token_text(fold(content))
    head = (*folded_tokens(title), *folded_tokens(summary))
    if not head:
        return body
    return f"{' '.join(head)} {body}" if body else " ".join(head)


_ASCII_BYTES = bytes(range(128))
_TOKEN_BYTES = bytes(b if chr(b).isalnum() else 0x20 for b in range(128)) + bytes(range(128, 256))
"""``bytes.translate`` table: ASCII bytes that are no token character (``TOKEN_RE``: letters and
digits, ``str.isalnum``) become spaces; the others, and every byte of a non-ASCII character
(all >= 0x80 in UTF-8), stay."""


def token_text(folded: str) -> str:
    """``" ".join(tokens(folded))``, by bytes: separators become spaces (the ASCII ones by one
    ``translate``, each distinct non-ASCII one by a ``replace``), then ``split`` and ``join``.
    ``TOKEN_RE``'s scan costs ~25 ns a character; this a third of that on ASCII text, ~70 % on
    the first-poll benchmark's mix (bench/RESULTS.md, issue 14, helper storecost).
    ``bytes.split`` splits at ASCII whitespace only, and UTF-8 is self-synchronizing, so a
    character's bytes match nowhere but at that character."""
    if folded.isascii():
        return b" ".join(folded.encode("ascii").translate(_TOKEN_BYTES).split()).decode("ascii")
    data = folded.encode("utf-8", "surrogatepass")
    rare = data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    data = data.translate(_TOKEN_BYTES)
    for char in set(rare):
        if not char.isalnum():  # what TOKEN_RE's [^\W_] tests of a character
            data = data.replace(char.encode("utf-8", "surrogatepass"), b" ")
    return b" ".join(data.split()).decode("utf-8", "surrogatepass")


def query_tokens(query: str) -> list[str]:
    """The folded tokens of a search query, duplicates dropped; empty: nothing to search."""
    return list(dict.fromkeys(tokens(fold(query))))


def write_index(tx: SearchTx, dialect: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """Index (or re-index) ``(feed_url, entry_id, indexed_text)`` rows of stored entries.

    On PostgreSQL the entries' upsert writes the column (``tsvector_literal``); this sets it for
    entries already stored."""
    if not rows:
        return
    if dialect == "postgresql":
        tx.executemany(
            "UPDATE entries SET search = ?::tsvector WHERE feed_url = ? AND entry_id = ?",
            [(tsvector_literal(text), f, i) for f, i, text in rows],
        )
        return
    keys = [(f, i) for f, i, _ in rows]
    tx.executemany(
        "INSERT INTO entry_search_keys (feed_url, entry_id) VALUES (?, ?) "
        "ON CONFLICT (feed_url, entry_id) DO NOTHING",
        keys,
    )
    # The FTS rows by plain ``VALUES`` statements, their docids looked up first: an ``INSERT
    # ... SELECT`` into the FTS table runs in a statement savepoint, and FTS5 (SQLite 3.40's at
    # least) writes its pending terms to disk at every savepoint, so each entry became a segment
    # of its own, merged again and again: ~97 instead of ~56 us an entry for the index alone
    # (bench/RESULTS.md, issue 14, helper storecost). In docid order: a rowid lower than the
    # last one written flushes too.
    docids = _docids(tx, keys)
    ordered = sorted((docids[(f, i)], text) for f, i, text in rows)
    tx.executemany("DELETE FROM entry_search WHERE rowid = ?", [(d,) for d, _ in ordered])
    tx.executemany("INSERT INTO entry_search (rowid, body) VALUES (?, ?)", ordered)


def _docids(tx: SearchTx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """SQLite: the ``entry_search_keys`` docids of stored ``(feed_url, entry_id)`` keys."""
    out: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        for docid, feed_url, entry_id in tx.rows(
            "SELECT k.docid, k.feed_url, k.entry_id FROM entry_search_keys k "
            f"JOIN (VALUES {values}) AS v ON k.feed_url = v.column1 AND k.entry_id = v.column2",
            [v for key in chunk for v in key],
        ):
            out[(feed_url, entry_id)] = int(docid)
    return out


def _quoted(token: str) -> str:
    """A token as a quoted lexeme of a tsvector or tsquery literal. Tokens are letters and
    digits, so the escapes are for safety only."""
    if "'" in token or "\\" in token:
        token = token.replace("\\", "\\\\").replace("'", "''")
    return f"'{token}'"


def _fits(token: str) -> bool:
    return len(token) <= _SAFE_CHARS or len(token.encode("utf-8", "surrogatepass")) <= (
        LEXEME_LIMIT
    )


def tsvector_literal(text: str) -> str:
    """PostgreSQL's tsvector literal of ``indexed_text``'s space-separated tokens (duplicates
    are the server's to drop); over-long tokens are left out, as ``to_tsvector`` left them."""
    if not text:
        return ""
    if "'" in text or "\\" in text or _LONG_RUN.search(text):
        return " ".join(_quoted(t) for t in text.split(" ") if t and _fits(t))
    return "'" + text.replace(" ", "' '") + "'"


class TsVectorBinary(bytes):
    """A tsvector in PostgreSQL's binary format (``tsvector_binary``): the PostgreSQL backend
    sends a value of this type as a binary parameter of type tsvector."""

    __slots__ = ()


_TSVECTOR_EMPTY = TsVectorBinary(b"\0\0\0\0")


def tsvector_binary(text: str) -> TsVectorBinary:
    """The tsvector of ``indexed_text``'s tokens in PostgreSQL's binary format: the lexemes'
    count (int32), then each lexeme's UTF-8 bytes, a NUL and its number of positions (int16,
    0). The server's ``tsvector_recv`` only sorts what it gets, so duplicates are dropped here;
    over-long tokens are left out as in ``tsvector_literal``: the same tsvector as the literal,
    without the literal's parse on the server (bench/RESULTS.md, issue 14, helper pg6).
    Tokens are letters and digits (``TOKEN_RE``): none holds a NUL or a surrogate."""
    lexemes = set(text.split(" "))
    lexemes.discard("")
    if _LONG_RUN.search(text):
        lexemes = {t for t in lexemes if _fits(t)}
    if not lexemes:
        return _TSVECTOR_EMPTY
    body = ("\0\0\0".join(lexemes) + "\0\0\0").encode("utf-8")
    return TsVectorBinary(len(lexemes).to_bytes(4, "big") + body)


def tsquery_literal(words: Sequence[str]) -> str | None:
    """PostgreSQL's tsquery literal requiring every one of ``words`` (query tokens); ``None``
    when one of them cannot be in the index (over-long), so nothing can match."""
    if not all(_fits(w) for w in words):
        return None
    return " & ".join(_quoted(w) for w in words)


def stored_entries(tx: SearchTx) -> Iterator[list[tuple[str, str, str]]]:
    """Every stored entry as ``(feed_url, entry_id, indexed_text)``, ``_CHUNK`` rows at a time, in
    key order (keyset pagination: memory stays one chunk, whatever the database's size), with a
    progress event every tenth of the way (an upgrade of a large database takes minutes)."""
    total = int(tx.rows("SELECT count(*) FROM entries")[0][0])
    loud = total >= 10 * _CHUNK
    if loud:
        event(log, "store.upgrade.search_index", entries=0, of=total)
    done, shown, last = 0, 0, ("", "")
    while True:
        chunk = tx.rows(
            "SELECT feed_url, entry_id, title, summary, content FROM entries "
            "WHERE (feed_url, entry_id) > (?, ?) ORDER BY feed_url, entry_id LIMIT ?",
            (*last, _CHUNK),
        )
        if not chunk:
            return
        yield [(f, i, indexed_text(t, s, c)) for f, i, t, s, c in chunk]
        done += len(chunk)
        last = (chunk[-1][0], chunk[-1][1])
        if loud and done * 10 // total > shown:
            shown = done * 10 // total
            event(log, "store.upgrade.search_index", entries=done, of=total)


def backfill(tx: SearchTx, dialect: str) -> None:
    """Schema step 8's data part: index every entry already stored (on PostgreSQL into step 8's
    ``entry_search`` table, which step 11 replaces)."""
    for indexed in stored_entries(tx):
        if dialect == "postgresql":
            tx.executemany(
                "INSERT INTO entry_search (feed_url, entry_id, body) "
                "VALUES (?, ?, to_tsvector('simple', ?))",
                indexed,
            )
        else:
            write_index(tx, dialect, indexed)


def reindex(tx: SearchTx, dialect: str) -> None:
    """Schema step 11's data part on PostgreSQL: every entry's ``search`` column from its Python
    tokens, then the GIN index over it (built once over the filled column); nothing on SQLite."""
    if dialect != "postgresql":
        return
    for indexed in stored_entries(tx):
        write_index(tx, dialect, indexed)
    tx.execute("CREATE INDEX IF NOT EXISTS entries_search ON entries USING GIN (search)")


def refill(tx: SearchTx, dialect: str) -> None:
    """Schema step 12's data part on SQLite: every stored entry into the new FTS table (its
    docid kept in ``entry_search_keys``); nothing on PostgreSQL."""
    if dialect == "postgresql":
        return
    for indexed in stored_entries(tx):
        write_index(tx, dialect, indexed)


def search_sql(dialect: str, columns: str) -> str:
    """The search query: ``columns`` of ``entries e``, newest publication first.

    Parameters: the search expression (``match_expression``), then the limit.
    """
    if dialect == "postgresql":
        return (
            f"SELECT {columns} FROM entries e WHERE e.search @@ ?::tsquery "
            "ORDER BY e.published DESC, e.feed_url, e.entry_id LIMIT ?"
        )
    return (
        f"SELECT {columns} FROM entry_search s "
        "JOIN entry_search_keys k ON k.docid = s.rowid "
        "JOIN entries e ON e.feed_url = k.feed_url AND e.entry_id = k.entry_id "
        "WHERE entry_search MATCH ? "
        "ORDER BY e.published DESC, e.feed_url, e.entry_id LIMIT ?"
    )


def match_expression(dialect: str, words: Sequence[str]) -> str | None:
    """The query's tokens as the dialect's search expression (every token must occur);
    ``None``: nothing can match."""
    if dialect == "postgresql":
        return tsquery_literal(words)
    # Tokens are letters and digits only; quoting keeps FTS5 keywords (AND, NEAR) plain words.
    return " ".join(f'"{w}"' for w in words)
