"""One exception hierarchy. Every message says what is at fault and what to do about it.

The CLI prints ``str(error)`` and exits non-zero; a traceback is only for bugs.
"""

from __future__ import annotations

from typing import Any


class MonitorError(Exception):
    """Root of every error this package raises on purpose.

    Errors cross process boundaries (a parse worker raises, the daemon reports), so each must
    survive pickling. ``Exception`` pickles as ``cls(*self.args)``, which fails for a subclass
    whose ``__init__`` takes other arguments than it passes up; ``__reduce__`` here restores
    ``args`` and the attributes instead, without calling ``__init__`` again.
    """

    exit_code = 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args), self.__dict__ or None)


class ConfigError(MonitorError, ValueError):
    """monitor.yaml (or a file it names) is invalid.

    ``location`` is ``file:line`` where known; ``key`` the dotted setting path.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint
        self.message = message
        super().__init__(self._format())

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def _format(self) -> str:
        parts = []
        if self.location:
            parts.append(f"{self.location}: ")
        if self.key:
            parts.append(f"{self.key}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f"\n  hint: {self.hint}")
        return "".join(parts)


class SettingValueError(ValueError):
    """Raised inside settings validators to point at a setting other than the one validated:
    ``loc`` is its key path in monitor.yaml. The config loader turns it into a ``ConfigError``."""

    def __init__(
        self, message: str, *, loc: tuple[str | int, ...], hint: str | None = None
    ) -> None:
        self.loc = loc
        self.hint = hint
        super().__init__(message)

    __reduce__ = MonitorError.__reduce__


class RuleError(ConfigError):
    """A watch-rule file is invalid (names file, line, rule id and key)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.rule = rule
        if rule is not None:
            key = f"rule {rule!r}" + (f" {key}" if key else "")
        super().__init__(message, file=file, line=line, key=key, hint=hint)


class FeedError(MonitorError):
    """One feed could not be fetched or parsed. Never stops the other feeds."""

    def __init__(self, url: str, message: str, *, temporary: bool = True) -> None:
        self.url = url
        self.temporary = temporary
        super().__init__(f"feed {url}: {message}")


class FetchError(FeedError):
    """Network, HTTP status, size or time limits."""

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        temporary: bool = True,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, message, temporary=temporary)


class ParseError(FeedError):
    """The body is not a feed, or no entry in it survived."""


class StorageError(MonitorError):
    """The database failed or is at an unexpected schema version."""


class SchemaVersionError(StorageError):
    exit_code = 2


class DatabaseUnavailableError(StorageError):
    """The configured database does not exist or its server cannot be reached at start: a
    configuration problem (exit 2), not a crash."""

    exit_code = 2


class AlreadyRunningError(StorageError):
    """Another monitor already runs on this SQLite database (names its pid, host and start):
    refused at start with exit 2, before anything is read or written."""

    exit_code = 2


class DeliveryError(MonitorError):
    """A channel did not accept a message. ``temporary`` says whether to retry."""

    def __init__(
        self,
        channel: str,
        message: str,
        *,
        temporary: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.channel = channel
        self.temporary = temporary
        self.retry_after = retry_after
        super().__init__(f"channel {channel}: {message}")


class TemplateError(MonitorError):
    """A user or shipped template failed to load or render."""


def _restore(cls: type[MonitorError], args: tuple[Any, ...]) -> MonitorError:
    error = cls.__new__(cls, *args)
    error.args = args
    return error
