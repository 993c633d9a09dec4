"""Write a deterministic benchmark corpus: 500 feeds, ~25k entries, RSS 2.0/Atom, German/English.

Titles and summaries are real news text from $MONITOR_SHARED/corpus/news/*.jsonl (default
../shared; about 5% of it on raw materials). Without that corpus the script stops, unless
``--word-list`` asks for a built-in raw-materials word list instead, where nearly every entry
matches several rules: figures from the two are not comparable. Either is wrapped in the
markup real feeds carry: paragraphs, links, emphasis, images, entities, CDATA,
content:encoded, relative links and xml:base.

    .venv/bin/python bench/gen_feeds.py [OUT_DIR] [--feeds 500] [--seed 20260111] [--word-list]

OUT_DIR defaults to bench/_work/feeds/ (gitignored). Same seed and inputs -> same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEWS = Path(os.environ.get("MONITOR_SHARED") or HERE.parent.parent / "shared") / "corpus" / "news"
START = datetime(2026, 1, 1, tzinfo=UTC)

_DE_WORDS = (
    "Seltene Erden Lithium Kobalt Gallium Germanium Graphit Lieferketten Exportkontrollen "
    "China Rohstoffe Versorgungssicherheit Batterie Magnet Abbau Raffinerie Preise steigen "
    "Bundesregierung Industrie Abhängigkeit Handel Zölle Markt Unternehmen Analysten"
)
_EN_WORDS = (
    "rare earths lithium cobalt gallium germanium graphite supply chains export controls "
    "China critical minerals refining magnets battery mining prices rise government "
    "industry dependence trade tariffs market companies analysts"
)
FALLBACK = {"de": _DE_WORDS.split(" "), "en": _EN_WORDS.split(" ")}


def load_news(rng: random.Random, *, word_list: bool) -> dict[str, list[tuple[str, str]]]:
    """(title, summary) pairs per language, from the shared corpus or the word list."""
    pairs: dict[str, list[tuple[str, str]]] = {"de": [], "en": []}
    if not word_list and not NEWS.is_dir():
        raise SystemExit(
            f"gen_feeds.py: no news corpus at {NEWS}; set MONITOR_SHARED to the folder holding "
            "corpus/news, or pass --word-list for the built-in word list (not comparable)"
        )
    for path in sorted(NEWS.glob("*.jsonl")) if not word_list else []:
        with path.open(encoding="utf-8") as f:
            for line in f:
                item = json.loads(line)
                lang = (item.get("language") or "")[:2]
                if lang in pairs and item.get("title") and item.get("summary"):
                    pairs[lang].append((item["title"], item["summary"]))
    for lang, words in FALLBACK.items():
        while len(pairs[lang]) < 500:
            title = " ".join(rng.choices(words, k=rng.randint(5, 10))).capitalize()
            summary = ". ".join(
                " ".join(rng.choices(words, k=rng.randint(8, 16))).capitalize() for _ in range(3)
            )
            pairs[lang].append((title, summary + "."))
    return pairs


def html_summary(rng: random.Random, text: str, link: str) -> str:
    """Text as a publisher's CMS would mark it up."""
    sentences = [s for s in text.replace("! ", "!|").replace(". ", ".|").split("|") if s]
    mid = max(1, len(sentences) // 2)
    first, rest = " ".join(sentences[:mid]), " ".join(sentences[mid:])
    words = first.split(" ")
    if len(words) > 4:  # bold a phrase, as teasers do
        words[1] = f"<b>{escape(words[1])}</b>"
        first = " ".join(w if w.startswith("<b>") else escape(w) for w in words)
    else:
        first = escape(first)
    parts = [f"<p>{first}</p>"]
    if rest:
        parts.append(
            f'<p>{escape(rest)} &#8211; <a href="{escape(link)}">mehr&nbsp;&raquo;</a></p>'
        )
    if rng.random() < 0.4:
        parts.insert(0, f'<img src="/img/{rng.randint(1, 10**6)}.jpg" alt="" width="640"/>')
    return "\n".join(parts)


def html_content(rng: random.Random, pool: list[tuple[str, str]], summary: str) -> str:
    """A longer body: the summary plus paragraphs from other items, with headings and a list."""
    paragraphs = [summary] + [s for _, s in rng.sample(pool, k=rng.randint(2, 5))]
    body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    if rng.random() < 0.5:
        body += (
            "<h3>Mehr zum Thema</h3><ul>"
            + "".join(f"<li>{escape(t)}</li>" for t, _ in rng.sample(pool, k=3))
            + "</ul>\n"
        )
    return body


def rss_feed(rng: random.Random, n: int, lang: str, pool: list[tuple[str, str]], host: str) -> str:
    items = []
    when = START + timedelta(hours=rng.randint(0, 24 * 200))
    for i in range(n):
        title, summary = rng.choice(pool)
        when -= timedelta(minutes=rng.randint(3, 240))
        relative = rng.random() < 0.1
        link = f"/artikel/{i}-{rng.randint(10**5, 10**6)}.html"
        if not relative:
            link = f"https://{host}{link}"
        tz = rng.choice([timedelta(0), timedelta(hours=1), timedelta(hours=2), timedelta(hours=-5)])
        guid = ""
        if rng.random() < 0.8:  # some feeds have no guid: the link is the id
            guid = f'<guid isPermaLink="false">{host}-{i}-{rng.getrandbits(40):x}</guid>'
        content = ""
        if rng.random() < 0.5:
            content = (
                f"<content:encoded><![CDATA[{html_content(rng, pool, summary)}]]></content:encoded>"
            )
        description = html_summary(rng, summary, link)
        # escaped HTML or CDATA: both are common
        cdata = rng.random() < 0.5
        description = f"<![CDATA[{description}]]>" if cdata else escape(description)
        items.append(
            f"<item><title>{escape(title)}</title><link>{escape(link)}</link>{guid}"
            f"<pubDate>{format_datetime(when.astimezone(timezone(tz)))}</pubDate>"
            f"<dc:creator>{escape(rng.choice(['dpa', 'Reuters', 'AFP', 'Redaktion']))}</dc:creator>"
            f"<description>{description}</description>{content}</item>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>'
        f"<title>{escape(host)} – Nachrichten</title><link>https://{host}/</link>"
        f"<description>Bench feed</description><language>{lang}</language><ttl>30</ttl>\n"
        + "".join(items)
        + "</channel></rss>\n"
    )


def atom_feed(rng: random.Random, n: int, lang: str, pool: list[tuple[str, str]], host: str) -> str:
    entries = []
    when = START + timedelta(hours=rng.randint(0, 24 * 200))
    for i in range(n):
        title, summary = rng.choice(pool)
        when -= timedelta(minutes=rng.randint(3, 240))
        stamp = when.isoformat().replace("+00:00", "Z")
        link = f"news/{i}.html"  # relative to xml:base
        content = ""
        if rng.random() < 0.5:
            content = f'<content type="html">{escape(html_content(rng, pool, summary))}</content>'
        entries.append(
            f"<entry><id>tag:{host},2026:{i}-{rng.getrandbits(32):x}</id>"
            f'<title type="html">{escape(escape(title))}</title>'
            f'<link rel="alternate" href="{link}"/><updated>{stamp}</updated>'
            f"<published>{stamp}</published><author><name>Redaktion {host}</name></author>"
            f'<summary type="html">{escape(html_summary(rng, summary, link))}</summary>'
            f"{content}</entry>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}" '
        f'xml:base="https://{host}/">\n'
        f"<title>{escape(host)}</title><id>tag:{host},2026:feed</id>"
        f'<link rel="alternate" href="https://{host}/"/>'
        f"<updated>{START.isoformat().replace('+00:00', 'Z')}</updated>\n"
        + "".join(entries)
        + "</feed>\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20260111)
    ap.add_argument(
        "--word-list", action="store_true", help="built-in word list instead of the news corpus"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pools = load_news(rng, word_list=args.word_list)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = size = 0
    for k in range(args.feeds):
        lang = "de" if k % 2 == 0 else "en"
        n = rng.randint(20, 80)  # mean 50 -> ~25k entries for 500 feeds
        host = f"{'nachrichten' if lang == 'de' else 'news'}{k:03d}.example"
        make = rss_feed if rng.random() < 0.6 else atom_feed
        text = make(rng, n, lang, pools[lang], host)
        path = args.out / f"feed-{k:03d}-{lang}.xml"
        path.write_text(text, encoding="utf-8")
        entries += n
        size += path.stat().st_size
    source = "built-in word list" if args.word_list else str(NEWS)
    print(f"{args.feeds} feeds, {entries} entries, {size / 1e6:.1f} MB in {args.out} ({source})")


if __name__ == "__main__":
    main()
