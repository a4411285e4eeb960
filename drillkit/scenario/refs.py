"""Variable and secret references in scenario strings.

``${var:NAME}`` takes a value from the scenario's ``vars``; ``${env:NAME}`` from the
environment; ``${file:PATH}`` from a file (relative to the scenario), stripped of
its trailing newline. Values read from the environment or files count as secrets:
the journal, reports and logs mask them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_REF = re.compile(r"\$\{(var|env|file):([^}]*)\}")


class RefError(ValueError):
    """A reference cannot be resolved; the message says which and how to fix it."""


def resolve(text: str, *, variables: dict[str, str], base: Path, secrets: set[str]) -> str:
    """Replace every reference in ``text``; add secret values to ``secrets``."""

    def replace(match: re.Match[str]) -> str:
        source, name = match.group(1), match.group(2).strip()
        if not name:
            raise RefError(f"empty reference {match.group(0)!r}; write ${{{source}:NAME}}")
        if source == "var":
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none defined"
                raise RefError(f"unknown variable {name!r} (vars: {known}); add it under vars:")
            return variables[name]
        if source == "env":
            if name not in os.environ:
                raise RefError(f"environment variable {name} is not set; export it before the run")
            value = os.environ[name]
        else:
            value = _read_secret_file(base, name)
        if value:
            secrets.add(value)
        return value

    return _REF.sub(replace, text)


def _read_secret_file(base: Path, name: str) -> str:
    """Return the text of the secret file ``name`` (relative to ``base``) without its trailing newline."""
    try:
        path = (base / name).expanduser()
        # A regular file only: reading a FIFO or a device such as /dev/stdin could block the load.
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    except OSError as exc:
        raise RefError(f"cannot read secret file {name!r}: {exc.strerror}") from None
    except (ValueError, RuntimeError) as exc:
        # A NUL character in the name or text that is not UTF-8 raises ValueError, and
        # expanduser() raises RuntimeError when ~user has no home directory.
        raise RefError(f"cannot read secret file {name!r}: {exc}") from None
    if text is None:
        raise RefError(f"secret file {str(path)!r} not found or not a regular file; "
                       "paths are relative to the scenario file")
    return text.rstrip("\n")


def mask(text: str, secrets: set[str] | frozenset[str]) -> str:
    """Replace every secret value in ``text`` by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
