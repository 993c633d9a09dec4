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
    "New stories per day and rule": "Neue Meldungen pro Tag und Regel",
    "each row to its own scale": "jede Zeile in ihrem eigenen Maßstab",
    "peak": "Spitze",
    "day": "Tag",
    "week": "Woche",
    "context": "Kontext",
    "story": "Meldung",
    "stories": "Meldungen",
    "entry": "Eintrag",
    "entries": "Einträge",
    "more rules not shown": "weitere Regeln nicht gezeigt",
    "busiest day": "stärkster Tag",
    "busiest week from": "stärkste Woche ab",
    "New stories per week and rule": "Neue Meldungen pro Woche und Regel",
    "The latest story was last seen on": "Die neueste Meldung ist vom",
    "show the days up to it": "die Tage bis dahin zeigen",
    "pieces per hour": "Beiträge pro Stunde",
    "pieces per day": "Beiträge pro Tag",
    "Pieces per hour": "Beiträge pro Stunde",
    "Pieces per day": "Beiträge pro Tag",
    "from": "ab",
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
    "Archive": "Archiv",
    "Rules": "Regeln",
    "Rule": "Regel",
    "From": "Von",
    "To": "Bis",
    "Breaking only": "Nur Eilmeldungen",
    "Breaking": "Eilmeldung",
    "Reset": "Zurücksetzen",
    "Ignored (not a valid value):": "Ignoriert (kein gültiger Wert):",
    "Refused": "Abgelehnt",
    "The form was too old or came from elsewhere (CSRF token missing or wrong). Reload the page "
    "and try again.": "Das Formular war zu alt oder kam von anderswo (CSRF-Token fehlt oder ist "
    "falsch). Laden Sie die Seite neu und versuchen Sie es noch einmal.",
    "Nothing under": "Nichts unter",
    "State": "Zustand",
    "Kind": "Art",
    "pending": "wartet",
    "sending": "wird gesendet",
    "sent": "gesendet",
    "failed": "fehlgeschlagen",
    "superseded": "ersetzt",
    "alert": "Eilmeldung",
    "digest": "Übersicht",
    "attempts": "Versuche",
    "Nothing sent yet.": "Noch nichts gesendet.",
    "Digests and alerts as they were sent, newest first.": "Übersichten und Eilmeldungen, wie "
    "sie gesendet wurden, neueste zuerst.",
    "Queued again: the sender delivers it on its next pass.": "Erneut eingereiht: der Versand "
    "stellt sie beim nächsten Durchgang zu.",
    "Not queued: only a failed delivery can be retried.": "Nicht eingereiht: nur eine "
    "fehlgeschlagene Zustellung kann wiederholt werden.",
    "Subscription": "Abonnement",
    "Channel": "Kanal",
    "Key": "Schlüssel",
    "Created": "Erstellt",
    "Attempts": "Versuche",
    "Sent": "Gesendet",
    "Next attempt": "Nächster Versuch",
    "Retry": "Erneut senden",
    "As sent (HTML)": "Wie gesendet (HTML)",
    "As sent (text)": "Wie gesendet (Text)",
    "Slack payloads": "Slack-Nachrichten",
    "Data (webhook)": "Daten (Webhook)",
    "Items": "Einträge",
    "Your rule files (the shipped pack is never edited here). Open one to try an edit on the "
    "stored entries before saving it.": "Ihre Regeldateien (das mitgelieferte Paket wird hier "
    "nie geändert). Öffnen Sie eine, um eine Änderung an den gespeicherten Einträgen zu "
    "erproben, bevor Sie sie speichern.",
    "No rule file of your own: add one under rules: in monitor.yaml (with shipped, to keep the "
    "shipped pack).": "Keine eigene Regeldatei: tragen Sie eine unter rules: in monitor.yaml "
    "ein (mit shipped, um das mitgelieferte Paket zu behalten).",
    "Entries of the last": "Einträge der letzten",
    "entries of the last": "Einträge der letzten",
    "Try": "Erproben",
    "Save": "Speichern",
    "Saved. The daemon reloads the rules.": "Gespeichert. Der Dienst lädt die Regeln neu.",
    "Not saved: fix the errors first.": "Nicht gespeichert: beheben Sie zuerst die Fehler.",
    "Errors": "Fehler",
    "line": "Zeile",
    "Now vs on record": "Jetzt gegenüber gespeichert",
    "no differences": "keine Unterschiede",
    "on record": "gespeichert",
    "now": "jetzt",
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
