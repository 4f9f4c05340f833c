"""``ses-exporter backfill``: every target's history in one OpenMetrics file, or all or nothing.

Targets are the daemon's (``build_targets`` over ``accounts[]`` and the accounts each
``organizations[]`` entry discovers, once), or with ``--shard.*`` those ``Shard.select``
gives that replica, as the daemon does. Up to ``WORKERS`` targets are read at once,
each by its own calls in sequence (``history.fetch_history``); the main thread turns each
history into series (``series``) as it arrives, in target order. Nothing is written
until every target has answered: a target that fails is reported by name and, unless
``--keep-going``, the command exits 1 with no output. ``--output FILE`` is written next
to FILE and renamed into place, so FILE is whole or untouched. A gap fill (``--start``)
continues the live counters from Prometheus (``--continue-from``, see ``prometheus``)
or is told that the exporter restarted (``--exporter-restarted``).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from ..aws import ClientFactory, ClientHook, RequestCounter, describe_error
from ..collectors import cloudwatch as cloudwatch_collector
from ..collectors.cloudwatch_source import Window
from ..config import Config
from ..config_types import check_label_name, parse_duration
from ..discovery import OrganizationDiscovery
from ..logsetup import redact
from ..shard import POD_INDEX_ENV, Shard, ShardError
from ..targets import Discovered, Target, build_targets
from .history import TargetHistory, fetch_history, history_window, iso
from .prometheus import PrometheusError, check_url, live_values
from .series import OpenMetricsWriter, SeriesSettings, target_steps, threshold_steps

WORKERS = 4  # targets read at once; each target's own calls stay sequential
# CloudWatch's list price for GetMetricData (us-east-1): USD 0.01 per 1,000 metrics requested.
USD_PER_METRIC = 0.01 / 1000
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROMTOOL_BLOCK_DURATION = "24h"  # fewer passes over the file and fewer compactions than 2h


@dataclass(frozen=True)
class BackfillOptions:
    days: int | None = None  # None: as far back as AWS keeps (14 days before now)
    step: int = 60  # seconds: the sample interval and the GetMetricData period
    output: str = "-"  # a file, or "-" for stdout
    labels: tuple[tuple[str, str], ...] = ()  # --label NAME=VALUE, e.g. job and instance
    keep_going: bool = False
    tsdb: str | None = None  # run promtool into this directory
    end: float | None = None  # --end, Unix seconds; None: now
    start: float | None = None  # --start, Unix seconds; None: --days before the end
    shard: Shard = field(default_factory=Shard)  # --shard.count/.index: that replica's only
    continue_from: str | None = None  # --continue-from: Prometheus's base URL
    exporter_restarted: bool = False  # --exporter-restarted: a gap's counters from 0


@dataclass
class BackfillReport:
    targets: int = 0
    failed: list[str] = field(default_factory=list)  # "what: why", one per failure
    calls: int = 0  # GetMetricData requests answered
    metrics: int = 0  # metrics they requested (billed)
    vdm_calls: int = 0  # BatchGetMetricData calls answered (free)
    vdm_queries: int = 0  # the queries they carried
    notes: list[str] = field(default_factory=list)  # "what: why", targets written without VDM
    samples: int = 0
    written: bool = False
    continued: int | None = None  # --continue-from: counter series given a start value
    live_counters: int = 0  # --continue-from: counter series Prometheus had

    def summary(self) -> str:
        cost = self.metrics * USD_PER_METRIC
        failed = f" ({len(self.failed)} failed)" if self.failed else ""
        continued = ""
        if self.continued is not None:
            continued = (
                f"; {self.continued} counter series continue the live ones "
                f"({self.live_counters} in Prometheus at --start)"
            )
        vdm = ""
        if self.vdm_calls:
            vdm = f"; {self.vdm_calls} BatchGetMetricData calls, {self.vdm_queries} queries (free)"
        return (
            f"backfill: {self.targets} targets{failed}, {self.samples} samples; "
            f"{self.calls} GetMetricData calls, {self.metrics} metrics requested ≈ ${cost:.4f}"
            f"{vdm}{continued}"
        )


class UsageError(Exception):
    """Bad flags found only once the targets are known (exit 2)."""


class _Progress:
    """Counts billed requests; draws a one-line bar on stderr if it is a terminal."""

    def __init__(self, report: BackfillReport, stream: TextIO, total: int):
        self._report, self._stream, self._total = report, stream, total
        self._draw = stream.isatty()
        self._lock = threading.Lock()
        self.done = 0

    def count_metrics(self, metrics: int) -> None:
        with self._lock:
            self._report.calls += 1
            self._report.metrics += metrics
            self._show()

    def count_vdm(self, calls: int, queries: int) -> None:
        with self._lock:
            self._report.vdm_calls += calls
            self._report.vdm_queries += queries

    def target_done(self) -> None:
        with self._lock:
            self.done += 1
            self._show()

    def finish(self) -> None:
        if self._draw:
            self._stream.write("\n")
            self._stream.flush()

    def _show(self) -> None:
        if not self._draw:
            return
        width = 30
        filled = width * self.done // max(self._total, 1)
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self._total} targets, "
            f"{self._report.calls} GetMetricData calls"
        )
        self._stream.flush()


def backfill(
    config: Config,
    options: BackfillOptions,
    out: BinaryIO,
    client_hooks: Iterable[ClientHook] = (),
    stderr: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    spill_dir: str | None = None,
) -> BackfillReport:
    """Reads every target's history and writes it to ``out``, unless a target failed and
    ``keep_going`` is off. Raises ``UsageError`` for a --label that a target already has,
    ``PrometheusError`` when --continue-from cannot tell the live values (nothing written)."""
    stderr = sys.stderr if stderr is None else stderr
    window = _window(options, clock())
    report = BackfillReport()
    starts = None
    if options.continue_from is not None:
        # Before any AWS call: the newest live sample before the first backfilled one.
        found = live_values(options.continue_from, window.start - 0.001, dict(options.labels))
        if not found:
            raise PrometheusError(
                f"--continue-from {options.continue_from}: Prometheus has no counter series "
                f"with the --label labels in the 5 minutes before {iso(window.start)}: "
                "--start must be the time of the last live sample before the gap"
            )
        starts = {(v.name, v.labels): v.value for v in found}
        report.live_counters = len(starts)
    factory = ClientFactory(RequestCounter(), client_hooks)
    targets = options.shard.select(_all_targets(config, factory, report))
    extra = dict(options.labels)
    for target in targets:
        clash = sorted(set(extra) & set(target.labels()))
        if clash:
            raise UsageError(f"--label {clash[0]}: every series of {_name(target)} has it already")
    report.targets = len(targets)
    cloudwatch = config.collectors.get(cloudwatch_collector.NAME)
    assert isinstance(cloudwatch, cloudwatch_collector.CloudWatchCollectorConfig)
    settings = SeriesSettings(window, config.reputation_thresholds, cloudwatch.reputation_lookback)
    progress = _Progress(report, stderr, len(targets))
    with tempfile.TemporaryDirectory(prefix="ses-backfill-", dir=spill_dir) as spill:
        writer = OpenMetricsWriter(Path(spill), starts)
        try:
            with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="backfill") as pool:
                # At most 2 x WORKERS histories wait for the writer: one is tens of MB.
                pending: deque[tuple[Target, Future[TargetHistory]]] = deque()
                for upcoming in [*targets, None]:
                    if upcoming is not None:
                        future = pool.submit(
                            fetch_history,
                            upcoming,
                            window,
                            progress.count_metrics,
                            cloudwatch.reputation_lookback,
                            clock,
                            progress.count_vdm,
                        )
                        pending.append((upcoming, future))
                    while pending and (upcoming is None or len(pending) > 2 * WORKERS):
                        done, future = pending.popleft()
                        history = _result(done, future, report)
                        if history is not None:
                            writer.add(target_steps(history, settings, extra))
                        progress.target_done()
            writer.add(threshold_steps(settings, extra))
        finally:
            progress.finish()
            writer.close()
        report.samples = writer.samples
        if starts is not None:
            report.continued = writer.continued
            if not writer.continued:
                raise PrometheusError(
                    f"--continue-from {options.continue_from}: none of the {len(starts)} "
                    "counter series Prometheus has at --start has the labels of a series "
                    "written here; give exactly the labels Prometheus adds when it scrapes "
                    "(--label job=... --label instance=..., and the operator's)"
                )
        if report.failed and not options.keep_going:
            return report
        writer.write(out)
        report.written = True
    return report


def _window(options: BackfillOptions, now: float) -> Window:
    try:
        return history_window(now, options.days, options.step, end=options.end, start=options.start)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _all_targets(config: Config, factory: ClientFactory, report: BackfillReport) -> list[Target]:
    """Every replica's targets, as the daemon has them once it knows its accounts' ids.

    With ``organizations:`` a listed account whose id only STS can tell may be one the
    organization discovers too; the daemon polls it once, as listed, as soon as STS has
    answered (every replica asks, see ``daemon``). So here: STS GetCallerIdentity for
    those accounts first, then the targets again without the discovered twins."""
    discovered = _discover(config, factory, report)
    targets = build_targets(config, factory, discovered)
    if not config.organizations:
        return targets
    unknown = {
        t.account.key: t
        for t in targets
        if t.account.organization is None and t.account.known_id is None
    }
    for target in unknown.values():
        try:
            target.account.account_id(target.clients)
        except Exception as exc:  # which discovered account it is stays unknown
            report.failed.append(
                f"{_name(target)}: cannot tell its account id, so whether an organization "
                f"lists it too: {redact(describe_error(exc))}"
            )
    return build_targets(config, factory, discovered, targets)


def _discover(config: Config, factory: ClientFactory, report: BackfillReport) -> list[Discovered]:
    found = []
    for index, organization in enumerate(config.organizations):
        discovery = OrganizationDiscovery(index, organization, factory)
        if discovery.refresh() and discovery.result is not None:
            found.append(discovery.result)
        else:
            error = discovery.status().last_error or "failed"
            report.failed.append(f"{discovery.job_id} ({discovery.name}): {error}")
    return found


def _result(
    target: Target, future: Future[TargetHistory], report: BackfillReport
) -> TargetHistory | None:
    try:
        history = future.result()
    except Exception as exc:  # one target's failure is reported, not raised
        report.failed.append(f"{_name(target)}: {redact(describe_error(exc))}")
        return None
    if history.vdm is not None and not history.vdm.enabled:
        report.notes.append(
            f"{_name(target)}: VDM is not enabled there (GetAccount VdmAttributes.VdmEnabled), "
            "no vdm series written"
        )
    return history


def _name(target: Target) -> str:
    return f"{target.account.label}/{target.region}"


def run_backfill(
    config: Config,
    options: BackfillOptions,
    client_hooks: Iterable[ClientHook] = (),
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command: exit 0 when written, 1 when a target failed (or promtool did), 2 for
    bad usage. Prints the failures and a one-line summary on stderr."""
    stderr = sys.stderr if stderr is None else stderr
    promtool = None if options.tsdb is None else shutil.which("promtool")
    problem = _tsdb_problem(options, promtool)
    if problem is not None:
        print(f"ses-exporter backfill: {problem}", file=stderr)
        return EXIT_USAGE
    path = None if options.output == "-" else Path(options.output)
    try:
        if path is None:
            report = backfill(config, options, stdout or sys.stdout.buffer, client_hooks, stderr)
        else:
            report = _backfill_to_file(config, options, path, client_hooks, stderr)
    except (UsageError, PrometheusError) as exc:
        print(f"ses-exporter backfill: {exc}", file=stderr)
        if isinstance(exc, PrometheusError):
            print("ses-exporter backfill: nothing written", file=stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    for failure in report.failed:
        print(f"ses-exporter backfill: failed: {failure}", file=stderr)
    for note in report.notes:
        print(f"ses-exporter backfill: {note}", file=stderr)
    print(report.summary(), file=stderr)
    if not report.written:
        print(
            "ses-exporter backfill: nothing written (--keep-going writes the targets "
            "that succeeded)",
            file=stderr,
        )
        return EXIT_FAILED
    if promtool is not None and path is not None and options.tsdb is not None:
        return _create_blocks(promtool, path, Path(options.tsdb), stderr)
    return EXIT_OK


def _tsdb_problem(options: BackfillOptions, promtool: str | None) -> str | None:
    if options.tsdb is None:
        return None
    if promtool is None:
        return (
            "--tsdb needs promtool (Prometheus's) on PATH; without it, write a file with "
            "--output and run `promtool tsdb create-blocks-from openmetrics FILE DIR` where it is"
        )
    if options.output == "-":
        return "--tsdb needs a file: --output FILE"
    return None


def _backfill_to_file(
    config: Config,
    options: BackfillOptions,
    path: Path,
    client_hooks: Iterable[ClientHook],
    stderr: TextIO,
) -> BackfillReport:
    """Written beside ``path`` and renamed into place only when complete."""
    directory = path.resolve().parent
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            report = backfill(config, options, out, client_hooks, stderr, spill_dir=str(directory))
        if report.written:
            os.replace(partial, path)
        return report
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _create_blocks(promtool: str, path: Path, tsdb: Path, stderr: TextIO) -> int:
    command = [
        promtool,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f"--max-block-duration={PROMTOOL_BLOCK_DURATION}",
        "--quiet",
        str(path),
        str(tsdb),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"ses-exporter backfill: {' '.join(command)} failed:", file=stderr)
        print(done.stderr.strip() or done.stdout.strip(), file=stderr)
        return EXIT_FAILED
    print(f"ses-exporter backfill: blocks written to {tsdb}", file=stderr)
    return EXIT_OK


MAX_DAYS = 14  # GetSendStatistics keeps two weeks; CloudWatch 1-minute data 15 days


def parse_options(
    *,
    days: int | None = None,
    step: str = "60s",
    output: str = "-",
    labels: Iterable[str] = (),
    keep_going: bool = False,
    tsdb: str | None = None,
    end: str | None = None,
    start: str | None = None,
    now: float | None = None,
    shard_count: int | None = None,
    shard_index: int | None = None,
    environ: Mapping[str, str] | None = None,
    continue_from: str | None = None,
    exporter_restarted: bool = False,
) -> BackfillOptions:
    """The flags, named and defaulted as on the command line, checked (the window against
    ``now``, default the clock; the shard against ``environ``, default the process's);
    raises UsageError naming the flag.
    ``days`` None: from ``start``, or as far back as AWS keeps (14 days before now, so
    fewer before an earlier ``end``)."""
    shard = backfill_shard(shard_count, shard_index, os.environ if environ is None else environ)
    if days is not None and start is not None:
        raise UsageError("--start and --days: give one (--start TIME --end TIME fills a gap)")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days: must be 1 to {MAX_DAYS}, got {days}")
    try:
        seconds = parse_duration(step)
    except ValueError as exc:
        raise UsageError(f"--step: {exc}") from None
    if seconds <= 0 or seconds % 60 or seconds > 3600:
        # CloudWatch periods of AWS/SES are whole minutes; an hour is the coarsest step
        # that still gives the dashboards' 1-hour increase() two samples.
        raise UsageError(f"--step: must be a whole number of minutes up to 1h, got {step}")
    pairs: dict[str, str] = {}
    for label in labels:
        name, sep, value = label.partition("=")
        if not sep:
            raise UsageError(f"--label {label}: expected NAME=VALUE")
        try:
            check_label_name(name)
        except ValueError as exc:
            raise UsageError(f"--label {name}: {exc}") from None
        if name in pairs:
            raise UsageError(f"--label {name}: given twice")
        pairs[name] = value
    options = BackfillOptions(
        days=days,
        step=int(seconds),
        output=output,
        labels=tuple(pairs.items()),
        keep_going=keep_going,
        tsdb=tsdb,
        end=None if end is None else parse_time("--end", end),
        start=None if start is None else parse_time("--start", start),
        shard=shard,
        continue_from=continue_from,
        exporter_restarted=exporter_restarted,
    )
    _window(options, time.time() if now is None else now)  # fails before any AWS call
    _check_gap_flags(start, continue_from, exporter_restarted)
    return options


def backfill_shard(count: int | None, index: int | None, environ: Mapping[str, str]) -> Shard:
    """The replica whose targets to write: ``Shard(index, count)``, its targets chosen by
    ``Shard.select`` as the daemon's. Raises UsageError for a run that looks sharded
    without saying which replica (--shard.index without --shard.count, or
    SES_EXPORTER_POD_INDEX set, as the chart sets it in each pod of a sharded
    StatefulSet, without --shard.count) and for --shard.count > 1 without --shard.index:
    unlike the daemon, backfill never takes the index from the environment or the
    hostname, as it usually runs elsewhere than the replica whose history it writes."""
    if count is None:
        if index is not None:
            raise UsageError(
                f"--shard.index={index} needs --shard.count: give both, as the live replica "
                "has them (the same count for every replica)"
            )
        if environ.get(POD_INDEX_ENV, "").strip():
            raise UsageError(
                f"{POD_INDEX_ENV} is set, as in a pod of a sharded StatefulSet: pass "
                "--shard.count=N --shard.index=I of the replica whose history to write "
                "(run once per replica, each with its own labels), or --shard.count=1 if "
                "the exporter is not sharded; a run without them would write every "
                "replica's targets"
            )
        return Shard()
    if index is None and count > 1:
        raise UsageError(
            f"--shard.count={count} needs --shard.index=I (0 to {count - 1}): the replica "
            "whose targets to write (backfill does not guess it from the environment)"
        )
    try:
        return Shard(0 if index is None else index, count)
    except ShardError as exc:
        raise UsageError(str(exc)) from None


def _check_gap_flags(start: str | None, continue_from: str | None, restarted: bool) -> None:
    if continue_from is not None:
        if start is None:
            raise UsageError(
                "--continue-from: only with --start (a gap after live samples; a history "
                "that ends where the exporter starts has no live counter to continue)"
            )
        if restarted:
            raise UsageError("--continue-from and --exporter-restarted: give one")
        try:
            check_url(continue_from)
        except ValueError as exc:
            raise UsageError(f"--continue-from: {exc}") from None
    elif restarted and start is None:
        raise UsageError("--exporter-restarted: only with --start (it says how a gap ends)")
    elif start is not None and not restarted:
        raise UsageError(
            "--start fills a gap after live samples: if the exporter kept running (only "
            "Prometheus was down), its counters after the gap continue from their running "
            "totals, and a gap written from 0 would make increase() across its end count "
            "everything counted before the gap twice. Pass --continue-from=URL "
            "(Prometheus's base URL, e.g. http://prometheus:9090) to continue each "
            "counter from its live value at --start, or --exporter-restarted if the "
            "exporter restarted at the end of the gap (its counters began again at 0)"
        )


def parse_time(flag: str, text: str) -> float:
    """RFC 3339 with a zone (``2026-11-30T12:00:00Z``) or Unix seconds, as Unix seconds."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return seconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(
            f"{flag} {text}: expected RFC 3339 with a zone (2026-11-30T12:00:00Z) "
            "or Unix seconds (1796040000)"
        )
    return parsed.timestamp()
