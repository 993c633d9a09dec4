"""Read a YAML file into plain Python data while remembering the line of every key and item.

Used by the config loader and the rule loader so that every error can name ``file:line``.
``${NAME}`` / ``${NAME:-default}`` references in string values are expanded from the environment
when asked (secrets never need to be written into the file); ``$${`` stays a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from monitor.errors import ConfigError

Loc = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|KEY|AUTH|CREDENTIAL|WEBHOOK", re.I)
"""A ``${NAME}`` whose name matches is a secret: its value is hidden in every message."""


@dataclass(frozen=True)
class YamlDocument:
    """Plain data plus a map from each location (key path) to its 1-based line."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    """Values of secret ``${ENV}`` references (see ``SECRET_ENV_NAME``), to hide in messages."""

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, else of its nearest enclosing key that has one."""
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]


MAX_NODES = 100_000
"""Values (after alias expansion) one document may hold; a config or rule pack has a few thousand.
Bounds "billion laughs" documents whose aliases expand exponentially before validation."""


def load_yaml(
    path: Path, *, env: Mapping[str, str] | None = None, error: type[ConfigError] = ConfigError
) -> YamlDocument:
    """Parse ``path``. With ``env``, expand ``${NAME}`` references in string values from it."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error("file not found", file=name, hint="check the path") from None
    except IsADirectoryError:
        raise error("is a directory, expected a YAML file", file=name) from None
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror or exc}", file=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            file=name,
            line=line,
            hint="save the file as UTF-8 text; is this the right file?",
        ) from None
    return parse_yaml(text, name=name, env=env, error=error)


def parse_yaml(
    text: str,
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    error: type[ConfigError] = ConfigError,
    max_nodes: int = MAX_NODES,
) -> YamlDocument:
    if _FAST_LOADER is not None and not _NOT_FOR_LIBYAML.search(text):
        # libyaml composes the same nodes with the same marks ~8x faster (the shipped pack:
        # ~45 ms less at every start). Anything it finds wrong is read again by the Python
        # parser below, whose messages are the ones users get.
        try:
            return _parse(text, name, env, error, max_nodes, _FAST_LOADER)
        except (yaml.YAMLError, RecursionError):
            pass
    lines: dict[Loc, int] = {}
    loader: yaml.SafeLoader | None = None
    walker = _Walker(None, name, env, lines, error, max_nodes)
    try:
        loader = walker.loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = walker.walk(node, ()) if node is not None else None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character
        what = "a NUL byte" if char == 0 else f"the control character #x{char:04x}"
        raise error(
            f"invalid YAML: {what} is not allowed in a YAML file",
            file=name,
            line=line,
            hint="remove it; is this a text file?",
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, name, error) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=name) from None
    except RecursionError:
        raise error(
            "invalid YAML: nested too deeply", file=name, hint="is this the right file?"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(path=name, data=data, lines=lines, secrets=tuple(walker.secrets))


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)
"""PyYAML's libyaml binding, where it was built with it (the PyPI wheels are)."""
_NOT_FOR_LIBYAML: re.Pattern[str] = yaml.reader.Reader.NON_PRINTABLE
"""What PyYAML's own reader refuses (``yaml.reader.Reader.NON_PRINTABLE``) and libyaml may not:
such a text goes to the Python parser, which names the character and its line."""


def _parse(
    text: str,
    name: str,
    env: Mapping[str, str] | None,
    error: type[ConfigError],
    max_nodes: int,
    loader_class: Any,
) -> YamlDocument:
    lines: dict[Loc, int] = {}
    walker = _Walker(None, name, env, lines, error, max_nodes)
    loader = walker.loader = loader_class(text)
    try:
        node = loader.get_single_node()
        data = walker.walk(node, ()) if node is not None else None
    finally:
        loader.dispose()
    return YamlDocument(path=name, data=data, lines=lines, secrets=tuple(walker.secrets))


def _syntax_error(exc: yaml.MarkedYAMLError, name: str, error: type[ConfigError]) -> ConfigError:
    """Point at the line where the trouble started where that is what a reader needs."""
    problem = (exc.problem or "invalid YAML").replace("found unexpected end of stream", "")
    problem = problem or "the file ended"
    context = exc.context or ""
    at = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    start = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if "quoted scalar" in context and start is not None:
        quote = "a quoted string"
        buffer = exc.context_mark.buffer if exc.context_mark is not None else None
        if exc.context_mark is not None and buffer:
            quote = f"the {buffer[exc.context_mark.pointer]} quote opened here"
        where = f" (at line {at})" if at is not None and at != start else ""
        return error(
            f"invalid YAML: {quote} is never closed; {problem.strip() or 'the file ended'}{where}",
            file=name,
            line=start,
            hint="close the quote on this line, or escape a quote inside the text",
        )
    detail = f"invalid YAML: {problem}"
    if context and start is not None and start != at:
        detail += f" ({context} that started at line {start})"
    return error(
        detail,
        file=name,
        line=at if at is not None else start,
        hint="check indentation and quoting around this line",
    )


class _Walker:
    def __init__(
        self,
        loader: yaml.SafeLoader | None,
        name: str,
        env: Mapping[str, str] | None,
        lines: dict[Loc, int],
        error: type[ConfigError],
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.loader: Any = loader
        self.name = name
        self.secrets: list[str] = []
        self.env = env
        self.lines = lines
        self.error = error
        self.budget = max_nodes
        self.max_nodes = max_nodes
        self.active: set[int] = set()  # nodes being walked: an alias back to one is a cycle

    def walk(self, node: Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(loc, line)
        self.budget -= 1
        if self.budget < 0:
            at = self._written_at(loc)
            raise self.error(
                f"the document expands to more than {self.max_nodes:,} values "
                "(aliases that repeat aliases)",
                file=self.name,
                line=self.lines.get(at, line),
                key=_dotted(at) or None,
                hint="write the values out, or use fewer nested `*alias` references",
            )
        if isinstance(node, MappingNode | SequenceNode):
            if id(node) in self.active:
                raise self.error(
                    "an alias refers to the value that contains it (a loop)",
                    file=self.name,
                    line=line,
                    key=_dotted(loc) or None,
                    hint="an `*alias` may only refer to a value defined before and outside it",
                )
            self.active.add(id(node))
            try:
                return self._walk_collection(node, loc)
            finally:
                self.active.discard(id(node))
        assert isinstance(node, ScalarNode)
        try:
            value = self.loader.construct_object(node)
        except (ValueError, OverflowError) as exc:  # e.g. a date such as 2024-13-45
            raise self.error(
                f"cannot read the value {node.value!r}: {exc}",
                file=self.name,
                line=line,
                key=_dotted(loc) or None,
                hint="put the value in quotes to keep it as text",
            ) from None
        if isinstance(value, str) and self.env is not None and "${" in value:
            value = self._expand(value, loc, line)
        return value

    def _written_at(self, loc: Loc) -> Loc:
        """The outermost part of ``loc`` that is written where it is (not reached by an alias):
        along a path as written, lines never go back; an alias jumps back to its anchor."""
        last = 0
        for n in range(len(loc) + 1):
            line = self.lines.get(loc[:n], last)
            if line < last:
                return loc[: n - 1]
            last = line
        return loc

    def _walk_collection(self, node: MappingNode | SequenceNode, loc: Loc) -> Any:
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<:` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise self.error(
                        "keys must be plain scalars",
                        file=self.name,
                        line=key_node.start_mark.line + 1,
                    )
                try:
                    key = self.loader.construct_object(key_node)
                except (ValueError, OverflowError):
                    key = key_node.value
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise self.error(
                        "keys must be plain scalars",
                        file=self.name,
                        line=key_node.start_mark.line + 1,
                    )
                if key in out:
                    raise self.error(
                        f"duplicate key {key!r}",
                        file=self.name,
                        line=key_node.start_mark.line + 1,
                        key=_dotted((*loc, str(key))),
                        hint="a later value would silently replace the earlier one; keep one",
                    )
                child: Loc = (*loc, str(key))
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, child)
            return out
        return [self.walk(item, (*loc, i)) for i, item in enumerate(node.value)]

    def _expand(self, value: str, loc: Loc, line: int) -> str:
        env = self.env
        assert env is not None

        def repl(m: re.Match[str]) -> str:
            if m.group(1):  # $${...} is an escaped literal
                return m.group(0)[1:]
            var, default = m.group(2), m.group(3)
            if var in env and env[var] != "":
                value = env[var]
            elif default is not None:
                value = default
            else:
                value = None
            if value is not None:
                if SECRET_ENV_NAME.search(var):
                    self.secrets.append(value)
                return value
            raise self.error(
                f"environment variable {var} is not set",
                file=self.name,
                line=line,
                key=_dotted(loc),
                hint=f"export {var}=... before starting the monitor, or write ${{{var}:-default}}",
            )

        return _ENV_REF.sub(repl, value)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


dotted = _dotted
