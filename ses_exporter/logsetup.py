"""Logging setup: logfmt or JSON lines on stderr, with secrets redacted.

One handler on the root logger renders every record as one line::

    ts=2026-11-26T05:12:03.123Z level=warn logger=ses_exporter.poller msg="poll failed" \
account_id=123456789012 region=us-east-1 error=Throttling

Fields come from ``extra={...}``: every LogRecord attribute that logging itself does not set.
The exporter holds credentials to production AWS accounts, so msg, every field and the
exception text pass through one precompiled regex that replaces registered literal secrets,
AWS access key ids and the values of secret-looking keys (``password=...``,
``"SessionToken": "..."``, ``Authorization: ...``) with ``<redacted>``; fields whose name looks
secret are redacted whole.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
import urllib.parse
from functools import lru_cache
from typing import Any, TextIO

__all__ = ["FORMATS", "LEVELS", "REDACTED", "redact", "register_secret", "setup_logging"]

LEVELS: tuple[str, ...] = ("debug", "info", "warn", "warning", "error")
FORMATS: tuple[str, ...] = ("logfmt", "json")
REDACTED = "<redacted>"

_LEVEL_NUMBERS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# go-kit/promslog spell WARNING as "warn"; keep the other names as logging has them.
_LEVEL_NAMES = {logging.WARNING: "warn"}
# botocore logs request headers and bodies at DEBUG; never let them through, even with
# --log.level=debug.
_NOISY_LOGGERS = (
    "botocore",
    "boto3",
    "urllib3",
    "apscheduler",
    "apscheduler.executors.default",
    "apscheduler.scheduler",
)
_MIN_SECRET_LENGTH = 4

# Attributes logging sets on every record; anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_RESERVED_KEYS = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})

_SECRET_NAME = re.compile(
    r"secret|token|passw(?:or)?d|external[_-]?id|credential|authorization", re.IGNORECASE
)
# key, separator (=, :, quotes, JSON-in-string escapes, or an XML tag end), then the value:
# up to the closing quote if quoted, to the end of the line for Authorization headers (their
# value has spaces: "Basic dXNlcjpw"), else up to a delimiter. An empty value is left alone.
_KEY_VALUE = (
    r"(?i:(?P<auth>(?:proxy-)?authorization)|secret[_-]?access[_-]?key|secret"
    # A bare "token" would eat AWS's own words ("ExpiredToken: The security token ...").
    r"|(?<![a-z])(?:session|security|access|refresh|id|bearer)?[_-]?token"
    r"|passw(?:or)?d|external[_-]?id)"
    r"(?:\\?[\"']?[ \t]*[:=][ \t]*\\?(?P<q>[\"'])?|>)"
    r"(?P<val>(?(q)[^\"'\\\r\n]*|(?(auth)[^\"'\r\n<]*|[^\s\"'\\,;&<>]*)))"
)
_ACCESS_KEY_ID = r"(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}"


class _Redactor:
    """Literal secrets plus fixed patterns, compiled into a single regex."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so a secret that extends another is redacted whole.
        literals = sorted(self._secrets, key=lambda s: (-len(s), s))
        parts = [re.escape(s) for s in literals] + [_ACCESS_KEY_ID, _KEY_VALUE]
        return re.compile("|".join(parts))

    def add(self, value: str) -> None:
        # Also the forms a secret takes inside a URL or a JSON string.
        variants = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            if variants <= self._secrets:
                return
            self._secrets |= variants
            self._pattern = self._compile()

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = self._compile()

    def redact(self, text: str) -> str:
        return self._pattern.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    start, end = match.span("val")
    if start == -1:  # a literal secret or an access key id
        return REDACTED
    if start == end:
        return match.group(0)
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + REDACTED + whole[end - offset :]


_REDACTOR = _Redactor()


def register_secret(value: str | None) -> None:
    """Redact ``value`` wherever it appears in log output from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _REDACTOR.add(value)


def redact(text: str) -> str:
    """Apply the log redaction to ``text`` (e.g. an error shown on the landing page)."""
    return _REDACTOR.redact(text)


@lru_cache(maxsize=1024)
def _is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


@lru_cache(maxsize=1024)
def _field_key(name: str) -> str:
    key = re.sub(r"[\x00-\x20=\"\x7f]", "_", name) or "_"
    return f"{key}_" if key in _RESERVED_KEYS else key


def _scrub(value: Any) -> Any:
    """Redact a field value, keeping JSON-native types; anything else becomes str()."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {
            str(k): REDACTED if _is_secret_name(str(k)) else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    text = value if isinstance(value, str) else str(value)
    redacted = redact(text)
    # An int stays a number unless it is a registered secret (numeric external IDs).
    return value if isinstance(value, int) and redacted == text else redacted


class _StructuredFormatter(logging.Formatter):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self._render = _render_json if fmt == "json" else _render_logfmt

    def format(self, record: logging.LogRecord) -> str:
        # Not record.msecs: in 3.11 it is computed so that .123 can come out as 122.
        seconds, millis = divmod(int(record.created * 1000), 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        items: list[tuple[str, Any]] = [
            ("ts", f"{ts}.{millis:03d}Z"),
            ("level", _LEVEL_NAMES.get(record.levelno, record.levelname.lower())),
            ("logger", record.name),
            ("msg", redact(record.getMessage())),
        ]
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS:
                scrubbed = REDACTED if _is_secret_name(name) else _scrub(value)
                items.append((_field_key(name), scrubbed))
        if record.exc_info and record.exc_info[0] is not None:
            items.append(("exc", redact(self.formatException(record.exc_info))))
        elif record.exc_text:
            items.append(("exc", redact(record.exc_text)))
        if record.stack_info:
            items.append(("stack", redact(self.formatStack(record.stack_info))))
        return self._render(items)


def _render_json(items: list[tuple[str, Any]]) -> str:
    return json.dumps(dict(items), ensure_ascii=False, default=str)


_NEEDS_QUOTES = re.compile(r"[\x00-\x20=\"\x7f]")


def _logfmt_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    # JSON string escaping is what go-logfmt does: \" \\ \n \t \u0000.
    return json.dumps(text, ensure_ascii=False)


def _render_logfmt(items: list[tuple[str, Any]]) -> str:
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in items)


def setup_logging(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Send all logging to one handler on ``stream`` (default stderr); safe to call again."""
    levelno = _LEVEL_NUMBERS.get(level.lower())
    if levelno is None:
        raise ValueError(f"invalid log level {level!r}: choose one of {', '.join(LEVELS)}")
    if fmt.lower() not in FORMATS:
        raise ValueError(f"invalid log format {fmt!r}: choose one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_StructuredFormatter(fmt.lower()))
    # The handler level also filters records propagated from loggers with their own level.
    handler.setLevel(levelno)
    handler.set_name("ses_exporter")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _StructuredFormatter)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(levelno)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, levelno))
