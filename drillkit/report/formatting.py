"""Text formatting shared by the report's sections and its timeline."""

from __future__ import annotations

import json
from typing import Any

SUMMARY_MAX_CHARS = 240


def format_seconds(value: float | None, digits: int = 3) -> str:
    """Format a duration or instant in seconds, or an em dash for None."""
    if value is None:
        return "\u2014"
    return f"{value:.{digits}f} s"


def format_signed(value: float) -> str:
    sign = "+" if value >= 0 else "\u2212"
    return f"{sign}{abs(value):.3f} s"


def shorten(text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _short_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str, separators=(",", ":"))
    return shorten(text)


def summary_fields(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (key, shortened value) pairs of the fields that have a value, for one line of text."""
    return [(key, _short_value(value)) for key, value in fields.items() if value is not None and value != ""]
