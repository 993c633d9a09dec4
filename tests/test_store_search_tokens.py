"""Schema step 11: on PostgreSQL the search index is a column of ``entries``, and it and its
queries are built from the Python tokens (a tsvector literal without positions, a tsquery
literal), not by the server's parser; the wide text columns compress with lz4 where the
server has it. Search finds what it found
before: the server's parser gives the same lexemes as the Python tokens on news text, an
upgraded database is indexed again, and over-long tokens are left out as ``to_tsvector`` did."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from monitor.matching.text import TOKEN_RE, fold
from monitor.model import FeedState
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.search_index import (
    LEXEME_LIMIT,
    SEARCH_STATEMENTS,
    indexed_text,
    query_tokens,
    token_text,
    tsquery_literal,
    tsvector_binary,
    tsvector_literal,
)
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import postgres_schema_url, raw_execute, sqlite_url
from tests.test_store_search import FEED, T0, entry

TEXTS = [
    ("China verhängt Ausfuhrbeschränkungen für Gallium", "Straße, Maßnahmen, ÄÖÜ äöü ß", ""),
    ("Rare-earth export controls tightened", "U.S. 2,5 % 10.000 t; e-mail: a@b.org", ""),
    ("Élysée: l'œuvre d'été à Zürich", "naïve café coöperation Ångström", "<p>ﬁne ｆｕｌｌ</p>"),
    ("Москва: экспорт лития", "北京 稀土 出口管制 ", "Ελληνικά κείμενα · עברית · العربية"),
    ("x² + H₂O — ½ € 5‰ №1", "ﬀ Ǆ ǅ İstanbul ı", "emoji 😀 tab\tline\nend"),
]


def test_literals_quote_every_token_and_leave_out_overlong_ones() -> None:
    assert tsvector_literal("") == ""
    assert tsvector_literal("gallium china") == "'gallium' 'china'"
    long = "a" * (LEXEME_LIMIT + 1)
    assert tsvector_literal(f"a {long} b") == "'a' 'b'"
    assert tsvector_literal("a " + "ä" * 1023 + " b") == f"'a' '{'ä' * 1023}' 'b'"  # 2,046 bytes
    assert tsvector_literal("a " + "ä" * 1024 + " b") == "'a' 'b'"  # 2,048 bytes
    assert tsvector_literal("it's a\\b") == "'it''s' 'a\\\\b'"
    assert tsquery_literal(["gallium", "china"]) == "'gallium' & 'china'"
    assert tsquery_literal(["gallium", long]) is None


@pytest.mark.postgres
def test_the_literals_are_what_the_server_parser_made(postgres_url: str, corpus_dir: Path) -> None:
    """On this server the parser (``to_tsvector('simple', ...)``, what step 8 stored) gives the
    Python tokens exactly, for the hard cases here and for every news text of the shared corpus:
    old rows and new rows of the index agree."""
    texts = [indexed_text(*t) for t in TEXTS]
    for path in sorted((corpus_dir / "news").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts.append(indexed_text(str(item.get("title", "")), str(item.get("summary", "")), ""))
    with psycopg.connect(postgres_url, autocommit=True) as pg:
        rows = pg.execute(
            "SELECT t, tsvector_to_array(to_tsvector('simple', t)), "
            "tsvector_to_array(lit::tsvector), strip(to_tsvector('simple', t)) = lit::tsvector "
            "FROM unnest(%s::text[], %s::text[]) AS u(t, lit)",
            (texts, [tsvector_literal(t) for t in texts]),
        ).fetchall()
    assert len(rows) == len(texts) >= len(TEXTS)
    for text, parsed, sent, same in rows:
        assert sorted(parsed) == sorted(sent) == sorted(set(text.split())), text
        assert same, text


def test_an_overlong_token_is_stored_and_the_rest_is_found(storage: SQLStorage) -> None:
    long = "x" * (LEXEME_LIMIT + 10)
    storage.record_poll(FeedState(FEED), [entry("a", f"Gallium {long} curbs")], {}, T0)
    assert [e.id for e in storage.search_entries("gallium curbs")] == ["a"]
    if storage.dialect.name == "postgresql":
        assert storage.search_entries(f"gallium {long}") == []  # never in the index


def test_the_hard_texts_are_found_by_each_of_their_words(storage: SQLStorage) -> None:
    entries = [
        entry(f"e{i}", t[0], summary=t[1], content=t[2], days=i + 1) for i, t in enumerate(TEXTS)
    ]
    storage.record_poll(FeedState(FEED), entries, {}, T0)
    for e in entries:
        for word in query_tokens(f"{e.title} {e.summary} {e.content}"):
            found = [x.id for x in storage.search_entries(word)]
            assert e.id in found, (word, found)
        assert [x.id for x in storage.search_entries(e.title)] == [e.id]


@pytest.mark.postgres
def test_an_upgraded_database_is_indexed_again_in_entries(postgres_url: str) -> None:
    with postgres_schema_url(postgres_url) as url:
        with open_storage(url) as store:
            store.record_poll(
                FeedState(FEED),
                [
                    entry("old", TEXTS[0][0], summary=TEXTS[0][1], content=TEXTS[0][2]),
                    entry("ru", TEXTS[3][0], summary=TEXTS[3][1], content=TEXTS[3][2], days=2),
                ],
                {},
                T0,
            )
        # Rewound to step 10: step 8's table, its rows built by the server's parser.
        raw_execute(url, "ALTER TABLE entries DROP COLUMN search")
        for statement in SEARCH_STATEMENTS["postgresql"]:
            raw_execute(url, statement.format(key='TEXT COLLATE "C"'))
        raw_execute(
            url,
            "INSERT INTO entry_search SELECT feed_url, entry_id, "
            "to_tsvector('simple', title || ' ' || summary) FROM entries",
        )
        raw_execute(url, "DELETE FROM schema_version WHERE version >= 11")
        with open_storage(url) as store:
            assert isinstance(store, SQLStorage)
            assert store.schema_version == SCHEMA_VERSION
            assert [e.id for e in store.search_entries("AUSFUHRBESCHRAENKUNGEN gallium")] == ["old"]
            assert [e.id for e in store.search_entries("экспорт 稀土")] == ["ru"]
            store.record_poll(FeedState(FEED), [entry("new", "Gallium again", days=0)], {}, T0)
            assert [e.id for e in store.search_entries("gallium")] == ["new", "old"]
        assert raw_execute(url, "SELECT to_regclass('entry_search')") == [(None,)]
        rows = raw_execute(url, "SELECT entry_id, search = strip(search) FROM entries")
        assert sorted(rows) == [("new", True), ("old", True), ("ru", True)]
        want = tsvector_literal(indexed_text(*TEXTS[0]))
        assert raw_execute(
            url, "SELECT search = ?::tsvector FROM entries WHERE entry_id = 'old'", (want,)
        ) == [(True,)]
        (index,) = raw_execute(
            url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'entries_search'"
        )
        assert "gin (search)" in index[0]


def test_a_changed_entry_is_found_by_its_new_words_only(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a", "Cobalt mine closes")], {}, T0)
    storage.record_poll(FeedState(FEED), [entry("a", "Nickel mine closes")], {}, T0)
    assert storage.search_entries("cobalt") == []
    assert [e.title for e in storage.search_entries("nickel mine")] == ["Nickel mine closes"]


@pytest.mark.postgres
def test_wide_columns_compress_with_lz4_where_the_server_has_it(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as pg:
        try:
            pg.execute("SET default_toast_compression = lz4")
            has_lz4 = True
        except psycopg.Error:
            has_lz4 = False
    with postgres_schema_url(postgres_url) as url:
        body = " ".join(f"Wort{i} Galliumexporte" for i in range(2000))
        with open_storage(url) as store:
            store.record_poll(
                FeedState(FEED), [entry("a", "Gallium", summary=body, content=body)], {}, T0
            )
            assert [e.content for e in store.search_entries("wort1999")] == [body]
        settings = raw_execute(
            url,
            "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
            "AND a.attcompression <> ''",
        )
        stored = raw_execute(url, "SELECT pg_column_compression(content) FROM entries")
    if has_lz4:
        assert sorted(settings) == [
            ("deliveries.message", "l"),
            ("entries.content", "l"),
            ("entries.search", "l"),
            ("entries.summary", "l"),
            ("entries.title", "l"),
            ("entry_embeddings.vector", "l"),
            ("fulltext.body", "l"),
            ("matches.hits", "l"),
        ]
        assert stored == [("lz4",)]
    else:
        assert settings == []
        assert stored == [("pglz",)]


def test_the_binary_tsvector_holds_each_token_once_and_leaves_out_overlong_ones() -> None:
    def lexemes(value: bytes) -> list[str]:
        count = int.from_bytes(value[:4], "big")
        parts = value[4:].split(b"\0\0\0")
        assert parts[-1] == b"" and len(parts) == count + 1
        return sorted(p.decode() for p in parts[:-1])

    assert tsvector_binary("") == b"\0\0\0\0"
    assert lexemes(tsvector_binary("b a b c a")) == ["a", "b", "c"]
    long = "a" * (LEXEME_LIMIT + 1)
    assert lexemes(tsvector_binary(f"a {long} b")) == ["a", "b"]
    assert lexemes(tsvector_binary("a " + "ä" * 1023 + " b")) == ["a", "b", "ä" * 1023]
    assert lexemes(tsvector_binary("a " + "ä" * 1024 + " b")) == ["a", "b"]
    assert lexemes(tsvector_binary("it's a\\b")) == ["a\\b", "it's"]


@pytest.mark.postgres
def test_the_stored_tsvectors_are_the_literals_of_the_tokens(
    postgres_url: str, corpus_dir: Path
) -> None:
    """New entries go in by a binary COPY and changed ones by the upsert, both with the tsvector
    in binary: the stored value equals the literal's (what step 11 stored), for the hard cases
    and the shared corpus's news texts, over-long tokens left out in both."""
    texts = list(TEXTS)
    texts.append(("Gallium " + "x" * (LEXEME_LIMIT + 5), "a " + "ä" * 1023 + " b", "it's"))
    for path in sorted((corpus_dir / "news").glob("*.jsonl"))[:3]:
        for line in path.read_text(encoding="utf-8").splitlines()[:300]:
            item = json.loads(line)
            texts.append((str(item.get("title", "")) or "t", str(item.get("summary", "")), ""))
    # The second poll changes every entry: the texts shifted by one.
    polls = [texts, texts[1:] + texts[:1]]
    with postgres_schema_url(postgres_url) as url, open_storage(url) as store:
        for n, polled in enumerate(polls):
            entries = [
                entry(f"e{i}", t[0], summary=t[1], content=t[2]) for i, t in enumerate(polled)
            ]
            result = store.record_poll(FeedState(FEED), entries, {}, T0)
            assert len(result.new if n == 0 else result.changed) == len(texts)
            want = [tsvector_literal(indexed_text(*t)) for t in polled]
            rows = raw_execute(
                url,
                "SELECT count(*), count(*) FILTER (WHERE e.search = u.lit::tsvector) "
                "FROM entries e JOIN unnest(?::text[], ?::text[]) AS u(id, lit) "
                "ON e.entry_id = u.id",
                ([e.id for e in entries], want),
            )
            assert rows == [(len(texts), len(texts))]


def test_the_token_text_is_the_tokens_joined_for_every_character(corpus_dir: Path) -> None:
    """``token_text`` (by bytes) against ``TOKEN_RE``: every code point (lone surrogates too) as
    a token character or a separator, alone, in runs and beside ASCII letters and separators."""

    def reference(text: str) -> str:
        return " ".join(TOKEN_RE.findall(text))

    points = [chr(c) for c in range(0x110000)]
    # What token_text tests of a non-ASCII character is what TOKEN_RE tests, for every one.
    assert [c for c in points if bool(TOKEN_RE.fullmatch(c)) != c.isalnum()] == []
    sample = points[:0x3000] + points[0x3000::97]
    for start in range(0, len(sample), 256):
        block = sample[start : start + 256]
        for text in ("".join(block), "a_" + "x".join(block) + " b", " ".join(block) + "9"):
            assert token_text(text) == reference(text)
    for t, s, c in TEXTS:
        for text in (t, s, c, fold(t), fold(s), fold(c)):
            assert token_text(text) == reference(text)
    assert token_text("") == "" and token_text(" _-- ") == ""
    news = sorted((corpus_dir / "news").glob("*.jsonl"))
    assert news
    for path in news:
        with path.open(encoding="utf-8") as lines:
            for line in itertools.islice(lines, 200):
                text = fold(line)
                assert token_text(text) == reference(text)


def test_an_upgraded_sqlite_database_gets_the_new_fts_table_with_every_entry(
    tmp_path: Path,
) -> None:
    """Schema step 12 on a database of step 11: the FTS table made again (ascii tokenizer, no
    positions, no column sizes), every entry in it under its docid, the keys' trigger working."""
    url = sqlite_url(tmp_path)
    entries = [
        entry(f"e{i}", t[0], summary=t[1], content=t[2], days=i + 1) for i, t in enumerate(TEXTS)
    ]
    with open_storage(url) as store:
        store.record_poll(FeedState(FEED), entries, {}, T0)
        store.record_poll(FeedState(FEED), [entry("a", "Cobalt mine closes", days=9)], {}, T0)
        store.record_poll(FeedState(FEED), [entry("a", "Nickel mine closes", days=9)], {}, T0)
    # Rewound to step 11: step 8's FTS table, filled as step 8 and record_poll filled it.
    raw_execute(url, "DROP TABLE entry_search")
    raw_execute(url, SEARCH_STATEMENTS["sqlite"][1])
    for docid, title, summary, content in raw_execute(
        url,
        "SELECT k.docid, e.title, e.summary, e.content FROM entries e JOIN entry_search_keys k "
        "ON k.feed_url = e.feed_url AND k.entry_id = e.entry_id",
    ):
        raw_execute(
            url,
            "INSERT INTO entry_search (rowid, body) VALUES (?, ?)",
            (docid, indexed_text(title, summary, content)),
        )
    raw_execute(url, "DELETE FROM schema_version WHERE version >= 12")
    keys = sorted(raw_execute(url, "SELECT docid FROM entry_search_keys"))
    assert len(keys) == len(entries) + 1
    with open_storage(url) as store:
        assert isinstance(store, SQLStorage)
        assert store.schema_version == SCHEMA_VERSION
        for e in entries:
            for word in query_tokens(f"{e.title} {e.summary} {e.content}"):
                assert e.id in [x.id for x in store.search_entries(word)], word
        assert store.search_entries("cobalt") == []
        assert [e.id for e in store.search_entries("nickel mine")] == ["a"]
        store.record_poll(FeedState(FEED), [entry("a", "Tin mine closes", days=9)], {}, T0)
        assert store.search_entries("nickel") == []
        assert [e.id for e in store.search_entries("tin mine")] == ["a"]
        # Pruned entries leave the index through the keys' cascade and trigger.
        later = T0 + timedelta(days=1)
        assert store.prune(later, later) == len(entries) + 1
        assert store.search_entries("mine") == []
    (sql,) = raw_execute(url, "SELECT sql FROM sqlite_master WHERE name = 'entry_search'")[0]
    assert "tokenize = 'ascii', detail = none, columnsize = 0" in sql
    assert raw_execute(url, "SELECT count(*) FROM entry_search_keys") == [(0,)]
    assert raw_execute(url, "SELECT count(*) FROM entry_search") == [(0,)]
