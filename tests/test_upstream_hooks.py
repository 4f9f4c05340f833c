"""The private APScheduler and botocore hooks the exporter relies on, on the installed versions.

Neither library has a public way to do what the exporter needs: APScheduler to hand a job
to our own queue (``poller._TickFirstExecutor``) and to keep its skipped-tick warning out
of the log (``poller._DropSkipWarnings``), botocore to share service models, client
classes and connection pools between targets (``aws.SharedBotocore``,
``aws.ClientFactory._share_pool``). pyproject.toml pins both to the minor versions these
tests passed on; before widening a pin, run this file on the new version. Each failure
names the hook that moved, so the fix starts in the right place.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import apscheduler
import botocore
import botocore.client
import botocore.endpoint
import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler

from ses_exporter import poller
from ses_exporter.aws import ClientFactory, RequestCounter

APSCHEDULER = f"APScheduler {apscheduler.__version__}"
BOTOCORE = f"botocore {botocore.__version__}"
PATIENCE = 30.0  # a scheduler thread on a loaded machine; only a broken hook takes this long


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# --- APScheduler ------------------------------------------------------------------------


def test_apscheduler_executor_hooks_have_the_signatures_the_poller_calls() -> None:
    expected = {
        "BaseExecutor._do_submit_job": (
            BaseExecutor,
            "_do_submit_job",
            ["self", "job", "run_times"],
        ),
        "BaseExecutor._run_job_success": (
            BaseExecutor,
            "_run_job_success",
            ["self", "job_id", "events"],
        ),
        "BaseExecutor._run_job_error": (
            BaseExecutor,
            "_run_job_error",
            ["self", "job_id", "exc", "traceback"],
        ),
    }
    for name, (owner, attribute, names) in expected.items():
        hook = getattr(owner, attribute, None)
        assert hook is not None, f"{APSCHEDULER} has no {name}: poller._TickFirstExecutor uses it"
        assert parameters(hook) == names, (
            f"{APSCHEDULER} changed {name}{inspect.signature(hook)}: "
            f"poller._TickFirstExecutor calls it as {attribute}({', '.join(names[1:])})"
        )
    assert parameters(run_job) == ["job", "jobstore_alias", "run_times", "logger_name"], (
        f"{APSCHEDULER} changed apscheduler.executors.base.run_job{inspect.signature(run_job)}: "
        "poller._TickFirstExecutor._work calls run_job(job, job._jobstore_alias, run_times, ...)"
    )


def test_apscheduler_hands_jobs_to_the_poller_executor_through_its_hooks() -> None:
    """A real scheduler with the poller's executor: every job reaches ``_do_submit_job``,
    carries ``_jobstore_alias``, runs through ``run_job`` and reports its outcome."""
    submitted: list[str] = []
    events: dict[str, JobExecutionEvent] = {}
    executor = poller._TickFirstExecutor(2, lambda job, scheduled: submitted.append(job))
    scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
    scheduler.add_listener(
        lambda event: events.__setitem__(event.job_id, event), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
    )

    def fails() -> None:
        raise ValueError("a failing poll")

    scheduler.start()
    try:
        now = datetime.now(UTC)
        ok = scheduler.add_job(lambda: 42, "date", run_date=now, id="ok")
        bad = scheduler.add_job(fails, "date", run_date=now, id="bad")
        for job in (ok, bad):
            assert getattr(job, "_jobstore_alias", None) == "default", (
                f"{APSCHEDULER} no longer sets Job._jobstore_alias on added jobs: "
                "poller._TickFirstExecutor._work passes it to run_job"
            )
        wait_until(
            lambda: {"ok", "bad"} <= set(submitted),
            f"{APSCHEDULER} did not call BaseExecutor._do_submit_job for every job "
            f"(saw {submitted}): poller._TickFirstExecutor never sees its jobs, so ticks are "
            "neither queued ahead of first polls nor timed for the scheduling lag",
        )
        wait_until(
            lambda: {"ok", "bad"} <= set(events),
            f"{APSCHEDULER} reported no outcome for the jobs (saw {sorted(events)}): "
            "poller._TickFirstExecutor reports through BaseExecutor._run_job_success",
        )
    finally:
        scheduler.shutdown(wait=True)
    assert events["ok"].code == EVENT_JOB_EXECUTED and events["ok"].retval == 42
    assert events["bad"].code == EVENT_JOB_ERROR and isinstance(events["bad"].exception, ValueError)


class _Recorder(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False  # nothing reaches the test's log


def test_the_skip_filter_still_matches_apscheduler_skipped_tick_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tick that comes while the job still runs: APScheduler logs a warning per tick,
    which the poller drops (it counts skips and logs episodes) by matching its text."""
    recorder = _Recorder()
    # Only the recorder: the poller's filter, installed on this logger process-wide by any
    # Poller, would drop the record before it could be seen.
    monkeypatch.setattr(logging.getLogger("apscheduler.scheduler"), "filters", [recorder])
    release, skipped = threading.Event(), threading.Event()
    executor = poller._TickFirstExecutor(2, lambda job, scheduled: None)
    scheduler = BackgroundScheduler(
        executors={"default": executor},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )

    def on_skip(event: JobEvent) -> None:
        skipped.set()

    scheduler.add_listener(on_skip, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        scheduler.add_job(lambda: release.wait(PATIENCE), "interval", seconds=0.05, id="busy")
        assert skipped.wait(PATIENCE), f"{APSCHEDULER} sent no EVENT_JOB_MAX_INSTANCES"
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    warnings = [r for r in recorder.records if r.levelno == logging.WARNING]
    assert any(r.msg == poller._SKIPPED_MESSAGE for r in warnings), (
        f"{APSCHEDULER} words its skipped-tick warning differently "
        f"({[r.msg for r in warnings]}): poller._SKIPPED_MESSAGE no longer matches, so "
        "_DropSkipWarnings lets a warning per skipped tick through"
    )
    skip = next(r for r in warnings if r.msg == poller._SKIPPED_MESSAGE)
    assert not poller._DROP_SKIP_WARNINGS.filter(skip)


# --- botocore ---------------------------------------------------------------------------


def test_botocore_still_builds_clients_through_the_methods_aws_py_wraps() -> None:
    creator = botocore.client.ClientCreator
    source = inspect.getsource(creator.create_client)
    for hook, names in (
        ("_load_service_model", ["self", "service_name", "api_version"]),
        ("_create_client_class", ["self", "service_name", "service_model"]),
    ):
        assert f"self.{hook}(" in source, (
            f"{BOTOCORE}: ClientCreator.create_client no longer calls {hook}, which "
            "aws._cache_models_and_classes wraps to build it once per service"
        )
        assert parameters(getattr(creator, hook)) == names, (
            f"{BOTOCORE} changed ClientCreator.{hook}: aws._cache_models_and_classes wraps it "
            f"as {hook}({', '.join(names[1:])})"
        )
    assert "self.http_session.send(" in inspect.getsource(botocore.endpoint.Endpoint._send), (
        f"{BOTOCORE}: Endpoint no longer sends through its http_session attribute, which "
        "aws.ClientFactory._share_pool replaces to share one connection pool per endpoint"
    )


def test_two_targets_share_client_class_service_model_and_connection_pool(aws: None) -> None:
    """Two accounts (two botocore sessions, one assuming a role) in one region."""
    factory = ClientFactory(RequestCounter())
    common = {"external_id": None, "endpoint_url": None, "region": "eu-west-1"}
    one = factory.account_session(profile=None, role_arn=None, **common)
    two = factory.account_session(
        profile=None, role_arn="arn:aws:iam::111122223333:role/ses-exporter", **common
    )
    assert one.session is not two.session
    for service in ("sesv2", "ses", "cloudwatch"):
        a = one.client(service, "eu-west-1")
        b = two.client(service, "eu-west-1")
        assert type(a) is type(b), (
            f"{BOTOCORE}: each {service} client has its own class; the wrapped "
            "ClientCreator._create_client_class is no longer used (aws.SharedBotocore)"
        )
        assert a.meta.service_model is b.meta.service_model, (
            f"{BOTOCORE}: each {service} client has its own service model; the wrapped "
            "ClientCreator._load_service_model is no longer used (aws.SharedBotocore)"
        )
        assert a.exceptions is b.exceptions, (
            f"{BOTOCORE}: each {service} session builds its own exception classes; the "
            "shared exceptions_factory component is no longer used (aws.SharedBotocore)"
        )
        endpoint_a = getattr(a, "_endpoint", None)
        endpoint_b = getattr(b, "_endpoint", None)
        assert endpoint_a is not None and hasattr(endpoint_a, "http_session"), (
            f"{BOTOCORE}: a client has no _endpoint.http_session to share "
            "(aws.ClientFactory._share_pool)"
        )
        assert endpoint_a.http_session is endpoint_b.http_session, (
            f"{BOTOCORE}: two targets' {service} clients have their own connection pools "
            "(client._endpoint.http_session, aws.ClientFactory._share_pool)"
        )
