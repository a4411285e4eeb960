"""YAML documents that remember where each value came from.

The loaders of scenarios, topologies and testbeds read YAML through ``load`` and
walk it with ``Field``, so that every error can name the file, the line, the
dotted field path, the value found and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import yaml

from .clock import parse_duration
from .errors import ConfigError


class YMap(dict):
    """A mapping with the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class YList(list):
    """A sequence with the line of itself and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Record the keys written in the mapping itself before the merge keys (<<) are
        # expanded. Only those must be unique, because keys merged in may be overridden.
        if not hasattr(node, "own_key_ids"):
            node.own_key_ids = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
        super().flatten_mapping(node)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    result = YMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    own_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.MarkedYAMLError(
                problem=f"a mapping key must be a plain value, found {type(key).__name__}",
                problem_mark=key_node.start_mark,
            )
        if isinstance(key, (int, float, bool)):
            key = str(key).lower() if isinstance(key, bool) else str(key)
        line = key_node.start_mark.line + 1
        if id(key_node) in node.own_key_ids:
            if key in own_lines:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r} (first on line {own_lines[key]})",
                    problem_mark=key_node.start_mark,
                )
            own_lines[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
    result = YList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load(
    source: str | Path,
    *,
    error: type[ConfigError] = ConfigError,
    text: str | None = None,
    what: str = "document",
) -> Any:
    """Read one YAML document with line information.

    Args:
        source: path of the file; also used in error messages when ``text`` is given.
        error: the ConfigError subclass to raise.
        text: the document's text, when it is not read from ``source``.
        what: what the document is, for messages ("scenario", "topology").

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or empty.
    """
    path = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error(f"{what} file not found", path=path, fix="check the path") from None
        except IsADirectoryError:
            raise error(f"expected a {what} file, found a directory", path=path,
                        fix=f"name the {what} file inside it") from None
        except (OSError, ValueError) as exc:
            # ValueError covers undecodable bytes and a NUL character in the path.
            raise error(f"cannot read the {what} file: {exc}", path=path) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise error(f"invalid YAML: {problem}", path=path, line=line,
                    fix="fix the YAML syntax at that line") from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        raise error("invalid YAML: nesting is too deep", path=path) from None
    if data is None:
        raise error(f"the {what} file is empty", path=path, fix=f"write a {what} mapping")
    return data


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping"}


class Field:
    """A value in a loaded document, with its origin, for validation with clear errors.

    Args:
        value: the value.
        path: the file it came from.
        field: dotted field path, empty for the root.
        line: 1-based line.
        error: ConfigError subclass raised on invalid values.
    """

    def __init__(self, value: Any, path: str, field: str = "", line: int | None = None,
                 error: type[ConfigError] = ConfigError) -> None:
        self.value = value
        self.path = path
        self.field = field
        self.line = line if line is not None else getattr(value, "line", None)
        self.error = error

    def fail(self, problem: str, fix: str | None = None, *, show_value: bool = True) -> ConfigError:
        """Build the error for this field (the caller raises it)."""
        value = self.value if show_value and not isinstance(self.value, (dict, list)) else None
        return self.error(problem, path=self.path, line=self.line, field=self.field or None,
                          value=value, fix=fix)

    def _child_name(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.field}[{key}]"
        return f"{self.field}.{key}" if self.field else str(key)

    # -- containers -------------------------------------------------------

    def mapping(self) -> Field:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected a mapping, found {_kind(self.value)}",
                            "write key: value pairs here")
        return self

    def items(self) -> Iterator[tuple[str, Field]]:
        self.mapping()
        for key in self.value:
            yield key, self[key]

    def sequence(self) -> list[Field]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, found {_kind(self.value)}", "write a YAML list (- item)")
        lines = getattr(self.value, "item_lines", [self.line] * len(self.value))
        return [Field(v, self.path, self._child_name(i), lines[i], self.error)
                for i, v in enumerate(self.value)]

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value and self.value[key] is not None

    def __getitem__(self, key: str) -> Field:
        self.mapping()
        line = getattr(self.value, "key_lines", {}).get(key, self.line)
        return Field(self.value.get(key), self.path, self._child_name(key), line, self.error)

    def require(self, key: str, hint: str | None = None) -> Field:
        self.mapping()
        if key not in self.value or self.value[key] is None:
            where = f"{self.field}: " if self.field else ""
            raise self.error(f"{where}missing required field {key!r}", path=self.path, line=self.line,
                             fix=hint or f"add {key}: to this mapping")
        return self[key]

    def check_keys(self, allowed: set[str] | list[str], *, warn: Callable[[str], None] | None = None) -> None:
        """Reject (or, with ``warn``, report) keys outside ``allowed``, suggesting a close match."""
        self.mapping()
        for key in self.value:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid fields: {', '.join(sorted(allowed))}"
            child = self[key]
            if warn is not None:
                warn(f"{self.path}:{child.line}: {child.field}: unknown field ignored; {hint}")
                continue
            raise self.error(f"unknown field {key!r}", path=self.path, line=child.line,
                             field=child.field, fix=hint)

    # -- scalars ----------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self.value.get(key, default) if isinstance(self.value, dict) else default

    def str(self, *, choices: list[str] | tuple[str, ...] | None = None, allow_empty: bool = False) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise self.fail(f"expected a string, found {_kind(self.value)}")
        text = str(self.value)
        if not allow_empty and not text.strip():
            raise self.fail("must not be empty")
        if choices is not None and text not in choices:
            close = difflib.get_close_matches(text, list(choices), n=1)
            fix = f"did you mean {close[0]!r}? " if close else ""
            raise self.fail("invalid value", f"{fix}valid values: {', '.join(choices)}")
        return text

    def int(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail(f"expected an integer, found {_kind(self.value)}")
        if minimum is not None and maximum is not None:
            fix = f"use a whole number from {minimum} to {maximum}"
        elif minimum is not None:
            fix = f"use a whole number of at least {minimum}"
        else:
            fix = f"use a whole number of at most {maximum}"
        if minimum is not None and self.value < minimum:
            raise self.fail(f"must be at least {minimum}", fix)
        if maximum is not None and self.value > maximum:
            raise self.fail(f"must be at most {maximum}", fix)
        return self.value

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, found {_kind(self.value)}")
        return self.value

    def duration(self, *, minimum: float = 0.0, allow_zero: bool = True) -> float:
        try:
            seconds = parse_duration(self.value)
        except ValueError as exc:
            raise self.fail(str(exc), "write a duration such as 500ms, 2s or 1m30s") from None
        if seconds < minimum or (not allow_zero and seconds == 0):
            fix = (f"write a duration of at least {minimum:g}s, such as 500ms or 2s" if minimum > 0 else
                   "write a duration above zero, such as 500ms or 2s")
            raise self.fail(f"must be more than {minimum:g} s" if not allow_zero else
                            f"must be at least {minimum:g} s", fix)
        return seconds

    def str_list(self) -> list[str]:
        if isinstance(self.value, str):
            return [self.value]
        return [item.str() for item in self.sequence()]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    for typ, name in _TYPE_NAMES.items():
        if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
            return name
    return type(value).__name__
