"""The ``toxiproxy`` fault kind: a toxic on a Toxiproxy proxy, or the proxy taken down.

Toxiproxy (https://github.com/Shopify/toxiproxy) sits on a TCP path, such as
the one from an inference host to its model feed, and degrades it on request
through its HTTP API. The fault adds one toxic named ``drillkit_<fault>`` and
restore deletes it; ``toxic: down`` sets the proxy's ``enabled`` to false and
restore sets it back. Each fault names its own server, so one drill may use
several.

The API is called with the toxiproxy-python client (``toxiproxy.api.APIConsumer``
and its response checks). The calls run in a thread that entered the namespace
named by the fault's ``from``: a lab node, ``jail`` (the OOB jail) or ``mgmt``.
Without ``from``, they run in drillkit's own namespace. Every call is bounded in
time, so a drill never hangs on an API that does not respond.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, ClassVar
from urllib.parse import quote, urlsplit

from ..errors import FaultError, LabError
from ..lab import nsexec

log = logging.getLogger(__name__)

#: Toxic types and their attributes with units, as Toxiproxy 2.x documents them.
#: ``down`` is no toxic in Toxiproxy: it disables the proxy.
TOXIC_ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "milliseconds", "jitter": "milliseconds"},
    "bandwidth": {"rate": "KB/s"},
    "slow_close": {"delay": "milliseconds"},
    "timeout": {"timeout": "milliseconds, 0 keeps the connection open"},
    "reset_peer": {"timeout": "milliseconds"},
    "slicer": {"average_size": "bytes", "size_variation": "bytes", "delay": "microseconds"},
    "limit_data": {"bytes": "bytes"},
    "down": {},
}
TOXIC_TYPES = tuple(TOXIC_ATTRIBUTES)
REQUIRED_ATTRIBUTES = {"latency": ("latency",), "bandwidth": ("rate",), "slicer": ("average_size",),
                       "limit_data": ("bytes",)}
STREAMS = ("downstream", "upstream")
DEFAULT_API_TIMEOUT_S = 3.0
DEFAULT_PORT = 8474
#: Proxy settings that keep requests from sending API calls to an HTTP proxy named in the environment.
NO_PROXIES = {"http": None, "https": None, "all": None}
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def parse_server(url: str) -> tuple[str, int]:
    """Return the host (IPv6 in brackets) and port of a Toxiproxy API URL.

    Raises:
        ValueError: the URL is not ``http://HOST[:PORT]``.
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("the Toxiproxy API is plain HTTP; write http://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("write only http://HOST:PORT, without a path")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("invalid port; write http://HOST:PORT") from None
    if not parts.hostname:
        raise ValueError("the host is missing; write http://HOST:PORT")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, port


def toxic_name(fault: str) -> str:
    """Return the name of the toxic a fault adds, so restore deletes only its own."""
    return "drillkit_" + re.sub(r"[^A-Za-z0-9_]", "_", fault)


class _CallHung(Exception):
    pass


def _call_in_namespace(namespace: str | None, func: Callable[[], Any], limit_s: float) -> Any:
    """Run ``func`` in a thread that entered ``namespace`` (None: this one); return its result or raise its error.

    Raises:
        _CallHung: the call did not return within ``limit_s``.
    """
    try:
        return nsexec.call_in_namespace(namespace, func, limit_s)
    except TimeoutError:
        raise _CallHung() from None


class ToxiproxyFault:
    """Add a toxic to a Toxiproxy proxy (or disable the proxy); restore removes it.

    Args:
        name: the fault's name; the toxic is named ``drillkit_<name>``.
        server: the API's URL, ``http://HOST:PORT``.
        proxy: the proxy's name on that server.
        toxic: a type of ``TOXIC_TYPES``.
        attributes: the toxic's attributes (see ``TOXIC_ATTRIBUTES`` for units).
        stream: ``downstream`` (server to client) or ``upstream`` (client to server).
        toxicity: the share of connections the toxic acts on, from 0 to 1.
        namespace: the network namespace the API is called from; None for drillkit's own.
        vantage: what ``namespace`` is, for messages (a node name, ``jail`` or ``mgmt``).
        api_timeout_s: the limit of each connect and each read of an API call.
        was_enabled: for ``down``, whether the proxy was enabled before inject (read by prepare).
    """

    kind: ClassVar[str] = "toxiproxy"

    def __init__(self, name: str, server: str, proxy: str, toxic: str, *,
                 attributes: dict[str, int] | None = None, stream: str = "downstream", toxicity: float = 1.0,
                 namespace: str | None = None, vantage: str | None = None,
                 api_timeout_s: float = DEFAULT_API_TIMEOUT_S, was_enabled: bool | None = None) -> None:
        self.name = name
        self.server = server.rstrip("/")
        self.proxy = proxy
        self.toxic = toxic
        self.attributes = dict(attributes or {})
        self.stream = stream
        self.toxicity = toxicity
        self.namespace = namespace
        self.vantage = vantage
        self.api_timeout_s = api_timeout_s
        self.was_enabled = was_enabled
        self.toxic_name = toxic_name(name)

    # -- describing --------------------------------------------------------

    def _where(self) -> str:
        if self.vantage is None:
            return "drillkit's host"
        if self.vantage == "jail":
            return f"the OOB jail ({self.namespace})"
        if self.vantage == "mgmt":
            return f"the OOB network's namespace ({self.namespace})"
        return f"node {self.vantage} ({self.namespace})"

    def describe(self) -> str:
        if self.toxic == "down":
            what = f"take down Toxiproxy proxy {self.proxy}"
        else:
            attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
            share = f", toxicity {self.toxicity:g}" if self.toxicity < 1 else ""
            what = f"{self.toxic} toxic ({attrs or 'defaults'}{share}) on the {self.stream} of Toxiproxy proxy {self.proxy}"
        return f"{what} at {self.server}, API called from {self._where()}"

    # -- API calls ---------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/" + "/".join(quote(p, safe="") for p in parts)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the API through toxiproxy-python's APIConsumer, bounded in time.

        Returns:
            The ``requests`` response of a successful call.

        Raises:
            toxiproxy.exceptions.NotFound, ProxyExists, InvalidToxic: the server responded with 404, 409 or 400.
            FaultError: the API is unreachable, did not respond in time, or returned another error.
        """
        self._check_client()
        import requests
        from toxiproxy.api import APIConsumer

        try:
            host, port = parse_server(self.server)
        except ValueError as exc:
            raise FaultError(f"invalid Toxiproxy server {self.server!r}: {exc}", fault=self.name) from None
        # APIConsumer keeps the server in class attributes, so a subclass per call keeps
        # several servers apart. Its get/post/delete pass the timeout on to requests.
        consumer = type("DrillkitAPIConsumer", (APIConsumer,), {"host": host, "port": port})
        limit = self.api_timeout_s
        options = {"timeout": (limit, limit), "proxies": dict(NO_PROXIES)}

        def call() -> Any:
            if method == "GET":
                return consumer.get(path, **options)
            if method == "POST":
                return consumer.post(path, json=body, **options)
            return consumer.delete(path, **options)

        action = f"{method} {path}"
        try:
            # Connect and read each take at most ``limit``; the extra second covers the rest.
            response = _call_in_namespace(self.namespace, call, 2 * limit + 1)
        except _CallHung:
            raise self._unreachable(action, f"no response within {2 * limit + 1:g} s") from None
        except requests.exceptions.ConnectTimeout:
            raise self._unreachable(action, f"no connection within {limit:g} s") from None
        except requests.exceptions.ReadTimeout:
            raise self._unreachable(action, f"connected, but no response within {limit:g} s") from None
        except requests.exceptions.RequestException as exc:
            found = _ERRNO.search(str(exc))
            raise self._unreachable(action, found.group(0) if found else type(exc).__name__) from None
        except LabError as exc:
            raise FaultError(f"cannot call the Toxiproxy API from {self._where()}: {exc}", fault=self.name) from None
        if response.status_code >= 400:
            raise FaultError(f"the Toxiproxy server at {self.server} returned HTTP {response.status_code} "
                             f"for {action}: {_message(response.content)}", fault=self.name)
        return response

    def _check_client(self) -> None:
        try:
            import requests  # noqa: F401 (a dependency of toxiproxy-python)
            import toxiproxy  # noqa: F401
        except ImportError as exc:
            raise FaultError(f"the toxiproxy-python client is not installed ({exc}); install it into drillkit's "
                             "Python with 'pip install toxiproxy-python'", fault=self.name) from None

    def _unreachable(self, action: str, reason: str) -> FaultError:
        return FaultError(
            f"the Toxiproxy API at {self.server} did not respond to {action} from {self._where()}: {reason}. "
            f"Check that toxiproxy-server (or drillkit's stand-in) runs and listens on that address, "
            f"and that the fault's 'from' names a namespace that reaches it", fault=self.name)

    def _proxy_names(self) -> str:
        try:
            names = sorted(self._request("GET", "/proxies").json())
        except (FaultError, ValueError):
            return "unknown"
        return ", ".join(names) or "none"

    def _not_found(self) -> FaultError:
        return FaultError(f"proxy {self.proxy!r} not found on the Toxiproxy server at {self.server} "
                          f"(proxies there: {self._proxy_names()}); fix the fault's proxy field, or create the "
                          "proxy (toxiproxy-server -config, or POST /proxies)", fault=self.name)

    # -- the fault contract ------------------------------------------------

    def prepare(self) -> None:
        """Check that the proxy exists and, for ``down``, record whether it is enabled."""
        self._check_client()
        from toxiproxy import Proxy
        from toxiproxy.exceptions import NotFound

        try:
            data = self._request("GET", self._path("proxies", self.proxy)).json()
        except NotFound:
            raise self._not_found() from None
        except ValueError:
            raise FaultError(f"the Toxiproxy server at {self.server} returned invalid JSON for "
                             f"GET /proxies/{self.proxy}; is that address a Toxiproxy API?", fault=self.name) from None
        try:
            proxy = Proxy(**data)
        except (KeyError, TypeError):
            raise FaultError(f"the response of {self.server} to GET /proxies/{self.proxy} lacks the proxy fields "
                             "(name, listen, upstream, enabled); is that address a Toxiproxy API?",
                             fault=self.name) from None
        if self.toxic == "down":
            self.was_enabled = bool(proxy.enabled)

    def inject(self) -> None:
        self._check_client()
        from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

        if self.toxic == "down":
            try:
                self._request("POST", self._path("proxies", self.proxy), {"enabled": False})
            except NotFound:
                raise self._not_found() from None
            return
        body = {"name": self.toxic_name, "type": self.toxic, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": self.attributes}
        path = self._path("proxies", self.proxy, "toxics")
        try:
            try:
                self._request("POST", path, body)
            except ProxyExists:
                # A toxic of this name is left from a run that was killed before restore: replace it.
                log.warning("fault %s: toxic %s already on proxy %s at %s; replacing it", self.name,
                            self.toxic_name, self.proxy, self.server)
                self._request("DELETE", self._path("proxies", self.proxy, "toxics", self.toxic_name))
                self._request("POST", path, body)
        except NotFound:
            raise self._not_found() from None
        except InvalidToxic as exc:
            raise FaultError(f"the Toxiproxy server at {self.server} rejected the {self.toxic} toxic: "
                             f"{_message(exc.args[0] if exc.args else b'')}", fault=self.name) from None

    def restore(self) -> None:
        self._check_client()
        from toxiproxy.exceptions import NotFound

        if self.namespace is not None and not nsexec.exists(self.namespace):
            # NOTE: this assumes the API ran in the lab, as in the bundled labs. A
            # server outside the lab keeps the toxic until someone removes it.
            log.warning("fault %s: namespace %s is gone (lab down?), so its Toxiproxy API at %s cannot be "
                        "reached; nothing restored", self.name, self.namespace, self.server)
            return
        try:
            if self.toxic == "down":
                if self.was_enabled is not False:
                    self._request("POST", self._path("proxies", self.proxy), {"enabled": True})
            else:
                self._request("DELETE", self._path("proxies", self.proxy, "toxics", self.toxic_name))
        except NotFound:
            log.info("fault %s: proxy %s or toxic %s already gone from %s", self.name, self.proxy,
                     self.toxic_name, self.server)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "server": self.server, "proxy": self.proxy,
                "toxic": self.toxic, "attributes": self.attributes, "stream": self.stream,
                "toxicity": self.toxicity, "namespace": self.namespace, "vantage": self.vantage,
                "api_timeout_s": self.api_timeout_s, "was_enabled": self.was_enabled}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ToxiproxyFault:
        return cls(record["name"], record["server"], record["proxy"], record["toxic"],
                   attributes=record.get("attributes"), stream=record.get("stream", "downstream"),
                   toxicity=float(record.get("toxicity", 1.0)), namespace=record.get("namespace"),
                   vantage=record.get("vantage"),
                   api_timeout_s=float(record.get("api_timeout_s", DEFAULT_API_TIMEOUT_S)),
                   was_enabled=record.get("was_enabled"))


def _message(content: Any) -> str:
    """Return the ``error`` text of a Toxiproxy error body, or the body itself, shortened."""
    text = content.decode(errors="replace") if isinstance(content, bytes) else str(content)
    try:
        import json

        parsed = json.loads(text)
        if isinstance(parsed, dict) and parsed.get("error"):
            return str(parsed["error"])
    except ValueError:
        pass
    return text.strip()[:300] or "(empty response)"


def build_toxiproxy_fault(spec: Any, ctx: Any) -> ToxiproxyFault:
    """Bind a validated ``toxiproxy`` fault spec to the running lab."""
    params = spec.params
    vantage = params.get("from")
    namespace = None
    if vantage == "jail":
        namespace = ctx.jail
    elif vantage == "mgmt":
        namespace = ctx.mgmt_ns
    elif vantage is not None:
        if vantage not in ctx.namespaces:
            raise FaultError(f"node {vantage!r} of 'from' is not in lab {ctx.lab}", fault=spec.name)
        namespace = ctx.namespace(vantage)
    if vantage is not None and namespace is None:
        raise FaultError(f"lab {ctx.lab} has no {vantage} namespace; bring it up again with this drillkit version",
                         fault=spec.name)
    return ToxiproxyFault(spec.name, params["server"], params["proxy"], params["toxic"],
                          attributes=params.get("attributes"), stream=params.get("stream", "downstream"),
                          toxicity=params.get("toxicity", 1.0), namespace=namespace, vantage=vantage,
                          api_timeout_s=params.get("api_timeout_s", DEFAULT_API_TIMEOUT_S))


# -- scenario files --------------------------------------------------------

#: The keys of a ``toxiproxy`` fault in a scenario file.
SPEC_KEYS = {"name", "kind", "server", "from", "proxy", "toxic", "attributes", "stream", "toxicity", "api_timeout"}


def load_spec(f: Any, common: dict[str, Any]) -> Any:
    """Validate a ``toxiproxy`` fault of a scenario file (a yamldoc Field) into a FaultSpec.

    Raises:
        ScenarioError: naming the file, line, field and fix.
    """
    from ..scenario.model import FaultSpec

    server_field = f.require("server", "give the Toxiproxy API's URL, e.g. server: http://127.0.0.1:8474")
    server = server_field.str()
    try:
        parse_server(server)
    except ValueError as exc:
        raise server_field.fail("invalid Toxiproxy server URL", str(exc)) from None
    proxy = f.require("proxy", "name the Toxiproxy proxy on the path, e.g. proxy: feed-site1").str()
    toxic = f.require("toxic", f"set toxic: one of {', '.join(TOXIC_TYPES)}").str(choices=TOXIC_TYPES)
    params: dict[str, Any] = {"server": server, "proxy": proxy, "toxic": toxic}
    if toxic == "down":
        for key in ("attributes", "stream", "toxicity"):
            if f.has(key):
                raise f[key].fail(f"toxic down disables the proxy and takes no {key}", f"remove {key}",
                                  show_value=False)
    else:
        params["attributes"] = _load_attributes(f, toxic)
        params["stream"] = f["stream"].str(choices=STREAMS) if f.has("stream") else "downstream"
        params["toxicity"] = _load_toxicity(f["toxicity"]) if f.has("toxicity") else 1.0
    if f.has("from"):
        params["from"] = f["from"].str()
    if f.has("api_timeout"):
        timeout = f["api_timeout"].duration(allow_zero=False)
        if timeout > 60:
            raise f["api_timeout"].fail("must be at most 60 s", "each API call waits this long to connect and "
                                        "to read; write e.g. 3s")
        params["api_timeout_s"] = timeout
    return FaultSpec(params=params, **common)


def _whole_number(vf: Any, unit: str) -> int:
    value = vf.value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)  # a ${var:...} reference resolves to a string
    if isinstance(value, bool) or not isinstance(value, int):
        raise vf.fail(f"expected a whole number of {unit}")
    if value < 0:
        raise vf.fail("must not be negative", f"write a whole number of {unit}")
    return value


def _load_attributes(f: Any, toxic: str) -> dict[str, int]:
    allowed = TOXIC_ATTRIBUTES[toxic]
    values: dict[str, int] = {}
    if f.has("attributes"):
        af = f["attributes"].mapping()
        af.check_keys(set(allowed))
        for key, vf in af.items():
            values[key] = _whole_number(vf, allowed[key])
    where = f["attributes"] if f.has("attributes") else f
    units = "; ".join(f"{k} in {u}" for k, u in allowed.items())
    for key in REQUIRED_ATTRIBUTES.get(toxic, ()):
        if key not in values:
            raise where.fail(f"toxic {toxic} needs attribute {key}", f"set attributes: {{{key}: N}} ({units})",
                             show_value=False)
    if toxic == "bandwidth" and values["rate"] == 0:
        raise where["rate"].fail("a rate of 0 means no limit in Toxiproxy", "write the rate in KB/s, at least 1")
    if toxic == "slicer":
        if values["average_size"] == 0:
            raise where["average_size"].fail("must be at least 1", "write the average slice size in bytes")
        if values.get("size_variation", 0) >= values["average_size"]:
            raise where["size_variation"].fail("must be smaller than average_size",
                                               "Toxiproxy requires size_variation < average_size")
    return values


def _load_toxicity(vf: Any) -> float:
    value = vf.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise vf.fail("invalid toxicity", "write the share of connections the toxic acts on, from 0 to 1, e.g. 0.5")
    return float(value)
