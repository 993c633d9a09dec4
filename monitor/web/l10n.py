"""The web view's words in German and English, and which language a request gets.

English is the text of the templates (``t("Stories")``); German is looked up here. A request
gets ``?lang=de|en`` if given (remembered in a cookie), else the cookie, else the first of
German and English in its ``Accept-Language``, else English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["LANGUAGES", "choose", "translator"]

LANGUAGES = ("en", "de")

GERMAN: Mapping[str, str] = {
    "Stories": "Meldungen",
    "Feeds": "Feeds",
    "Search": "Suche",
    "Search entries": "Einträge durchsuchen",
    "Language": "Sprache",
    "Outlet": "Quelle",
    "Days": "Tage",
    "Filter": "Filtern",
    "all": "alle",
    "No stories.": "Keine Meldungen.",
    "pieces": "Beiträge",
    "piece": "Beitrag",
    "outlets": "Quellen",
    "outlet": "Quelle",
    "entries for": "Einträge für",
    "Not found": "Nicht gefunden",
    "No story": "Keine Meldung",
    "Sort": "Sortieren",
    "entries per day over": "Einträge pro Tag über",
    "days": "Tage",
    "Feed": "Feed",
    "Last success": "Zuletzt erfolgreich",
    "Errors in a row": "Fehler in Folge",
    "Last error": "Letzter Fehler",
    "Next poll": "Nächster Abruf",
    "Per day": "Pro Tag",
    "never": "nie",
    "health": "Zustand",
    "url": "URL",
    "errors": "Fehler",
    "rate": "Rate",
    "last_success": "zuletzt erfolgreich",
    "in": "in",
    "title": "Titel",
    "summary": "Anriss",
    "content": "Text",
    "variant": "Variante",
    "close in meaning to the example": "inhaltlich nah am Beispielsatz",
    "cosine": "Kosinus",
    "threshold": "Schwelle",
    "Deutsch": "Deutsch",
    "English": "English",
}


def translator(language: str) -> Callable[[str], str]:
    """``t(english)``: the German of a phrase for ``de``, the phrase itself otherwise."""
    if language == "de":
        return lambda text: GERMAN.get(text, text)
    return lambda text: text


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The request's language (see the module's docstring)."""
    for given in (query, cookie):
        if given in LANGUAGES:
            return given
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            ranked.append((-q, i, base))
    return min(ranked)[2] if ranked else "en"
