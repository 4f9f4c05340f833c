"""Shared fixtures: an in-process moto AWS, fake answers for what moto lacks, free ports."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests import cloudwatch_like
from tests.fakes import FakeAccountApi


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden .prom files from the current output instead of comparing",
    )


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that run main() install the exporter's log handler: take it away again."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process, with fake credentials so nothing can reach real AWS, answering
    GetMetricData as CloudWatch does (``cloudwatch_like``: no sum across dimension sets)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with mock_aws(), cloudwatch_like.installed():
        yield


@pytest.fixture
def fake_api() -> FakeAccountApi:
    return FakeAccountApi()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
