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

from monitor.errors import ConfigError

Loc = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass(frozen=True)
class YamlDocument:
    """Plain data plus a map from each location (key path) to its 1-based line."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, else of its nearest enclosing key that has one."""
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]


def load_yaml(
    path: Path, *, env: Mapping[str, str] | None = None, error: type[ConfigError] = ConfigError
) -> YamlDocument:
    """Parse ``path``. With ``env``, expand ``${NAME}`` references in string values from it."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", file=name, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read file: {exc}", file=name) from None
    return parse_yaml(text, name=name, env=env, error=error)


def parse_yaml(
    text: str,
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    error: type[ConfigError] = ConfigError,
) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = _Walker(loader, name, env, lines, error).walk(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        raise error(
            f"invalid YAML: {problem}",
            file=name,
            line=line,
            hint="check indentation and quoting around this line",
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=name) from None
    finally:
        loader.dispose()
    return YamlDocument(path=name, data=data, lines=lines)


class _Walker:
    def __init__(
        self,
        loader: yaml.SafeLoader,
        name: str,
        env: Mapping[str, str] | None,
        lines: dict[Loc, int],
        error: type[ConfigError],
    ) -> None:
        self.loader = loader
        self.name = name
        self.env = env
        self.lines = lines
        self.error = error

    def walk(self, node: Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<:` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
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
        if isinstance(node, SequenceNode):
            return [self.walk(item, (*loc, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        value = self.loader.construct_object(node)
        if isinstance(value, str) and self.env is not None and "${" in value:
            value = self._expand(value, loc, node.start_mark.line + 1)
        return value

    def _expand(self, value: str, loc: Loc, line: int) -> str:
        env = self.env
        assert env is not None

        def repl(m: re.Match[str]) -> str:
            if m.group(1):  # $${...} is an escaped literal
                return m.group(0)[1:]
            var, default = m.group(2), m.group(3)
            if var in env and env[var] != "":
                return env[var]
            if default is not None:
                return default
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
