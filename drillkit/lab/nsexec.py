"""Run commands and threads inside the lab's network namespaces."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError, NeedsRootError

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def require_root(action: str) -> None:
    """Raise NeedsRootError unless the process runs as root."""
    if os.geteuid() != 0:
        raise NeedsRootError(action)


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def list_namespaces() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def prefix(ns: str | None, mount_pin: str | None = None) -> list[str]:
    """Return the argv prefix that runs a command in ``ns`` (and its mount namespace pin)."""
    if ns is None:
        return []
    argv = ["nsenter", f"--net={NETNS_DIR / ns}"]
    if mount_pin:
        argv.append(f"--mount={mount_pin}")
    return argv + ["--"]


@dataclass(frozen=True)
class CommandResult:
    """Outcome of a command run in a namespace."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: list[str] | str, *, ns: str | None = None, mount_pin: str | None = None,
        timeout: float = 30.0, check: bool = False, env: dict[str, str] | None = None,
        input_text: str | None = None) -> CommandResult:
    """Run a command, in ``ns`` when given, and capture its output.

    Raises:
        LabError: with ``check``, the command failed or timed out.
    """
    if isinstance(argv, str):
        argv = ["sh", "-c", argv]
    full = prefix(ns, mount_pin) + list(argv)
    run_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=run_env,
                              input=input_text, stdin=None if input_text is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        if check:
            raise LabError(f"command timed out after {timeout:g} s in {ns or 'the host'}: {shlex.join(argv)}") from None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return CommandResult(tuple(full), 124, out, f"timed out after {timeout:g} s")
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {exc.filename}; install it (see the README's setup command)") from None
    result = CommandResult(tuple(full), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise LabError(f"command failed in {ns or 'the host'} (exit {proc.returncode}): "
                       f"{shlex.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return result


def ip(*args: str, ns: str | None = None, check: bool = True) -> CommandResult:
    """Run ``ip`` (iproute2), in ``ns`` when given."""
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    return run(argv, check=check)


def enter_thread(ns: str) -> None:
    """Move the calling thread into network namespace ``ns``.

    Sockets the thread opens afterwards belong to ``ns``. Only that thread moves,
    because setns(2) acts on the calling thread; use it in a thread started for it.
    """
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"cannot enter network namespace {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_namespace(namespace: str | None, func, timeout_s: float):
    """Run ``func`` in a new thread that entered ``namespace`` (None: stay here); return its result.

    The function's own exception is raised here. Sockets it opens belong to ``namespace``.

    Raises:
        TimeoutError: ``func`` did not return within ``timeout_s``; the thread cannot be
            stopped and ends when its own timeouts fire.
    """
    import threading

    box: dict = {}

    def target() -> None:
        try:
            if namespace is not None:
                enter_thread(namespace)
            box["result"] = func()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"in-{namespace or 'host'}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"call in {namespace or 'the host'} did not return within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def pids(ns: str) -> list[int]:
    """Return the ids of the processes whose network namespace is ``ns``."""
    result = run(["ip", "netns", "pids", ns], timeout=10)
    return [int(p) for p in result.stdout.split() if p.isdigit()]
