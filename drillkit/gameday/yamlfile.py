"""Read the YAML files of game days and schedules with ``yamldoc``, naming the line of an impossible date."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

from .. import yamldoc
from ..errors import ConfigError

# An unquoted YAML timestamp: a date, optionally followed by a time.
_TIMESTAMP = re.compile(r"(?<![\w\"'])(\d{4}-\d{1,2}-\d{1,2})(?:[Tt ]+\d{1,2}:\d\d(?::\d\d(?:\.\d*)?)?)?")


def load_yaml(path: str | Path, *, error: type[ConfigError], what: str, text: str | None = None) -> Any:
    """Load one YAML document like ``yamldoc.load``.

    PyYAML turns an unquoted timestamp such as 2026-13-01 into a date and raises
    a bare ValueError when the date does not exist. This reports it as ``error``
    with the line of the first impossible date instead.
    """
    try:
        return yamldoc.load(path, error=error, text=text, what=what)
    except ValueError as exc:
        source = text if text is not None else Path(path).read_text(encoding="utf-8")
        for number, line in enumerate(source.splitlines(), start=1):
            code = line.split("#", 1)[0]
            for match in _TIMESTAMP.finditer(code):
                try:
                    _dt.date.fromisoformat(match.group(1))
                except ValueError:
                    raise error(f"invalid date {match.group(1)!r}: {exc}", path=str(path), line=number,
                                fix="write an existing date as YYYY-MM-DD") from None
        raise error(f"invalid value: {exc}", path=str(path)) from None
