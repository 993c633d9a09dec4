"""Feeds whose items form known stories: the same event from several outlets (link domains),
worded a little differently, published now (so that alerts fire). For tests of story alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
