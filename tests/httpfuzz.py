"""Generated raw HTTP exchanges for the web server and what it must answer them.

Shared by the fuzz tests (tests/test_fuzz_http.py, bounded to seconds) and their long run
(benchmarks/fuzz_http.py). Each hypothesis strategy here builds an ``Exchange``: the bytes
one client connection sends, and for each request in them an ``Expect`` computed while the
bytes were generated (the generator knows which part it made bad). ``run_exchange`` sends
it to a real server over a socket (plain or TLS), ``problems`` compares the answer with
the expectations, and ``Watch`` collects what the server reports about its own failures.

The oracle, for every exchange:

* the answer is a sequence of well-formed HTTP/1.x responses (status line, ``name: value``
  headers, a Content-Length and exactly that many body bytes, none for HEAD), one per
  request in order, ending with the connection (a response with ``Connection: close`` is
  the last);
* a bad request (broken request line, method, version, header syntax, framing) gets a 4xx
  (505 for HTTP/2 and later) and the connection closes; a request that is fine gets what
  the routes give it (``expected_status``: 200, 404, 405, 401 without credentials); where
  the HTTP RFCs let a server either refuse or accept (obs-fold, several spaces in the
  request line, Transfer-Encoding with Content-Length) either is accepted;
* a request cut short by the client (``SHUT_WR`` in the middle) gets a 4xx or no answer,
  never a 2xx: the server must not act on half a request;
* the connection ends soon after the client is done (bounded by the caller);
* nothing sent to the TLS port that is not a TLS handshake is answered with more than
  a TLS alert or the plain-text 400 Go sends to HTTP on a TLS port.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import bcrypt
from hypothesis import strategies as st

from ses_exporter.web import WebServer, parse_web_config
from tests.pki import Pki, client_context
from tests.webapp import METRICS, FakeApp

# Short limits, so that a connection the server forgot would end soon all the same; the
# checks allow far more (PATIENCE) before they call a connection hung.
HEADER_TIMEOUT = 3.0
CONNECTION_TIMEOUT = 3.0
PATIENCE = 30.0

# --- what a request should get --------------------------------------------------------

BAD = frozenset(range(400, 500))  # a bad request: some 4xx, then close
PASSWORD = "fuzz-password"
GOOD_AUTH = "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
TELEMETRY_PATH = "/metrics"
PATHS = (
    "/metrics",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
    "/status",
    "/",
    "/targets/eu-west-1",
    "/static/pages.css",
    "/nope",
    "*",
    "http://x/metrics",
)
SERVED_METHODS = ("GET", "HEAD", "POST")
OTHER_METHODS = ("PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "PROPFIND", "get")
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Expect:
    """What one request may get: a status from ``statuses``; ``close`` True: the server must
    close after it, False: must keep the connection, None: either. ``silent_ok``: no answer
    at all (the server closes) is also right."""

    statuses: frozenset[int]
    close: bool | None
    silent_ok: bool = False
    why: str = ""


def expected_status(method: str, target: str, authorization: str | None, auth: bool) -> int:
    """What the routes answer a well-formed request (the app of ``FuzzApp``: ready, a
    reload that succeeds, one page at ``/``)."""
    if auth and authorization != GOOD_AUTH:
        return 401
    path = target.partition("?")[0]
    read_only = {
        TELEMETRY_PATH: 200,
        "/status": 200,
        "/-/healthy": 200,
        "/-/ready": 200,
        "/": 200,
    }
    if path in read_only or path.startswith(("/targets/", "/static/")):
        if method not in ("GET", "HEAD"):
            return 405
        return read_only.get(path, 404)
    if path == "/-/reload":
        return 200 if method == "POST" else 405
    return 404 if method in SERVED_METHODS else 405


@dataclass(frozen=True)
class Request:
    """One generated request: its bytes, the method (a HEAD answer has no body) and what
    it should get."""

    data: bytes
    method: str
    expect: Expect


@dataclass(frozen=True)
class Exchange:
    """What one connection sends: requests back to back, then (``half_close``) SHUT_WR.
    ``cut`` sends only the first ``cut`` bytes (a request cut short by the client)."""

    requests: tuple[Request, ...]
    half_close: bool = True
    cut: int | None = None
    raw: bytes | None = None  # bytes that are no HTTP at all (the TLS port)

    @property
    def data(self) -> bytes:
        data = self.raw if self.raw is not None else b"".join(r.data for r in self.requests)
        return data if self.cut is None else data[: self.cut]


# --- generators ---------------------------------------------------------------------------

# Octets that are neither whitespace for the request line nor CR/LF: they end up inside a
# method, target or version and make it something else.
ODD_OCTETS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F, 0x85, 0xA0, 0xFF, 0xC3])
# Whitespace the RFC lets a server treat as the separator in a request line (or refuse).
LENIENT_SPACES = (b"  ", b"\t", b" \t ", b"\x0b", b"\x0c")

token = st.text(TOKEN_CHARS, min_size=1, max_size=12)


@st.composite
def methods(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(method, well-formed?)"""
    kind = draw(st.sampled_from(("served", "served", "other", "token", "bad")))
    if kind == "served":
        return draw(st.sampled_from(SERVED_METHODS)).encode(), True
    if kind == "other":
        return draw(st.sampled_from(OTHER_METHODS)).encode(), True
    if kind == "token":
        return draw(token).encode(), True
    good = draw(st.sampled_from(SERVED_METHODS)).encode()
    bad = draw(st.binary(min_size=1, max_size=3).filter(lambda b: not set(b) <= set(b"\r\n ")))
    bad = bytes(o for o in bad if o not in b"\r\n \t\x0b\x0c") or b"("
    if re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]*", bad):
        bad = b"@" + bad
    at = draw(st.integers(0, len(good)))
    return good[:at] + bad + good[at:], False


@st.composite
def targets(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(request target, has it octets a target cannot have?)"""
    base = draw(st.sampled_from(PATHS)).encode()
    kind = draw(st.sampled_from(("plain", "query", "percent", "odd", "long", "dots")))
    if kind == "plain":
        return base, False
    if kind == "query":
        query = draw(st.binary(max_size=40)).hex().encode()
        return base + b"?" + query, False
    if kind == "percent":
        at = draw(st.integers(0, len(base)))
        escape = b"%" + draw(st.sampled_from((b"2e", b"2F", b"00", b"zz", b"", b"%", b"ff", b"4")))
        return base[:at] + escape + base[at:], False
    if kind == "odd":
        at = draw(st.integers(0, len(base)))
        odd = draw(
            st.binary(min_size=1, max_size=3).map(
                lambda b: bytes(ODD_OCTETS[o % len(ODD_OCTETS)] for o in b)
            )
        )
        return base[:at] + odd + base[at:], True
    if kind == "long":
        length = draw(st.sampled_from((1000, 8000, 65_400, 65_600, 70_000)))
        return base + b"?" + b"q" * length, False
    return b"/" + b"/".join(
        draw(st.lists(st.sampled_from((b"..", b".", b"", b"metrics")), min_size=1, max_size=4))
    ), False


@st.composite
def versions(draw: st.DrawFn) -> tuple[bytes, frozenset[int] | None]:
    """(version, None if fine, else the statuses a server may answer it with)"""
    kind = draw(st.sampled_from(("1.1", "1.1", "1.0", "future", "bad")))
    if kind == "1.1":
        return b"HTTP/1.1", None
    if kind == "1.0":
        return b"HTTP/1.0", None
    if kind == "future":
        return draw(st.sampled_from((b"HTTP/2.0", b"HTTP/3.0", b"HTTP/9.9"))), frozenset({505})
    bad = draw(
        st.sampled_from(
            (
                b"HTTP/1",
                b"HTTP/1.1.1",
                b"http/1.1",
                b"HTTP/01.1",
                b"HTTP/1.10",
                b"HTTP/x.y",
                b"HTTP/1.\xb2",
                b"HTTP/",
                b"HTTPS/1.1",
                b"HTTP/-1.1",
                b"HTTP/1.1\x00",
                b"HTTP/\xd9\xa1.1",
            )
        )
    )
    return bad, BAD | {505}


@dataclass
class Head:
    """A request being generated: its parts and what is wrong with them."""

    method: bytes = b"GET"
    target: bytes = b"/metrics"
    version: bytes = b"HTTP/1.1"
    separator: tuple[bytes, bytes] = (b" ", b" ")
    headers: list[bytes] = field(default_factory=list)  # whole lines without the CRLF
    body: bytes = b""
    newline: bytes = b"\r\n"
    bad: frozenset[int] | None = None  # the statuses a bad request may get
    lenient: bool = False  # the RFC lets a server refuse this or take it
    odd_target: bool = False  # a target with control or non-ASCII octets: some 4xx
    unfinished: bool = False  # the body may not be complete: no answer is right too
    close: bool | None = False
    authorization: str | None = None

    def mark_bad(self, statuses: frozenset[int] = BAD) -> None:
        # Several things wrong: the server may trip over any of them first.
        self.bad = statuses if self.bad is None else self.bad | statuses

    def encode(self) -> bytes:
        nl = self.newline
        line = self.method + self.separator[0] + self.target + self.separator[1] + self.version
        return line + nl + b"".join(h + nl for h in self.headers) + nl + self.body

    def request(self, auth: bool) -> Request:
        method = self.method.decode("latin-1")
        if self.bad is not None:
            expect = Expect(self.bad, True, why="bad")
        else:
            target = self.target.decode("latin-1")
            statuses = frozenset({expected_status(method, target, self.authorization, auth)})
            if self.odd_target:
                expect = Expect(BAD, None, why="odd target")
            elif self.lenient:
                expect = Expect(statuses | BAD, None, self.unfinished, why="lenient")
            else:
                expect = Expect(statuses, self.close)
        return Request(self.encode(), method, expect)


def _defaults(head: Head, auth: bool, draw: st.DrawFn) -> None:
    """Headers most requests carry: Host, the credentials, sometimes a gzip Accept-Encoding."""
    head.headers.append(b"Host: 127.0.0.1")
    if auth:
        credentials = draw(
            st.sampled_from(
                (
                    GOOD_AUTH,
                    GOOD_AUTH,
                    GOOD_AUTH,
                    None,
                    "Basic !!!",
                    "Basic " + base64.b64encode(b"prometheus:wrong").decode(),
                )
            )
        )
        if credentials is not None:
            head.headers.append(b"Authorization: " + credentials.encode())
        head.authorization = credentials
    if draw(st.booleans()):
        head.headers.append(b"Accept-Encoding: gzip")


def _version_close(head: Head) -> None:
    if head.version == b"HTTP/1.0":
        head.close = True


@st.composite
def request_lines(draw: st.DrawFn, auth: bool = False) -> Request:
    """A request whose line is generated: methods, targets, versions, separators."""
    head = Head()
    head.method, method_ok = draw(methods())
    head.target, head.odd_target = draw(targets())
    head.version, version_bad = draw(versions())
    if draw(st.integers(0, 4)) == 0:
        separator = draw(st.sampled_from((*LENIENT_SPACES, b"\x1c", b"\x85", b"\xa0", b"\x1f")))
        at = draw(st.integers(0, 1))
        head.separator = (separator, b" ") if at == 0 else (b" ", separator)
        if separator in LENIENT_SPACES:
            head.lenient = True
        else:
            head.mark_bad()
    if draw(st.integers(0, 9)) == 0:
        head.newline = b"\n"  # bare LF: a server may take it (RFC 9112 2.2)
        head.lenient = True
    words = draw(st.sampled_from((3, 3, 3, 3, 2, 4)))
    _defaults(head, auth, draw)
    _version_close(head)
    if not method_ok:
        head.mark_bad()
    if version_bad is not None:
        head.mark_bad(version_bad)
    line_end = head.encode().index(b"\n") + 1
    if line_end > 65_536:
        head.mark_bad(frozenset({414}))
    request = head.request(auth)
    if words != 3:
        line_end = request.data.index(head.newline)
        line = request.data[:line_end]
        line = line.rsplit(b" ", 1)[0] if words == 2 else line + b" extra"
        data = line + request.data[line_end:]
        return Request(data, request.method, Expect(BAD, True, why="not 3 words"))
    return request


def _header_value(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(value, fine?)"""
    kind = draw(st.sampled_from(("text", "text", "latin1", "ctl", "empty", "long")))
    if kind == "text":
        return draw(st.text('abcXYZ0189 \t-_.;=,/"()', max_size=30)).strip(" \t").encode(), True
    if kind == "latin1":
        return draw(
            st.binary(min_size=1, max_size=10).map(lambda b: bytes(0x80 | o for o in b))
        ), True
    if kind == "ctl":
        ctl = draw(st.sampled_from((b"\x00", b"\x01", b"\x7f", b"\r", b"\x1b", b"\x0b")))
        return b"a" + ctl + b"b", False
    if kind == "empty":
        return b"", True
    return b"v" * draw(st.sampled_from((2000, 9000))), True


def _good_field(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    value, fine = _header_value(draw)
    separator = draw(st.sampled_from((b" ", b"", b"\t")))
    return [draw(token).encode() + b":" + separator + value], not fine


def _bad_name(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    name = draw(token).encode()
    at = draw(st.integers(0, len(name)))
    odd = draw(st.sampled_from((b" ", b"(", b"@", b"\x00", b"\xe9", b"\x7f", b'"', b"/", b"")))
    name = name[:at] + odd + name[at:] if odd else b""  # b"": nothing before the colon
    return [name + b": " + _header_value(draw)[0]], True


def _space_before_colon(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    return [draw(token).encode() + draw(st.sampled_from((b" ", b"\t"))) + b": x"], True


def _control_in_value(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    ctl = draw(st.sampled_from((b"\x00", b"\x01", b"\x7f", b"\r", b"\x1b")))
    return [b"X-Bad: a" + ctl + b"b"], True


def _folded(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    return [b"X-Folded: first", draw(st.sampled_from((b" ", b"\t", b"   "))) + b"continued"], False


def _connection(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    value = draw(st.sampled_from((b"close", b"keep-alive", b"Close", b"upgrade", b"")))
    return [b"Connection: " + value], False


# Each: (header lines, do they make the request bad?)
HEADER_KINDS = {
    "good": _good_field,
    "badname": _bad_name,
    "nocolon": lambda draw: ([b"no colon " + draw(token).encode()], True),
    "spacecolon": _space_before_colon,
    "badvalue": _control_in_value,
    "fold": _folded,
    "connection": _connection,
    "expect": lambda draw: ([b"Expect: 100-continue"], False),
    "leadingspace": lambda draw: ([b" X-Leading: space"], False),  # put first
}


def _closes(head: Head) -> None:
    """The first Connection field decides, as in http.server."""
    connection = next((h for h in head.headers if h.lower().startswith(b"connection:")), None)
    value = connection.split(b":", 1)[1].strip(b" \t").lower() if connection else b""
    if value == b"close":
        head.close = True
    elif value == b"keep-alive":
        head.close = False


@st.composite
def header_sets(draw: st.DrawFn, auth: bool = False) -> Request:
    """A GET, HEAD or POST with generated headers: names, values, counts, duplicates, folds."""
    head = Head(method=draw(st.sampled_from(SERVED_METHODS)).encode())
    head.target = draw(st.sampled_from(PATHS[:6])).encode()
    head.version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0")))
    _defaults(head, auth, draw)
    _version_close(head)
    count = draw(st.sampled_from((0, 1, 2, 5, 10, 40, 98, 101, 130)))
    head.headers += [b"X-Fuzz-%d: %d" % (index, index) for index in range(count)]
    kinds = st.sampled_from(("good", *HEADER_KINDS))
    for kind in draw(st.lists(kinds, max_size=4)):
        lines, bad = HEADER_KINDS[kind](draw)
        if kind == "leadingspace":
            head.headers[:0] = lines
        else:
            head.headers += lines
        if bad:
            head.mark_bad()
    if draw(st.booleans()):
        head.headers = draw(st.permutations(head.headers))
    if any(h[:1] in (b" ", b"\t") for h in head.headers):
        # Before the first field: refuse it or ignore the line (RFC 9112 2.2); after one,
        # obs-fold: refuse it or replace it by a space (RFC 9112 5.2).
        head.lenient = True
    fields = [h for h in head.headers if h[:1] not in (b" ", b"\t")]
    if len(fields) > 100 or len(head.encode()) > 128 * 1024:
        head.mark_bad()
    _closes(head)
    return head.request(auth)


def _content_length(draw: st.DrawFn, head: Head, kind: str, body: bytes) -> None:
    if kind == "length":
        size = draw(st.sampled_from((len(body), len(body), 64 * 1024, 64 * 1024 + 1, 10**6)))
        head.headers.append(b"Content-Length: %d" % size)
        head.body = body if size == len(body) else b"b" * size
        if size > 64 * 1024:
            head.body = b""
            head.mark_bad(frozenset({413}))
    elif kind == "twolengths":
        second = draw(st.sampled_from((len(body), len(body) + 1)))
        head.headers += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % second]
        head.body = body
        if second != len(body):
            head.mark_bad()
    elif kind == "oddlength":
        odd = (b"-1", b"+5", b"0x10", b"1e3", b"5, 5", b"", b"\xd9\xa5", b"\xb2", b"5 5", b"abc")
        head.headers.append(b"Content-Length: " + draw(st.sampled_from(odd)))
        head.body = body
        head.mark_bad()


def _transfer_encoding(draw: st.DrawFn, head: Head, kind: str, body: bytes) -> None:
    coding = b"chunked"
    if kind == "te-bogus":
        bogus = (b"gzip", b"chunked, gzip", b"foo", b"", b"identity", b"chunked;x=1")
        coding = draw(st.sampled_from(bogus))
    elif draw(st.booleans()):
        coding = draw(st.sampled_from((b"Chunked", b"gzip, chunked", b"CHUNKED")))
    head.headers.append(b"Transfer-Encoding: " + coding)
    head.body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    if draw(st.integers(0, 3)) == 0:
        head.body = draw(st.binary(max_size=40))  # not chunked at all, or chunks cut short
        head.lenient = head.unfinished = True  # a 400, or the server waits for the rest
    if kind == "te-and-length":
        head.headers.append(b"Content-Length: %d" % len(head.body))
        head.lenient = True  # refuse it, or go by Transfer-Encoding alone; then close
    if kind == "te-http10":
        head.version = b"HTTP/1.0"
        head.lenient = True  # framing is faulty: process it or not, then close
    if coding.lower().rsplit(b",", 1)[-1].strip() != b"chunked":
        head.mark_bad()  # RFC 9112 6.3: the length cannot be known: 400, then close
    head.close = True


BODY_KINDS = (
    "length",
    "none",
    "twolengths",
    "oddlength",
    "chunked",
    "te-bogus",
    "te-and-length",
    "te-http10",
)


@st.composite
def bodies(draw: st.DrawFn, auth: bool = False) -> Request:
    """A POST or GET with a body: Content-Length fine, duplicated, odd or too big;
    Transfer-Encoding chunked, bogus or next to a Content-Length."""
    head = Head(method=draw(st.sampled_from((b"POST", b"POST", b"GET", b"PUT"))))
    head.target = draw(st.sampled_from((b"/-/reload", b"/metrics", b"/nope")))
    head.version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0")))
    _defaults(head, auth, draw)
    _version_close(head)
    body = draw(st.binary(max_size=200))
    kind = draw(st.sampled_from(BODY_KINDS))
    if kind.startswith("te-") or kind == "chunked":
        _transfer_encoding(draw, head, kind, body)
    else:
        _content_length(draw, head, kind, body)
    if draw(st.integers(0, 5)) == 0:
        head.headers.append(b"Expect: 100-continue")
    return head.request(auth)


def any_request(auth: bool = False) -> st.SearchStrategy[Request]:
    return st.one_of(request_lines(auth), header_sets(auth), bodies(auth))


@st.composite
def pipelines(draw: st.DrawFn, auth: bool = False) -> Exchange:
    """Two to five requests sent back to back before any answer is read."""
    requests = draw(st.lists(any_request(auth), min_size=2, max_size=5))
    return Exchange(tuple(requests), half_close=True)


@st.composite
def singles(draw: st.DrawFn, strategy: st.SearchStrategy[Request]) -> Exchange:
    return Exchange((draw(strategy),), half_close=True)


@st.composite
def half_closed(draw: st.DrawFn, auth: bool = False) -> Exchange:
    """A request cut short by the client: SHUT_WR after some of its bytes."""
    request = draw(any_request(auth))
    if len(request.data) < 2:
        return Exchange((request,))
    cut = draw(st.integers(1, len(request.data) - 1))
    expect = Expect(BAD | {505}, True, silent_ok=True, why="cut")
    return Exchange((replace(request, expect=expect),), half_close=True, cut=cut)


@st.composite
def kept_open(draw: st.DrawFn, auth: bool = False) -> Exchange:
    """Requests, maybe the last one cut short, and then nothing: no SHUT_WR. The server
    must end the connection at its idle or head deadline (seconds each)."""
    exchange = draw(st.one_of(pipelines(auth), half_closed(auth)))
    return replace(exchange, half_close=False)


# What a TLS port may get: not a handshake at all, or TLS records that are no handshake
# or a broken one.
def _record(content_type: int, payload: bytes, version: bytes = b"\x03\x01") -> bytes:
    return bytes([content_type]) + version + len(payload).to_bytes(2, "big") + payload


@st.composite
def tls_junk(draw: st.DrawFn) -> Exchange:
    kind = draw(st.sampled_from(("random", "http", "records", "hello-garbage", "truncated")))
    if kind == "random":
        raw = draw(st.binary(min_size=1, max_size=300))
    elif kind == "http":
        raw = draw(any_request()).data
    elif kind == "records":
        raw = b"".join(
            _record(
                draw(st.sampled_from((0x14, 0x15, 0x16, 0x17, 0x18, 0x00, 0xFF))),
                draw(st.binary(max_size=100)),
                draw(st.sampled_from((b"\x03\x01", b"\x03\x03", b"\x00\x00", b"\xfe\xfd"))),
            )
            for _ in range(draw(st.integers(1, 3)))
        )
    elif kind == "hello-garbage":
        # A handshake record whose ClientHello is garbage, or claims more than it has.
        payload = b"\x01" + draw(st.binary(min_size=3, max_size=3)) + draw(st.binary(max_size=200))
        raw = _record(0x16, payload)
        if draw(st.booleans()):
            raw = raw[:3] + b"\x40\x00" + raw[5:]  # 16 KiB announced
    else:
        raw = b"\x16\x03\x01"[: draw(st.integers(1, 3))]
    return Exchange((), half_close=True, raw=raw)


# --- sending and checking ---------------------------------------------------------------


@dataclass
class Outcome:
    received: bytes
    sent_all: bool  # False: the server closed before it took every byte
    reset: bool  # the connection ended with a reset, not a clean close
    seconds: float  # from the client's last byte to the end of the connection
    hung: bool  # the connection was still open at the deadline
    # The client took longer than the server's deadlines from connecting to its last byte
    # (a starved client thread on a loaded machine): the server may rightly have closed
    # before the request arrived, unanswered, as it does for any client that slow.
    late: bool = False


def run_exchange(
    port: int,
    exchange: Exchange,
    context: ssl.SSLContext | None = None,
    patience: float = 30.0,
    raw_tls: bool = False,
) -> Outcome:
    """Sends the exchange on a new connection and reads until the server closes it.

    ``context``: speak TLS (with that client context) and send the requests inside it;
    ``raw_tls``: the port speaks TLS but the bytes go as they are (no handshake)."""
    connecting = time.monotonic()  # the server's clock starts at its accept, after this
    sock = socket.create_connection(("127.0.0.1", port), timeout=patience)
    conn: socket.socket = sock
    chunks: list[bytes] = []
    reset, timed_out = [False], [False]
    try:
        if context is not None and not raw_tls:
            conn = context.wrap_socket(sock, server_hostname="127.0.0.1")
        done = threading.Event()

        def read() -> None:
            try:
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            except TimeoutError:  # nothing from the server for `patience` seconds
                timed_out[0] = True
            except OSError:  # a reset, or a TLS error
                reset[0] = True
            finally:
                done.set()

        # Read while sending, so that a server that answers early (431, 413) cannot block
        # us; not over TLS, where one SSL object must not read and write in two threads.
        reader = threading.Thread(target=read, daemon=True)
        if conn is sock:
            reader.start()
        sent_all = True
        try:
            conn.sendall(exchange.data)
        except OSError:  # the server closed first (a reset, a TLS error, its deadline)
            sent_all = False
        sent = time.monotonic()
        if conn is not sock:
            reader.start()
        if exchange.half_close and sent_all:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_WR)  # TCP's, under TLS too
        done.wait(patience)
        seconds = time.monotonic() - sent
        hung = timed_out[0] or not done.is_set()
    finally:
        with contextlib.suppress(OSError):
            conn.close()
        with contextlib.suppress(OSError):
            sock.close()
    reader.join(5)
    late = sent - connecting >= min(CONNECTION_TIMEOUT, HEADER_TIMEOUT)
    return Outcome(b"".join(chunks), sent_all, reset[0], seconds, hung, late)


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    @property
    def closes(self) -> bool:
        return (self.header("Connection") or "").lower() == "close"


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) [\x20-\x7e]*")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?([\x20-\x7e\t]*)")


class Malformed(Exception):
    """The server's answer is not well-formed HTTP."""


def parse_responses(data: bytes, methods: Sequence[str]) -> tuple[list[Response], bytes]:
    """The responses in ``data`` (interim 1xx dropped) and what is left over (a response
    cut off). A HEAD response has no body whatever its Content-Length."""
    responses: list[Response] = []
    position = 0
    while position < len(data):
        start = position
        end = data.find(b"\r\n\r\n", position)
        if end < 0:
            return responses, data[position:]
        lines = data[position:end].split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise Malformed(f"bad status line {lines[0][:100]!r}")
        headers = []
        for line in lines[1:]:
            field_match = _FIELD.fullmatch(line)
            if field_match is None:
                raise Malformed(f"bad header line {line[:100]!r}")
            headers.append((field_match[1].decode(), field_match[2].decode().strip()))
        status = int(match[1])
        position = end + 4
        if 100 <= status < 200:
            continue  # 100 Continue before the real answer
        response = Response(status, tuple(headers), b"")
        length = response.header("Content-Length")
        if length is None or not length.isdigit():
            raise Malformed(f"{status} without a Content-Length")
        method = methods[len(responses)] if len(responses) < len(methods) else "GET"
        size = 0 if method == "HEAD" else int(length)
        if method == "HEAD" and response.closes and len(data) - position == int(length):
            size = int(length)  # refused before its method was known: a body after all
        if position + size > len(data):
            return responses, data[start:]
        responses.append(replace(response, body=data[position : position + size]))
        position += size
    return responses, b""


_TLS_ALERT = re.compile(rb"(\x15\x03[\x00-\x04]\x00\x02[\x01\x02].)*", re.DOTALL)
HTTP_ON_TLS_PORT = b"HTTP/1.0 400 Bad Request\r\n"


def describe(statuses: frozenset[int]) -> str:
    if statuses >= BAD:
        return " or ".join(["4xx", *map(str, sorted(statuses - BAD))])
    return " or ".join(map(str, sorted(statuses)))


def _tls_port_problems(raw: bytes, received: bytes) -> list[str]:
    if received.startswith(HTTP_ON_TLS_PORT):
        if not raw[:1].isalpha():
            return ["the plain-HTTP 400 for bytes that start with no letter"]
        return []
    if not _TLS_ALERT.fullmatch(received):
        return [f"not a TLS alert or the plain-HTTP 400: {received[:60]!r}"]
    return []


def _answer_problems(expect: Expect, response: Response, label: str) -> list[str]:
    found = []
    if response.status not in expect.statuses:
        found.append(f"{label}: status {response.status}, expected {describe(expect.statuses)}")
    if expect.close is True and not response.closes:
        found.append(f"{label}: connection kept open after a {response.status}")
    if expect.close is False and response.closes:
        found.append(f"{label}: connection closed after a {response.status}")
    content_type = response.header("Content-Type")
    if response.status >= 400 and content_type != "text/plain; charset=utf-8":
        found.append(f"{label}: a {response.status} with Content-Type {content_type}")
    if b"Traceback" in response.body:
        found.append(f"{label}: a traceback in the body")
    return found


def problems(exchange: Exchange, outcome: Outcome, patience: float) -> list[str]:
    """What is wrong with the server's answer to ``exchange`` (empty: nothing)."""
    found: list[str] = []
    if outcome.hung or outcome.seconds > patience:
        found.append(f"connection still open {outcome.seconds:.1f} s after the client was done")
    if exchange.raw is not None:  # raw bytes to the TLS port
        return found + _tls_port_problems(exchange.raw, outcome.received)
    requests = exchange.requests
    try:
        responses, rest = parse_responses(outcome.received, [r.method for r in requests])
    except Malformed as exc:
        return [*found, f"malformed answer: {exc}"]
    # A reset can take answers with it: then only what did arrive is checked.
    cut_by_reset = outcome.reset or not outcome.sent_all
    if rest and not cut_by_reset:
        found.append(f"a response cut off: {rest[:80]!r}")
    if len(responses) > len(requests):
        return [*found, f"{len(responses)} responses to {len(requests)} requests"]
    for index, (request, response) in enumerate(zip(requests, responses, strict=False)):
        label = f"request {index + 1} of {len(requests)} ({request.expect.why or 'fine'})"
        found += _answer_problems(request.expect, response, label)
        if response.closes and index + 1 < len(responses):
            found.append(f"{label}: more responses after Connection: close")
    answered = len(responses)
    if answered < len(requests) and not cut_by_reset and not outcome.late:
        unanswered = requests[answered].expect
        if not (answered and responses[-1].closes) and not unanswered.silent_ok:
            why = unanswered.why or "fine"
            found.append(f"request {answered + 1} of {len(requests)} ({why}) got no answer")
    return found


# --- what the server says about itself -------------------------------------------------

# What a connection may fail with: the client's doing (reset, timeout, broken TLS).
EXPECTED_FAILURES = (ConnectionError, TimeoutError, ssl.SSLError)


class Watch(logging.Handler):
    """Collects what the web server logs about failures: any exception that escaped a
    connection's handler (``handle_error`` logs it with its traceback), any warning or
    error, and exceptions that reach ``threading.excepthook``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if record.exc_info and not isinstance(exc, EXPECTED_FAILURES):
            trace = logging.Formatter().formatException(record.exc_info)
            self._add(f"{record.getMessage()}: {exc!r}\n{trace}")
        elif record.levelno >= logging.WARNING:
            self._add(f"{record.levelname}: {record.getMessage()}")

    def _add(self, text: str) -> None:
        with self._lock:
            self.failures.append(text)

    def _excepthook(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        self._add(f"thread {name}: {args.exc_type.__name__}: {args.exc_value}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[Watch]:
        logger = logging.getLogger("ses_exporter.web")
        level, propagate, hook = logger.level, logger.propagate, threading.excepthook
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # the debug lines of thousands of connections: not to the console
        threading.excepthook = self._excepthook
        try:
            yield self
        finally:
            threading.excepthook = hook
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


# --- the server under test, and a scraper beside the fuzzing ----------------------------


class FuzzApp(FakeApp):
    """The tests' fake daemon, ready (so /-/ready is 200 like every read-only route)."""

    def reset(self) -> None:
        super().reset()
        self.ready = True


@dataclass
class Served:
    """A started server: its port and, with TLS, the client context and credentials."""

    server: WebServer
    app: FuzzApp
    context: ssl.SSLContext | None
    auth: bool

    @property
    def port(self) -> int:
        return self.server.port

    def open_connections(self) -> int:
        """Connections the server tracks as open now (a leak never drops back to 0)."""
        httpd = self.server._server._httpd
        with httpd._connections_lock:
            return len(httpd._connections)


def serve(pki: Pki | None = None) -> Served:
    """A started WebServer on a free port: plain HTTP, or with ``pki`` TLS and basic auth."""
    config = None
    if pki is not None:
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        config = parse_web_config(
            f"tls_server_config: {{cert_file: {pki.server_cert}, key_file: {pki.server_key}}}\n"
            f"basic_auth_users: {{prometheus: {hashed}}}\n"
        )
    app = FuzzApp()
    server = WebServer(
        app,  # type: ignore[arg-type]
        "127.0.0.1:0",
        web_config=config,
        reload=app.reload,
        connection_timeout=CONNECTION_TIMEOUT,
        header_timeout=HEADER_TIMEOUT,
    )
    server.start()
    return Served(server, app, client_context(pki) if pki is not None else None, pki is not None)


class Scraper:
    """Scrapes /metrics on a new connection every ``interval`` while the fuzzing runs."""

    def __init__(self, served: Served, interval: float = 0.05) -> None:
        self.served, self.interval = served, interval
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-scraper", daemon=True)

    def scrape(self) -> None:
        served = self.served
        conn: http.client.HTTPConnection
        if served.context is None:
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=PATIENCE)
        else:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", served.port, context=served.context, timeout=PATIENCE
            )
        started = time.monotonic()
        try:
            conn.request("GET", TELEMETRY_PATH, headers={"Authorization": GOOD_AUTH})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or body != METRICS:
                self.failures.append(f"scrape: {response.status} {body[:60]!r}")
            else:
                self.ok += 1
        except (OSError, http.client.HTTPException) as exc:
            seconds = time.monotonic() - started
            self.failures.append(f"scrape: {exc!r} after {seconds:.1f} s")
        finally:
            conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.scrape()

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(PATIENCE)
        self.scrape()  # and once more after the fuzzing


def wait_for_no_connections(served: Served, timeout: float = PATIENCE) -> int:
    """The connections still open after ``timeout`` (0 as soon as none are)."""
    deadline = time.monotonic() + timeout
    while (count := served.open_connections()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")
