"""Feeds whose items form known stories: the same event from several outlets (link domains),
worded a little differently, published now (so that alerts fire). For tests of story alerts."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

EVENTS = [
    (
        "Peking stoppt Gallium-Exporte nach Japan",
        "Die Ausfuhr von Gallium nach Japan wird ab sofort untersagt, teilte"
        " das Handelsministerium mit.",
    ),
    (
        "Germanium-Preis in Rotterdam verdoppelt sich binnen einer Woche",
        "Händler in Rotterdam melden für Germanium einen Preissprung,"
        " Halbleiterhersteller suchen Ersatz.",
    ),
    (
        "Kanadische Mine in Quebec beginnt Gallium-Förderung",
        "Ein Bergbaukonzern aus Montreal hat in Quebec die erste"
        " Gallium-Produktion Nordamerikas gestartet.",
    ),
    (
        "EU-Kommission legt Germanium-Reserve für Chipindustrie an",
        "Brüssel will strategische Vorräte an Germanium und Gallium für"
        " europäische Chipfabriken aufbauen.",
    ),
    (
        "Indonesien erwägt Exportsteuer auf Gallium aus Bauxit",
        "Jakarta prüft eine Abgabe auf Gallium, das bei der"
        " Aluminiumverarbeitung aus Bauxit anfällt.",
    ),
    (
        "Südkoreas Samsung sichert sich Germanium-Lieferungen aus Belgien",
        "Der Konzern schließt mit Umicore einen langfristigen Vertrag über"
        " Germanium für Glasfasern.",
    ),
    (
        "Gallium-Recycling in Freiberg verdreifacht Kapazität",
        "Ein sächsisches Werk gewinnt Gallium aus Produktionsabfällen der"
        " Halbleiterindustrie zurück.",
    ),
    (
        "USA verhängen Zölle auf chinesisches Germanium-Oxid",
        "Washington belegt Einfuhren von Germanium-Oxid aus China mit Strafzöllen von 25 Prozent.",
    ),
]
WORDINGS = [
    "{t}",
    "{t}, melden Händler",
    "Bericht: {t}",
    "{t} – Reaktionen",
    "{t}: Analysten besorgt",
]


def story_items(
    stories: int, outlets: int, *, now: datetime | None = None, tag: str = ""
) -> list[tuple[int, int, str]]:
    """(story, outlet, rss item) for each of ``stories`` events carried by ``outlets`` outlets."""
    now = now or datetime.now(UTC)
    out = []
    for k in range(stories):
        title, summary = EVENTS[k % len(EVENTS)]
        if k >= len(EVENTS):
            title = f"{title} ({k // len(EVENTS) + 1}. Runde)"
        for j in range(outlets):
            when = format_datetime(now - timedelta(minutes=5 * (outlets - j)), usegmt=True)
            t = WORDINGS[j % len(WORDINGS)].format(t=title)
            out.append(
                (
                    k,
                    j,
                    f"<item><title>{t}</title><link>https://outlet{j}.example/{tag}s{k}</link>"
                    f"<guid>{tag}s{k}-o{j}</guid><pubDate>{when}</pubDate>"
                    f"<description>{summary}</description></item>",
                )
            )
    return out


def rss(items: list[str], name: str = "Rohstoff-Ticker") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>https://example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


_PLACES = [
    "Antwerpen",
    "Bilbao",
    "Cardiff",
    "Dresden",
    "Eindhoven",
    "Faro",
    "Genua",
    "Hamburg",
    "Innsbruck",
    "Jena",
    "Kiel",
    "Lyon",
    "Malmö",
    "Nantes",
    "Oslo",
    "Porto",
    "Quimper",
    "Rostock",
    "Sevilla",
    "Turin",
    "Utrecht",
    "Valencia",
    "Warschau",
    "Zagreb",
    "Aarhus",
    "Brünn",
    "Chemnitz",
    "Danzig",
    "Erfurt",
    "Florenz",
    "Graz",
    "Halle",
    "Ingolstadt",
    "Jaén",
    "Krakau",
    "Lüttich",
]
_THINGS = [
    "Hafenlager",
    "Schmelzhütte",
    "Forschungslabor",
    "Waferfabrik",
    "Recyclinganlage",
    "Zollbehörde",
    "Börsenaufsicht",
    "Solarwerk",
    "Batteriefabrik",
    "Glasfaserwerk",
    "Raffinerie",
    "Bergwerk",
    "Kraftwerk",
    "Chipfabrik",
    "Speditionszentrum",
    "Prüfinstitut",
    "Handelskammer",
    "Gießerei",
    "Kabelwerk",
    "Lagerhalle",
    "Umschlagterminal",
    "Testzentrum",
    "Walzwerk",
    "Beschichtungsanlage",
    "Pilotanlage",
    "Versuchsreaktor",
    "Logistikpark",
    "Bahnterminal",
    "Frachtflughafen",
    "Stahlwerk",
    "Klärwerk",
    "Elektrolyseur",
    "Pumpwerk",
    "Sortieranlage",
    "Rechenzentrum",
    "Druckerei",
]
_ACTS = ["meldet", "erwartet", "bestätigt", "prüft", "plant", "verschiebt", "startet", "stoppt"]


def distinct_items(
    stories: int, outlets: int = 1, *, now: datetime | None = None, tag: str = ""
) -> list[tuple[int, int, str]]:
    """Like ``story_items`` for up to 36 events that share no more than the rule's word."""
    now = now or datetime.now(UTC)
    out = []
    for k in range(stories):
        place, thing = _PLACES[k % len(_PLACES)], _THINGS[k % len(_THINGS)]
        act = _ACTS[k % len(_ACTS)]
        title = f"{place}: {thing} {act} Gallium-Engpass"
        summary = f"In {place} {act} die {thing} einen Engpass bei Gallium ({k})."
        for j in range(outlets):
            when = format_datetime(now - timedelta(minutes=outlets - j), usegmt=True)
            t = WORDINGS[j % len(WORDINGS)].format(t=title)
            out.append(
                (
                    k,
                    j,
                    f"<item><title>{t}</title><link>https://outlet{j}.example/{tag}d{k}</link>"
                    f"<guid>{tag}d{k}-o{j}</guid><pubDate>{when}</pubDate>"
                    f"<description>{summary}</description></item>",
                )
            )
    return out


# --- real feeds, re-dated so that alerts fire ---------------------------------------------------

_DATE = re.compile(
    rb"(<(pubDate|dc:date|updated|published|a10:updated|lastBuildDate)>)\s*([^<]{6,64}?)\s*(</\2>)"
)


def _when(raw: bytes) -> datetime | None:
    text = raw.decode("utf-8", "replace").strip()
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def redate(feeds: dict[str, bytes], now: datetime, span: timedelta) -> dict[str, bytes]:
    """Every date in the feeds moved into ``(now - span, now]``, in the same order across all
    of them: the newest date becomes ``now``, the oldest ``now - span``, one original time one
    new time (an item in two feeds stays one moment). Undated or unparsable dates stay."""
    found = sorted(
        {w for body in feeds.values() for m in _DATE.finditer(body) if (w := _when(m.group(3)))}
    )
    if not found:
        return dict(feeds)
    step = span / max(1, len(found) - 1)
    new = {w: now - step * (len(found) - 1 - i) for i, w in enumerate(found)}

    def sub(m: re.Match[bytes]) -> bytes:
        w = _when(m.group(3))
        if w is None:
            return m.group(0)
        moved = new[w]
        text = (
            format_datetime(moved, usegmt=True)
            if m.group(2) in (b"pubDate", b"lastBuildDate")
            else moved.isoformat()
        )
        return m.group(1) + text.encode() + m.group(4)

    return {name: _DATE.sub(sub, body) for name, body in feeds.items()}


CORPUS_FEEDS = (
    "reuters__2026-08_gen_reuters-fulltext.xml",
    "reuters__2026-08_gen_reuters_direct.xml",
    "reuters__gen_reuters_direct_version-with-5-critical-mineral-items.xml",
    "br__podcast2012_br-online.de_podcast_iq_cast.xml",
    "allianz-gi__podcast2012_allianzglobalinvestors.de_mp3_newsfeed.xml",
    "apnews__2026-08_gen_ap.xml",
    "deutsche-welle__podcast2012_blogs.dw-world.de_madeingermany_rss2.xml",
    "deutsche-welle__podcast2012_rss.dw-world.de_xml_podcast_made-in-germany.xml",
    "deutschlandfunk__2024-12_deutschlandfunk-wirtschaft.xml",
    "businessweek__podcast2012_businessweek.com_search_podcasts_cover_stories.xml",
    "br__podcast2012_br-online.de_podcast_magazin-fuer-wirtschaft-und-soziales_.xml",
    "wdr__podcast2012_podcast.wdr.de_radio_profit.xml",
    "cnn__2021-10_cnn.xml",
    "npr__podcast2012_npr.org_rss_podcast.php-id-510289.xml",
    "wsj__regen_wsj_world_version-with-5-critical-mineral-items.xml",
    "wsj__2026-02_regen_wsj_world.xml",
    "economist__2026-02_regen_economist.xml",
    "techcrunch__feedjira-spec_TechCrunch.xml",
    "daserste__podcast2012_daserste.de_podcasts_mam_dyn-id-434-weltspiegel.xml",
    "geo__2024-12_geo.xml",
    "deutschlandfunk__2024-12_deutschlandfunk-wissen.xml",
    "bloomberg__podcast2012_bloomberg.com_tvradio_podcast_ontheeconomy.xml",
    "phoenix__podcast2012_bibliothek.phoenix.de_podcast.xml",
    "deutschlandfunk__2024-12_deutschlandfunk-gesellschaft.xml",
    "deutschlandfunk__2024-12_deutschlandfunk-politikportal.xml",
    "deutschlandfunk__2024-12_deutschlandfunk-europa.xml",
    "bbc__2021-10_bbc.xml",
    "dailymail__2021-10_dailymail.xml",
    "marketscreener__gen_marketscreener_version-with-seltene-erden-item.xml",
    "ft__regen_ft-home_version-with-3-critical-mineral-items.xml",
    "foxnews__2021-10_fox.xml",
    "latimes__2021-10_latimes.xml",
)
"""32 real corpus feeds (../shared/corpus/feeds): those with the most raw-materials, trade and
China words, news and podcasts, German and English."""


def alert_messages(db: Path) -> dict[str, dict[str, list[str]]]:
    """Per alert subscription, per story: the keys of the alert messages that carry the story
    (an entry without a story is its own). Read from a SQLite store after a run; works on the
    outbox of any version (before story alerts each message held one (entry, rule))."""
    with closing(sqlite3.connect(db)) as conn:
        members = {
            (f, e): s
            for f, e, s in conn.execute("SELECT feed_url, entry_id, story_id FROM story_members")
        }
        rows = conn.execute(
            "SELECT d.subscription, d.key, i.feed_url, i.entry_id FROM deliveries d "
            "JOIN delivery_items i ON i.delivery_id = d.id WHERE d.kind = 'alert' ORDER BY d.id"
        ).fetchall()
    out: dict[str, dict[str, list[str]]] = {}
    for sub, key, feed, entry in rows:
        story = members.get((feed, entry)) or f"own:{feed}#{entry}"
        keys = out.setdefault(sub, {}).setdefault(story, [])
        if key not in keys:
            keys.append(key)
    return out
