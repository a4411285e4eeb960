"""Console sessions over the OOB path: transports, prompt finding, expect, transcripts.

Layers, as in the field's libraries: a transport moves bytes (SSH to the console
server, pyserial for RFC 2217, raw TCP and local serial devices); a
``ConsoleSession`` finds prompts, strips ANSI escape codes, sends lines and waits
for patterns, and keeps a transcript with secrets masked. netmiko sessions use
netmiko's own channel (``terminal_server`` then ``redispatch``).

Every session is opened from a thread that entered the OOB jail namespace, so the
console server is reached over the management network only.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..errors import OobError
from ..lab import nsexec
from ..lab.console import ADMIN_PORT, ConsolePlan
from ..scenario.refs import mask

log = logging.getLogger(__name__)

#: CSI and other escape sequences a console may emit (colours, bracketed paste, cursor moves).
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\x1b[=>78]")
DEFAULT_PROMPT = r"[#>$%]\s*$"
LINE_BUSY = re.compile(r"already in use|port in use|line busy", re.IGNORECASE)
TRANSPORTS = ("ssh", "rfc2217", "telnet", "serial", "netmiko")


#: The start of an escape sequence whose remaining bytes have not arrived yet.
PARTIAL_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*|\][^\x07]{0,256}|[()])?")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences and carriage returns a console adds."""
    return ANSI_ESCAPE.sub("", text).replace("\r", "")


def split_partial_escape(text: str) -> tuple[str, str]:
    """Split ``text`` into what can be stripped now and a trailing escape sequence cut off by a read."""
    start = text.rfind("\x1b")
    if start != -1 and PARTIAL_ESCAPE.fullmatch(text, start):
        return text[:start], text[start:]
    return text, ""


class Transport(Protocol):
    """Moves bytes to and from a console line."""

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """Return what arrives within ``timeout_s`` (may be empty)."""

    def close(self) -> None: ...


def in_namespace(namespace: str | None, func: Callable[[], Any], timeout_s: float) -> Any:
    """Run ``func`` in a new thread that entered ``namespace``; return its result or raise its error.

    Raises:
        OobError: ``func`` did not finish within ``timeout_s``.
    """
    try:
        return nsexec.call_in_namespace(namespace, func, timeout_s)
    except TimeoutError:
        raise OobError(f"console session did not finish within {timeout_s:g} s") from None


class SshConsoleTransport:
    """SSH to the console server as the line's user (paramiko), as with ``ssh core@consrv``."""

    def __init__(self, host: str, user: str, *, password: str | None = None, key_file: str | None = None,
                 command: str | None = None, timeout_s: float = 10.0, port: int = 22) -> None:
        import paramiko

        self.client = paramiko.SSHClient()
        # The console server's host key changes with every lab up. The key is accepted
        # on first use because the OOB network belongs to the lab.
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
            # Without TCP_NODELAY the SSH handshake waits on Nagle's algorithm (about 40 ms a round).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.client.connect(host, port=port, username=user, password=password, key_filename=key_file,
                                look_for_keys=False, allow_agent=False, timeout=timeout_s,
                                banner_timeout=timeout_s, auth_timeout=timeout_s, sock=sock)
        except (paramiko.SSHException, OSError) as exc:
            raise OobError(f"cannot log in to console server {host} as {user}: {exc}") from None
        self.channel = self.client.invoke_shell(term="vt100", width=200, height=50) if command is None \
            else self._exec(command)

    def _exec(self, command: str):
        transport = self.client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        channel.get_pty(term="vt100", width=200, height=50)
        channel.exec_command(command)
        return channel

    def write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def read(self, timeout_s: float) -> bytes:
        self.channel.settimeout(timeout_s)
        try:
            return self.channel.recv(65536)
        except socket.timeout:
            return b""

    def close(self) -> None:
        self.client.close()


class SerialTransport:
    """pyserial: ``rfc2217://host:port``, ``socket://host:port`` or a local device such as /dev/ttyUSB0."""

    def __init__(self, url: str, *, baudrate: int = 115200, timeout_s: float = 10.0) -> None:
        import serial

        if url.startswith("rfc2217://") and "ign_set_control" not in url:
            # A pty behind ser2net cannot set modem lines; pyserial waits for them otherwise.
            url += ("&" if "?" in url else "?") + "ign_set_control"
        # pyserial's RFC 2217 client (3.5) raises NotImplementedError for any write_timeout.
        write_timeout = None if url.startswith("rfc2217://") else timeout_s
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.1, write_timeout=write_timeout,
                                              do_not_open=False)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise OobError(f"cannot open console {url}: {exc}") from None

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read(self, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        data = b""
        while time.monotonic() < deadline:
            chunk = self.port.read(4096)
            if chunk:
                data += chunk
                if not self.port.in_waiting:
                    break
        return data

    def close(self) -> None:
        self.port.close()


@dataclass
class TranscriptLine:
    t: float
    direction: str  # "sent" or "received"
    text: str


@dataclass
class ConsoleSession:
    """Prompt finding, send and expect over a transport, with a masked transcript.

    Args:
        transport: the byte mover.
        node: node name, for messages.
        prompt: regular expression of the node's prompt at the end of the output.
        secrets: values masked in the transcript.
    """

    transport: Transport
    node: str
    prompt: str = DEFAULT_PROMPT
    secrets: frozenset[str] = frozenset()
    transcript: list[TranscriptLine] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    buffer: str = ""
    pending: str = ""

    def _log(self, direction: str, text: str) -> None:
        if text:
            self.transcript.append(TranscriptLine(round(time.monotonic() - self.started, 3), direction,
                                                  mask(text, self.secrets)))
            log.debug("console %s %s: %r", self.node, direction, mask(text, self.secrets))

    def send(self, line: str, *, hide: bool = False) -> None:
        """Send one line followed by Enter (a carriage return, as a terminal does)."""
        self.transport.write(line.encode() + b"\r")
        self._log("sent", "********" if hide else line)

    def expect(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """Read until ``pattern`` matches the output since the last match.

        Slow links deliver output in pieces; reading goes on until the pattern
        matches or ``timeout_s`` passes.

        Raises:
            OobError: the pattern did not appear in time, or the line is held by another session.
        """
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout_s
        while True:
            match = regex.search(self.buffer)
            if match:
                self.buffer = self.buffer[match.end():]
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = self.buffer[-200:]
                raise OobError(f"console {self.node}: {pattern!r} not seen within {timeout_s:g} s; "
                               f"last output: {tail!r}")
            chunk = self.transport.read(min(remaining, 0.5))
            if chunk:
                # ser2net may split an escape sequence across reads; keep its start until the rest arrives.
                text, self.pending = split_partial_escape(self.pending + chunk.decode("utf-8", errors="replace"))
                text = strip_ansi(text)
                self._log("received", text)
                self.buffer += text
                if LINE_BUSY.search(self.buffer):
                    raise LineBusy(f"console {self.node}: the line is held by another session "
                                   f"({self.buffer.strip()[-120:]!r})")

    def wake(self, *, presses: int = 4, wait_s: float = 1.5) -> None:
        """Press Enter until the prompt shows: a console may print nothing until it gets input."""
        for attempt in range(presses):
            self.transport.write(b"\r")
            self._log("sent", "<Enter>")
            try:
                self.expect(self.prompt, wait_s)
                self.buffer = ""
                return
            except LineBusy:
                raise
            except OobError:
                log.debug("console %s: no prompt after Enter press %d", self.node, attempt + 1)
        raise OobError(f"console {self.node}: no prompt matching {self.prompt!r} after {presses} Enter presses")

    def run(self, command: str, *, expect: str | None = None, timeout_s: float = 10.0) -> str:
        """Send a command and return its output up to ``expect`` (default: the prompt)."""
        self.buffer = ""
        self.send(command)
        match = self.expect(expect or self.prompt, timeout_s)
        return match.string[:match.start()]

    def transcript_text(self) -> str:
        return "".join(line.text if line.direction == "received" else "" for line in self.transcript)

    def close(self) -> None:
        self.transport.close()


class LineBusy(OobError):
    """The console line is held by another session."""


def clear_line(plan: ConsolePlan, node: str) -> str:
    """Disconnect whoever holds ``node``'s console line, through ser2net's admin port.

    This is the console server's "clear line" (``disconnect`` in ser2net's admin
    interface); the caller records that it kicked a session.
    """
    def talk() -> str:
        with socket.create_connection(("127.0.0.1", ADMIN_PORT), timeout=5) as sock:
            sock.settimeout(1)
            output = b""
            for suffix in ("raw", "telnet", "rfc2217"):
                sock.sendall(f"disconnect {node}-{suffix}\r\n".encode())
                time.sleep(0.1)
                try:
                    output += sock.recv(4096)
                except socket.timeout:
                    pass
            return output.decode(errors="replace")

    return in_namespace(plan.namespace, talk, 15)
