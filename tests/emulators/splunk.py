"""A wire-faithful emulator of the splunkd REST API parts the splunk provider (through splunklib) uses.

A real HTTP server (``http.server.ThreadingHTTPServer``) on 127.0.0.1 and a free port, run in a thread, since the
SDK is synchronous; HTTPS when ``start`` gets a TLS context. Endpoints, under ``/services/`` and the namespaced
``/servicesNS/<owner>/<app>/`` forms:

- ``POST auth/login`` (form ``username``, ``password``, ``cookie=1``) → ``<response><sessionKey>…</sessionKey>``
  and, with ``cookie=1``, ``Set-Cookie: splunkd_<port>=<key>`` as Splunk 6.2+ does (splunklib then sends only the
  cookie). Bad credentials → 401 ``Login failed``.
- ``GET server/info`` → the Atom feed splunklib parses, or the JSON shape with ``output_mode=json``.
- ``POST search/jobs`` and, for splunkd 9.0.2+ (splunklib picks it from the version in server/info),
  ``POST search/v2/jobs`` with ``exec_mode=oneshot`` and ``output_mode=json`` →
  ``{"preview":false,"init_offset":0,"messages":[],"fields":[{"name":…}],"results":[{…}],"highlighted":{}}``.

Authentication accepts ``Authorization: Splunk <session key or token>``, ``Bearer <token>``,
``Basic <user:password>`` and the ``splunkd_<port>`` cookie; anything else is 401 ``call not properly
authenticated``. Errors are ``<response><messages><msg type="…">…</msg></messages></response>`` with the HTTP
status, or ``{"messages":[{"type":…,"text":…}]}`` when the request asked for ``output_mode=json``.

Searches run on a small SPL subset over seeded events and lookup tables, with Splunk's quoting rules (``"`` with
``\\"`` and ``\\\\`` escapes) and its ``earliest_time``/``latest_time`` window (epoch seconds, ``now``,
``-24h``-style offsets): ``search`` (``field=value``, ``field!=value``, ``*`` wildcards, case-insensitive values),
``| inputlookup <table>``, ``sort``, ``head``, ``fields``, ``table``; ``delete`` is refused
(and recorded); any other command is 400 ``Unknown search command``. ``emu.searches`` records every search as
received; ``quoted_literals(spl)`` reads the quoted literals back out of one.

Knobs: ``fail_searches(status, text)``, ``delay_s`` (stalls search replies), ``expire_sessions()``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import ssl
import threading
import time
from base64 import b64decode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

Row = dict[str, Any]

ATOM_NS = 'xmlns="http://www.w3.org/2005/Atom" xmlns:s="http://dev.splunk.com/ns/rest"'
UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "w": 604800}
DEFAULT_COUNT = 100


class SplError(Exception):
    """A search splunkd rejects with HTTP 400."""


# --- SPL: quoting and tokens ------------------------------------------------------------------------------


@dataclass
class Term:
    """One whitespace- or comma-separated term; ``parts`` are (text, quoted) with escapes already resolved."""

    parts: list[tuple[str, bool]]

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)

    @property
    def bare(self) -> str | None:
        return self.text if not any(quoted for _, quoted in self.parts) else None


def _read_quoted(spl: str, start: int) -> tuple[str, int]:
    """The literal starting after the ``"`` at ``start - 1``, and the index after its closing quote."""
    out: list[str] = []
    i = start
    while i < len(spl):
        char = spl[i]
        if char == "\\" and i + 1 < len(spl) and spl[i + 1] in '"\\':
            out.append(spl[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise SplError("Unbalanced quotes.")


def parse_pipeline(spl: str) -> list[list[Term]]:
    """Split a search into commands (at ``|`` outside quotes), each a list of terms."""
    commands: list[list[Term]] = [[]]
    parts: list[tuple[str, bool]] = []
    bare: list[str] = []

    def end_bare() -> None:
        if bare:
            parts.append(("".join(bare), False))
            bare.clear()

    def end_term() -> None:
        end_bare()
        if parts:
            commands[-1].append(Term(list(parts)))
            parts.clear()

    i = 0
    while i < len(spl):
        char = spl[i]
        if char == '"':
            end_bare()
            literal, i = _read_quoted(spl, i + 1)
            parts.append((literal, True))
            continue
        if char.isspace() or char == ",":
            end_term()
        elif char == "|":
            end_term()
            commands.append([])
        else:
            bare.append(char)
        i += 1
    end_term()
    return commands


def quoted_literals(spl: str) -> list[str]:
    """Every quoted literal in a search, unescaped, in order."""
    return [text for command in parse_pipeline(spl) for term in command for text, quoted in term.parts if quoted]


def pipeline_shape(spl: str) -> list[list[str]]:
    """The search with every quoted literal replaced by ``<literal>``: its structure, for comparisons."""
    return [
        ["".join("<literal>" if quoted else text for text, quoted in term.parts) for term in command]
        for command in parse_pipeline(spl)
    ]


# --- SPL: evaluation --------------------------------------------------------------------------------------


def _predicate(term: Term) -> tuple[str, str, str]:
    """(field, op, pattern) of ``field=value`` / ``field!=value``; a bare word matches ``_raw``."""
    head, quoted = term.parts[0]
    if not quoted:
        for op in ("!=", "="):
            key, sep, rest = head.partition(op)
            if sep and key:
                value = rest + "".join(text for text, _ in term.parts[1:])
                return key, op, value
    bare = term.bare
    if bare is not None and (bare.upper() in {"OR", "NOT"} or bare.startswith("(")):
        raise SplError(f"emulator: '{bare}' is not supported")
    return "_raw", "~", term.text


def _matches(row: Row, key: str, op: str, pattern: str) -> bool:
    if op == "~":
        return pattern.casefold() in str(row.get("_raw", "")).casefold()
    value = row.get(key)
    values = value if isinstance(value, list) else [] if value is None else [value]
    hit = any(fnmatch.fnmatchcase(str(v).casefold(), pattern.casefold()) for v in values)
    return hit if op == "=" else not hit


def _filter(rows: list[Row], terms: list[Term]) -> list[Row]:
    predicates = [_predicate(t) for t in terms if (t.bare or "").upper() != "AND"]
    return [row for row in rows if all(_matches(row, *p) for p in predicates)]


def _names(terms: list[Term]) -> list[str]:
    return [t.text for t in terms if t.text]


def _sort(rows: list[Row], terms: list[Term]) -> list[Row]:
    """``sort [N] [-|+] field[, [-|+]field…]``: numeric ``_time``, other fields as strings."""
    keys: list[tuple[str, bool]] = []
    descending = False
    for name in _names(terms):
        if name in ("-", "+"):
            descending = name == "-"
        elif not name.isdigit():
            keys.append((name[1:], name[0] == "-") if name[0] in "-+" else (name, descending))
    for key, desc in reversed(keys):
        rows = sorted(rows, key=partial(_sort_key, key), reverse=desc)
    return rows


def _sort_key(key: str, row: Row) -> tuple[int, Any]:
    value = row.get(key)
    return (1, "") if value is None else (0, value if isinstance(value, float) else str(value))


def _project(rows: list[Row], names: list[str]) -> list[Row]:
    if names and names[0] == "-":
        drop = set(names[1:])
        return [{k: v for k, v in row.items() if k not in drop} for row in rows]
    keep = [n for n in names if n != "+"]
    return [{k: row[k] for k in keep if k in row} for row in rows]


# --- the emulator -----------------------------------------------------------------------------------------


@dataclass
class RecordedSearch:
    path: str  # as requested, e.g. /services/search/v2/jobs
    spl: str
    params: dict[str, str]
    auth: str  # how the caller authenticated: session, cookie, bearer, splunk-token, basic


@dataclass
class SplunkEmulator:
    username: str = "admin"
    password: str = "changed-Secret-9"
    tokens: set[str] = field(default_factory=set)
    version: str = "9.1.2"
    server_name: str = "splunk-emu"
    delay_s: float = 0.0
    events: list[Row] = field(default_factory=list)
    lookups: dict[str, list[Row]] = field(default_factory=dict)
    searches: list[RecordedSearch] = field(default_factory=list)
    logins: int = 0
    deletes: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _sessions: set[str] = field(default_factory=set)
    _failure: tuple[int, str] | None = None
    _server: _Server | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- seeding and knobs --------------------------------------------------------------------------------

    def add_event(self, at: datetime, *, index: str = "main", sourcetype: str = "syslog", **fields: str) -> None:
        raw = " ".join(f"{k}={v}" for k, v in fields.items())
        event = {"_time": at.timestamp(), "_raw": raw, "index": index, "sourcetype": sourcetype}
        self.events.append(event | {"host": self.server_name, "source": sourcetype} | fields)

    def fail_searches(self, status: int, text: str = "Search failed.") -> None:
        self._failure = (status, text)

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self, tls: ssl.SSLContext | None = None) -> int:
        """Serve (HTTPS with a server-side ``tls`` context) on a free port of 127.0.0.1; returns the port."""
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        serve = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="splunk-emu", daemon=True)
        serve.start()
        return self.port

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- searching ----------------------------------------------------------------------------------------

    def run(self, spl: str, params: dict[str, str]) -> list[Row]:
        earliest = _parse_time(params.get("earliest_time", ""), "earliest_time")
        latest = _parse_time(params.get("latest_time", ""), "latest_time")
        commands = parse_pipeline(spl)
        first = commands[0]
        if not first:
            if len(commands) < 2 or not commands[1]:
                raise SplError("Empty search.")
            rows, rest = self._generate(commands[1]), commands[2:]
        elif first[0].bare == "search":
            rows = [e for e in self.events if _in_window(e["_time"], earliest, latest)]
            rows = sorted(_filter(rows, first[1:]), key=lambda e: e["_time"], reverse=True)
            rest = commands[1:]
        else:
            raise SplError(f"Unknown search command '{first[0].text}'.")
        for command in rest:
            rows = self._apply(command, rows, spl)
        count = int(params.get("count", DEFAULT_COUNT) or 0)
        return rows[:count] if count > 0 else rows

    def _generate(self, command: list[Term]) -> list[Row]:
        name = command[0].text
        if name != "inputlookup" or len(command) < 2:
            raise SplError(f"Unknown search command '{name}'." if name != "inputlookup" else "Missing table name.")
        table = command[1].text
        if table not in self.lookups:
            raise SplError(f"The lookup table '{table}' requires a .csv or KV store lookup definition.")
        rows = [dict(r) for r in self.lookups[table]]
        if len(command) > 2 and command[2].bare == "where":
            rows = _filter(rows, command[3:])
        return rows

    def _apply(self, command: list[Term], rows: list[Row], spl: str) -> list[Row]:
        if not command:
            raise SplError("Missing a search command before '|'.")
        name, args = command[0].text, command[1:]
        if name == "search":
            return _filter(rows, args)
        if name == "sort":
            return _sort(rows, args)
        if name == "head":
            limit = int(args[0].text) if args else 10
            return rows[:limit]
        if name in ("fields", "table"):
            return _project(rows, _names(args))
        if name == "delete":
            self.deletes.append(spl)
            raise SplError("You have insufficient privileges to delete events.")
        raise SplError(f"Unknown search command '{name}'.")

    # --- auth ---------------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> str | None:
        if not (secrets.compare_digest(username, self.username) and secrets.compare_digest(password, self.password)):
            return None
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions.add(key)
            self.logins += 1
        return key

    def authenticate(self, headers: Any) -> str | None:
        """How the request authenticated (session, cookie, bearer, splunk-token, basic), or None."""
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        with self._lock:
            sessions = set(self._sessions)
        if scheme == "Splunk" and value in sessions:
            return "session"
        if scheme in ("Splunk", "Bearer") and value in self.tokens:
            return "bearer" if scheme == "Bearer" else "splunk-token"
        if scheme == "Basic":
            user, _, password = b64decode(value).decode("utf-8", "replace").partition(":")
            if user == self.username and password == self.password:
                return "basic"
        for part in (headers.get("Cookie") or "").split(";"):
            name, _, key = part.strip().partition("=")
            if name == f"splunkd_{self.port}" and key in sessions:
                return "cookie"
        return None


def _in_window(at: float, earliest: float | None, latest: float | None) -> bool:
    return (earliest is None or at >= earliest) and (latest is None or at < latest)


def _parse_time(raw: str, name: str) -> float | None:
    """Epoch seconds, ``now``, ``0``/empty (no bound) or a relative ``-24h``/``-7d@d``-style offset."""
    raw = raw.strip()
    if raw in ("", "0"):
        return None
    if raw == "now":
        return time.time()
    try:
        return float(raw)
    except ValueError:
        pass
    match = re.fullmatch(r"([-+])(\d+)([a-z]+)(?:@([a-z]+))?", raw)
    if not match or match[3] not in UNITS or (match[4] and match[4] not in UNITS):
        raise SplError(f"Invalid {name}.")
    offset = int(match[2]) * UNITS[match[3]] * (-1 if match[1] == "-" else 1)
    value = time.time() + offset
    if match[4]:
        value -= value % UNITS[match[4]]
    return value


def _render_time(epoch: float) -> str:
    """As splunkd renders ``_time`` in JSON results (the user's zone is UTC here)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _render_row(row: Row) -> Row:
    return {k: _render_time(v) if k == "_time" else v for k, v in row.items()}


# --- HTTP -------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of concurrent searches must not overflow the listen backlog


class _Handler(BaseHTTPRequestHandler):
    emu: SplunkEmulator
    protocol_version = "HTTP/1.1"
    server_version = "Splunkd"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: tests read ``emu.requests``."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            params |= dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        self.emu.requests.append((method, url.path))
        json_mode = params.get("output_mode") == "json"
        endpoint = _endpoint(unquote(url.path))
        if endpoint == "auth/login" and method == "POST":
            return self._login(params)
        auth = self.emu.authenticate(self.headers)
        if endpoint is None or auth is None:
            if auth is None:
                return self._error(401, "WARN", "call not properly authenticated", json_mode)
            return self._error(404, "ERROR", "Not Found", json_mode)
        if endpoint in ("server/info", "server/info/server-info") and method == "GET":
            return self._info(json_mode)
        v2 = tuple(int(p) for p in self.emu.version.split(".")) >= (9, 0, 2)
        if endpoint in ("search/jobs", "search/v2/jobs") and method == "POST" and (v2 or "/v2/" not in endpoint):
            return self._search(url.path, params, auth, json_mode)
        return self._error(404, "ERROR", "Not Found", json_mode)

    def _login(self, params: dict[str, str]) -> None:
        key = self.emu.login(params.get("username", ""), params.get("password", ""))
        if key is None:
            return self._error(401, "WARN", "Login failed", params.get("output_mode") == "json")
        headers = {}
        if params.get("cookie") == "1":
            headers["Set-Cookie"] = f"splunkd_{self.emu.port}={key}; Path=/; Secure; HttpOnly; Max-Age=3600"
        if params.get("output_mode") == "json":
            return self._send(200, json.dumps({"sessionKey": key, "message": "", "code": ""}), True, headers)
        body = (
            f"<response>\n  <sessionKey>{key}</sessionKey>\n"
            '  <messages>\n    <msg code=""></msg>\n  </messages>\n</response>'
        )
        self._send(200, body, False, headers)

    def _info(self, json_mode: bool) -> None:
        content = {"build": "78803f08aabb", "version": self.emu.version, "serverName": self.emu.server_name,
                   "product_type": "enterprise", "os_name": "Linux", "health_info": "green"}
        if json_mode:
            entry = {"name": "server-info", "id": "https://127.0.0.1/services/server/info/server-info",
                     "links": {"alternate": "/services/server/info/server-info"}, "author": "system",
                     "acl": {"app": "", "owner": "system", "sharing": "system"}, "content": content}
            feed = {"links": {}, "origin": "https://127.0.0.1/services/server/info",
                    "generator": {"build": content["build"], "version": self.emu.version},
                    "entry": [entry], "paging": {"total": 1, "perPage": 30, "offset": 0}, "messages": []}
            return self._send(200, json.dumps(feed), True)
        keys = "\n".join(f'        <s:key name="{k}">{escape(v)}</s:key>' for k, v in content.items())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<feed {ATOM_NS}>\n  <title>server-info</title>\n'
            f'  <id>https://127.0.0.1/services/server/info</id>\n'
            f'  <generator build="{content["build"]}" version="{self.emu.version}"/>\n'
            "  <entry>\n    <title>server-info</title>\n"
            '    <link href="/services/server/info/server-info" rel="alternate"/>\n'
            f'    <content type="text/xml">\n      <s:dict>\n{keys}\n      </s:dict>\n    </content>\n'
            "  </entry>\n</feed>\n"
        )
        self._send(200, body, False)

    def _search(self, path: str, params: dict[str, str], auth: str, json_mode: bool) -> None:
        spl = params.get("search", "")
        self.emu.searches.append(RecordedSearch(path, spl, dict(params), auth))
        if self.emu.delay_s and self.emu._stopping.wait(self.emu.delay_s):
            return
        if self.emu._failure is not None:
            status, text = self.emu._failure
            return self._error(status, "ERROR", text, json_mode)
        if params.get("exec_mode") != "oneshot" or not json_mode:
            return self._error(400, "ERROR", "emulator: only exec_mode=oneshot with output_mode=json", json_mode)
        try:
            rows = [_render_row(r) for r in self.emu.run(spl, params)]
        except SplError as exc:
            return self._error(400, "FATAL", str(exc), json_mode)
        names = list(dict.fromkeys(k for row in rows for k in row))
        body = {"preview": False, "init_offset": 0, "messages": [], "fields": [{"name": n} for n in names],
                "results": rows, "highlighted": {}}
        self._send(200, json.dumps(body), True)

    def _error(self, status: int, kind: str, text: str, json_mode: bool) -> None:
        if json_mode:
            return self._send(status, json.dumps({"messages": [{"type": kind, "text": text}]}), True)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  <messages>\n'
            f'    <msg type="{kind}">{escape(text)}</msg>\n  </messages>\n</response>\n'
        )
        self._send(status, body, False)

    def _send(self, status: int, body: str, json_mode: bool, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8" if json_mode else "text/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "Close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


def _endpoint(path: str) -> str | None:
    """``/services/x/y`` and ``/servicesNS/<owner>/<app>/x/y`` → ``x/y``."""
    match = re.fullmatch(r"/services/(.+?)/?|/servicesNS/[^/]+/[^/]+/(.+?)/?", path)
    return (match[1] or match[2]) if match else None
