"""Tests for ses_exporter.logsetup: exact logfmt/JSON lines and redaction of secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ses_exporter import logsetup
from ses_exporter.logsetup import register_secret, setup_logging

# 2026-11-26T05:12:03.123Z; 3.11 computes record.msecs from this as 122.
FROZEN_TIME = 1795669923.123
TS = "ts=2026-11-26T05:12:03.123Z"
NOISY = (
    "botocore",
    "boto3",
    "urllib3",
    "apscheduler",
    "apscheduler.executors.default",
    "apscheduler.scheduler",
)
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

log = logging.getLogger("ses_exporter.poller")


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy_levels = {name: logging.getLogger(name).level for name in NOISY}
    factory = logging.getLogRecordFactory()

    def frozen_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.created = FROZEN_TIME
        return record

    logging.setLogRecordFactory(frozen_factory)
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy_levels.items():
        logging.getLogger(name).setLevel(noisy_level)
    logsetup._REDACTOR.clear()


def capture(level: str = "info", fmt: str = "logfmt") -> io.StringIO:
    stream = io.StringIO()
    setup_logging(level, fmt, stream)
    return stream


def our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == "ses_exporter"]


def raise_and_log(message: str) -> None:
    try:
        raise ValueError(message)
    except ValueError:
        log.exception("poll failed", extra={"region": "us-east-1"})


# --- logfmt -------------------------------------------------------------------------------


def test_logfmt_line() -> None:
    stream = capture()
    log.warning(
        "poll failed",
        extra={"account_id": "123456789012", "region": "us-east-1", "error": "Throttling"},
    )
    assert stream.getvalue() == (
        f'{TS} level=warn logger=ses_exporter.poller msg="poll failed" '
        "account_id=123456789012 region=us-east-1 error=Throttling\n"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', r'"say \"hi\""'),
        ("", '""'),
        ("back\\slash", "back\\slash"),
        ("a \\ b", r'"a \\ b"'),
        ("line1\nline2", r'"line1\nline2"'),
        ("tab\there", r'"tab\there"'),
        ("ünïcode", "ünïcode"),
        (True, "true"),
        (None, "null"),
        (3, "3"),
        (0.25, "0.25"),
        ({"a": 1, "b": "x y"}, r'"{\"a\":1,\"b\":\"x y\"}"'),
        (["x", 2], r'"[\"x\",2]"'),
    ],
)
def test_logfmt_value_quoting(value: object, rendered: str) -> None:
    stream = capture()
    log.info("m", extra={"v": value})
    assert stream.getvalue() == f"{TS} level=info logger=ses_exporter.poller msg=m v={rendered}\n"


def test_logfmt_message_with_args_and_newline() -> None:
    stream = capture()
    log.error("%d targets\nfailed", 3)
    assert stream.getvalue() == (
        f'{TS} level=error logger=ses_exporter.poller msg="3 targets\\nfailed"\n'
    )


def test_logfmt_exception_is_one_escaped_field() -> None:
    stream = capture()
    raise_and_log("boom")
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert output.startswith(
        f'{TS} level=error logger=ses_exporter.poller msg="poll failed" region=us-east-1 '
        'exc="Traceback (most recent call last):\\n  File \\"'
    )
    assert output.endswith('\\nValueError: boom"\n')


def test_reserved_and_odd_field_names_are_renamed() -> None:
    stream = capture()
    log.info("m", extra={"level": "x", "ts": 1, "exc": 2, "has space": 3})
    assert stream.getvalue() == (
        f"{TS} level=info logger=ses_exporter.poller msg=m level_=x ts_=1 exc_=2 has_space=3\n"
    )


# --- json ---------------------------------------------------------------------------------


def test_json_line_keys_and_order() -> None:
    stream = capture(fmt="json")
    log.warning("poll failed", extra={"zone": "z", "account_id": "123456789012", "count": 2})
    line = stream.getvalue()
    assert line.endswith("\n")
    assert line.count("\n") == 1
    record = json.loads(line)
    assert list(record) == ["ts", "level", "logger", "msg", "zone", "account_id", "count"]
    assert record == {
        "ts": "2026-11-26T05:12:03.123Z",
        "level": "warn",
        "logger": "ses_exporter.poller",
        "msg": "poll failed",
        "zone": "z",
        "account_id": "123456789012",
        "count": 2,
    }


def test_json_values_keep_native_types_or_become_str() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque thing"

    stream = capture(fmt="json")
    log.info(
        "m",
        extra={
            "obj": Opaque(),
            "flag": False,
            "none": None,
            "ratio": 0.5,
            "nan": float("nan"),
            "nested": {"a": [1, "two"], 3: (4,)},
        },
    )
    record = json.loads(stream.getvalue())
    assert record["obj"] == "opaque thing"
    assert record["flag"] is False
    assert record["none"] is None
    assert record["ratio"] == 0.5
    assert record["nan"] == "nan"
    assert record["nested"] == {"a": [1, "two"], "3": [4]}


def test_json_exception_is_last_key() -> None:
    stream = capture(fmt="json")
    raise_and_log("boom")
    line = stream.getvalue()
    assert line.count("\n") == 1
    record = json.loads(line)
    assert list(record) == ["ts", "level", "logger", "msg", "region", "exc"]
    assert record["exc"].startswith("Traceback (most recent call last):\n")
    assert record["exc"].endswith("ValueError: boom")


# --- setup --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", ["debug", "info", "warn", "error"]),
        ("info", ["info", "warn", "error"]),
        ("warn", ["warn", "error"]),
        ("WARNING", ["warn", "error"]),
        ("error", ["error"]),
    ],
)
def test_level_filtering(level: str, expected: list[str]) -> None:
    stream = capture(level, "json")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert [json.loads(line)["level"] for line in stream.getvalue().splitlines()] == expected


def test_noisy_libraries_need_warning_and_the_configured_level() -> None:
    stream = capture("debug")
    for name in NOISY:
        assert logging.getLogger(name).level == logging.WARNING
    logging.getLogger("botocore.endpoint").debug("Sending http request")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("urllib3.connectionpool").warning("Retrying")
    assert stream.getvalue() == f"{TS} level=warn logger=urllib3.connectionpool msg=Retrying\n"

    stream = capture("error")
    logging.getLogger("urllib3.connectionpool").warning("Retrying")
    assert stream.getvalue() == ""


def test_setup_is_idempotent() -> None:
    first = capture()
    second = capture(fmt="json")
    assert len(our_handlers()) == 1
    log.info("once")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["msg"] == "once"
    assert second.getvalue().count("\n") == 1


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging()
    log.info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f'{TS} level=info logger=ses_exporter.poller msg="to stderr"\n'


@pytest.mark.parametrize(
    ("level", "fmt", "message"),
    [
        ("verbose", "logfmt", "invalid log level 'verbose': choose one of debug, info, warn"),
        ("info", "text", "invalid log format 'text': choose one of logfmt, json"),
    ],
)
def test_invalid_arguments(level: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        setup_logging(level, fmt)
    assert our_handlers() == []


def test_public_constants() -> None:
    assert logsetup.LEVELS == ("debug", "info", "warn", "warning", "error")
    assert logsetup.FORMATS == ("logfmt", "json")


# --- redaction ----------------------------------------------------------------------------

Render = Callable[[str], str]


@pytest.fixture(params=["logfmt", "json"])
def msg_of(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """Log a message in either format and return the msg as it was written."""
    fmt = request.param
    stream = capture(fmt=fmt)

    def emit(message: str) -> str:
        stream.seek(0)
        stream.truncate()
        log.info("%s", message)
        line = stream.getvalue()
        if fmt == "json":
            return str(json.loads(line)["msg"])
        prefix = f"{TS} level=info logger=ses_exporter.poller msg="
        assert line.startswith(prefix)
        value = line[len(prefix) :].rstrip("\n")
        return str(json.loads(value)) if value.startswith('"') else value

    yield emit


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"using key {AKID} now", "using key <redacted> now"),
        ("ASIAABCDEFGHIJKLMNOP", "<redacted>"),
        (f"aws_secret_access_key={SECRET}", "aws_secret_access_key=<redacted>"),
        (f"aws_secret_access_key = {SECRET} x", "aws_secret_access_key = <redacted> x"),
        ("aws_session_token=FwoGZXIvYXdzE+/= next", "aws_session_token=<redacted> next"),
        (f"{{'SecretAccessKey': '{SECRET}', 'X': 1}}", "{'SecretAccessKey': '<redacted>', 'X': 1}"),
        ('{"SessionToken": "IQoJb3 with space"}', '{"SessionToken": "<redacted>"}'),
        ("<SessionToken>FwoG/x+y=</SessionToken>", "<SessionToken><redacted></SessionToken>"),
        (
            "GET /?X-Amz-Security-Token=IQo%2Fab&X-Amz-Date=1",
            "GET /?X-Amz-Security-Token=<redacted>&X-Amz-Date=1",
        ),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: <redacted>"),
        (
            f"{{'Authorization': 'AWS4-HMAC-SHA256 Credential={AKID}/x', 'Host': 'h'}}",
            "{'Authorization': '<redacted>', 'Host': 'h'}",
        ),
        ("password=hunter2&user=bob", "password=<redacted>&user=bob"),
        ("password='pass word'", "password='<redacted>'"),
        ("AssumeRole ExternalId=ab12-cd34 role=x", "AssumeRole ExternalId=<redacted> role=x"),
        ("external_id: 'ab12'", "external_id: '<redacted>'"),
        ('{\\"password\\": \\"abc\\"}', '{\\"password\\": \\"<redacted>\\"}'),
        ("password: ", "password: "),
        ("nothing to see; account 123456789012", "nothing to see; account 123456789012"),
    ],
)
def test_patterns_redacted_in_msg(msg_of: Render, text: str, redacted: str) -> None:
    assert msg_of(text) == redacted


def test_registered_secret_redacted_in_msg(msg_of: Render) -> None:
    register_secret("Extern@l-1d!")
    register_secret(SECRET)
    assert msg_of("assuming role with Extern@l-1d! now") == "assuming role with <redacted> now"
    assert msg_of(f"key {SECRET}.") == "key <redacted>."
    # As it appears in a URL query string or inside a JSON-encoded string.
    assert msg_of("url ?k=Extern%40l-1d%21") == "url ?k=<redacted>"


def test_short_or_empty_secrets_are_ignored(msg_of: Render) -> None:
    register_secret(None)
    register_secret("")
    register_secret("abc")
    assert msg_of("abc is not a secret") == "abc is not a secret"


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_redaction_in_fields(fmt: str) -> None:
    register_secret("my-external-id")
    stream = capture(fmt=fmt)
    log.info(
        "assumed",
        extra={
            "role": "arn:aws:iam::123456789012:role/x",
            "external_id": "whatever",
            "SessionToken": "FwoG",
            "basic_auth_password": "pw",
            "aws_credentials": {"key": "v"},
            "Authorization": "Bearer x",
            "note": "id my-external-id used",
            "key": AKID,
            "cfg": {"ExternalId": "abc", "name": f"{AKID} here", "n": 1},
        },
    )
    fields = {
        "role": "arn:aws:iam::123456789012:role/x",
        "external_id": "<redacted>",
        "SessionToken": "<redacted>",
        "basic_auth_password": "<redacted>",
        "aws_credentials": "<redacted>",
        "Authorization": "<redacted>",
        "note": "id <redacted> used",
        "key": "<redacted>",
        "cfg": {"ExternalId": "<redacted>", "name": "<redacted> here", "n": 1},
    }
    if fmt == "json":
        assert json.loads(stream.getvalue()) == {
            "ts": "2026-11-26T05:12:03.123Z",
            "level": "info",
            "logger": "ses_exporter.poller",
            "msg": "assumed",
            **fields,
        }
    else:
        assert stream.getvalue() == (
            f"{TS} level=info logger=ses_exporter.poller msg=assumed "
            "role=arn:aws:iam::123456789012:role/x external_id=<redacted> "
            "SessionToken=<redacted> basic_auth_password=<redacted> aws_credentials=<redacted> "
            'Authorization=<redacted> note="id <redacted> used" key=<redacted> '
            r'cfg="{\"ExternalId\":\"<redacted>\",\"name\":\"<redacted> here\",\"n\":1}"'
            "\n"
        )


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_numeric_field_equal_to_a_secret_is_redacted(fmt: str) -> None:
    register_secret("987654321")
    stream = capture(fmt=fmt)
    log.info("m", extra={"n": 987654321, "other": 42})
    if fmt == "json":
        record = json.loads(stream.getvalue())
        assert (record["n"], record["other"]) == ("<redacted>", 42)
    else:
        assert stream.getvalue().endswith(" n=<redacted> other=42\n")


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_secrets_redacted_in_exception(fmt: str) -> None:
    register_secret("s3cr3t-external-id")
    stream = capture(fmt=fmt)
    raise_and_log(f"AssumeRole failed for s3cr3t-external-id with {AKID} password=pw")
    output = stream.getvalue()
    assert "s3cr3t" not in output
    assert AKID not in output
    tail = "ValueError: AssumeRole failed for <redacted> with <redacted> password=<redacted>"
    if fmt == "json":
        assert json.loads(output)["exc"].endswith(tail)
    else:
        assert output.endswith(f'\\n{tail}"\n')


def test_redact_leaves_clean_text_alone() -> None:
    text = "poll ok account_id=123456789012 region=us-east-1 tokens_used=3"
    assert logsetup.redact(text) == text
