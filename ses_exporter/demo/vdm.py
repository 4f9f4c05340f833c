"""Virtual Deliverability Manager for the demo and the tests: daily counts per mailbox
provider, and sesv2 BatchGetMetricData answered from them (moto has no VDM).

``VdmStore`` holds one region's counts, one per UTC day per (API metric, ISP,
configuration set, identity), and answers BatchGetMetricData as AWS does:

* a query's ``Dimensions`` map each name (EMAIL_IDENTITY, CONFIGURATION_SET, ISP,
  TENANT_NAME) to ONE value, a string (the botocore model's ``MetricDimensionValue``;
  botocore refuses a list before the call leaves the client). The model's documentation
  speaks of a list of up to ten values or ``*``, words shared with CreateExportJob, whose
  ``ExportDimensionValue`` is a list; for BatchGetMetricData AWS refuses ``*`` and anything
  but ``[A-Za-z0-9_-]`` in an ISP, configuration set or tenant name, and ``*`` or a space
  in an identity, each with its own BadRequestException message (below). So a query
  answers one ISP (or one set, one identity, a combination), and no ``Dimensions`` answers
  the whole account, mailbox providers the exporter does not list included;
* one series a query, summed over what it matches (results carry no dimension values):
  one datapoint per UTC day that overlaps [StartDate, EndDate), stamped 00:00 UTC, its
  value that day's count so far (an integer). Days without a count are left out (the
  series is sparse, not zero-filled); a query that matches nothing answers an entry with
  empty ``Timestamps`` and ``Values``, never no entry; ``Errors`` is always present.
  Whether AWS counts a day the window only partly covers is not documented: here it
  does (the exporter's windows start and end at midnight anyway);
* the request is checked in the order AWS checks it: at most ten queries, unique Ids,
  known dimension names, then the members' constraints (Metric and Namespace enums, Id
  length, at most three dimensions) in one aggregated message, then each dimension value,
  then the dates (StartDate before EndDate, at most 60 days apart). A failed check fails
  the whole call with BadRequestException, as AWS does; a request botocore already refuses
  (no queries, a list where a string belongs) never reaches here through a client;
* past days can grow (``add`` to an earlier day): VDM revises the last few days as late
  bounces and complaints arrive, and a reader must count the growth once.

The API reference documents none of the value rules, the order of the checks, the
messages, the sparse series or the disabled-VDM answer: they are AWS's answers as they
were observed (the messages verbatim), and ``*`` refused for ISP and configuration set
follows from the character rule observed with other values.

``Errors`` entries (INTERNAL_FAILURE, ACCESS_DENIED) are never produced by the store on
its own; a test injects them per query with ``fail``. In a region where VDM is disabled
AWS answers every call NotFoundException "To use this feature you must enable Virtual
Deliverability Manager" before it looks at the request (``vdm_disabled``).

Every count is added to each of the eight combinations of its dimensions (ISP or not,
set or not, identity or not), so a query is one dictionary look-up plus a walk over the
days it asks for, whatever the store holds: the benchmarks ask 50,000 queries a poll.

The demo's side (``split_minute``, ``record_events``, ``late_complaints``) divides the
traffic that the world simulates per configuration set among mailbox providers, one of
them clearly worse than the rest, as ``world.DemoWorld`` records it.
"""

from __future__ import annotations

import math
import random
import re
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from typing import Any

from botocore.utils import parse_to_aware_datetime

from .responders import SimulatedError

DAY = 86_400
MAX_QUERIES = 10
MAX_DIMENSIONS = 3
MAX_ID_LENGTH = 255
MAX_INTERVAL_SECONDS = 60 * DAY

# The API's metrics, in the order AWS lists them in its enum constraint message.
METRICS = (
    "DELIVERY_COMPLAINT",
    "CLICK",
    "SEND",
    "OPEN",
    "COMPLAINT",
    "DELIVERY",
    "DELIVERY_OPEN",
    "PERMANENT_BOUNCE",
    "DELIVERY_CLICK",
    "TRANSIENT_BOUNCE",
)
DIMENSIONS = ("EMAIL_IDENTITY", "CONFIGURATION_SET", "ISP", "TENANT_NAME")
QUERY_ERROR_CODES = ("INTERNAL_FAILURE", "ACCESS_DENIED")
VDM_DISABLED_MESSAGE = "To use this feature you must enable Virtual Deliverability Manager."

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ANY = "*"  # a dimension the query leaves open; AWS refuses "*" as a value, so no clash

# (metric, isp, configuration set, identity), each dimension a value, None (the count had
# none: sent without a configuration set) or _ANY (summed over every value)
_Key = tuple[str, str | None, str | None, str | None]
QueryPredicate = Callable[[Mapping[str, Any]], bool]


def day_start(when: float) -> int:
    """00:00 UTC of the day ``when`` (unix seconds) falls in."""
    return int(when // DAY * DAY)


def vdm_disabled(_: Mapping[str, Any]) -> Mapping[str, Any]:
    """BatchGetMetricData in a region where VDM is disabled: AWS answers NotFoundException
    before it validates the request."""
    raise SimulatedError("NotFoundException", VDM_DISABLED_MESSAGE, 404)


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    applies: QueryPredicate


class VdmStore:
    """One region's VDM counts, and BatchGetMetricData answered from them."""

    def __init__(self) -> None:
        # marginal key -> count per day from the day numbered _first (unix seconds // DAY)
        # on, 0 where the day has none: arrays, for a benchmark's 50 ISPs x 100 sets
        self._series: dict[_Key, array[int]] = {}
        self._first: int | None = None
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self.requests = 0  # BatchGetMetricData calls answered (errors included)
        self.queries = 0  # queries answered in them

    def add(
        self,
        when: float,
        metric: str,
        count: int,
        *,
        isp: str,
        configuration_set: str | None = None,
        identity: str | None = None,
    ) -> None:
        """Adds ``count`` to the day ``when`` falls in. Adding to a past day is how VDM
        revises it (late bounces, late complaints): counts only ever grow."""
        if metric not in METRICS:
            raise ValueError(f"unknown VDM metric {metric!r}")
        if count < 0:
            raise ValueError(f"VDM counts only grow, got {count} for {metric}")
        if not count:
            return
        day = int(when // DAY)
        with self._lock:
            if self._first is None:
                self._first = day
            elif day < self._first:  # older than all so far: every series starts earlier
                for older in self._series.values():
                    older[:0] = array("q", bytes(8 * (self._first - day)))
                self._first = day
            position = day - self._first
            for key in product((isp, _ANY), (configuration_set, _ANY), (identity, _ANY)):
                series = self._series.get((metric, *key))
                if series is None:
                    series = self._series[(metric, *key)] = array("q")
                if len(series) <= position:
                    series.extend(bytes(8 * (position + 1 - len(series))))
                series[position] += count

    revise = add  # a past day's growth is added like any other count

    def count(
        self,
        when: float,
        metric: str,
        *,
        isp: str | None = _ANY,
        configuration_set: str | None = _ANY,
        identity: str | None = _ANY,
    ) -> int:
        """The day's count of ``metric`` for the given dimensions (left out: summed)."""
        with self._lock:
            points = self._points((metric, isp, configuration_set, identity), when, when + 1)
        return points[0][1] if points else 0

    def fail(
        self,
        code: str = "INTERNAL_FAILURE",
        message: str = "Amazon SES has failed to process the query.",
        where: QueryPredicate = lambda query: True,
    ) -> None:
        """Answers every query ``where(query)`` accepts with an ``Errors`` entry instead of
        a result (``clear_failures`` undoes it)."""
        if code not in QUERY_ERROR_CODES:
            raise ValueError(f"BatchGetMetricData has no query error code {code!r}")
        with self._lock:
            self._failures.append(_Failure(code, message, where))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def batch_get_metric_data(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """sesv2 BatchGetMetricData, given the call's parameters as the caller passed
        them (``responders.install_api_responder``)."""
        queries = list(params.get("Queries") or [])
        with self._lock:
            self.requests += 1
        parsed = _validate(queries)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self._lock:
            self.queries += len(parsed)
            for query, (key, start, end) in zip(queries, parsed, strict=True):
                failure = next((f for f in self._failures if f.applies(query)), None)
                if failure is not None:
                    errors.append(
                        {"Id": query["Id"], "Code": failure.code, "Message": failure.message}
                    )
                    continue
                points = self._points(key, start, end)
                results.append(
                    {
                        "Id": query["Id"],
                        "Timestamps": [datetime.fromtimestamp(day, UTC) for day, _ in points],
                        "Values": [value for _, value in points],
                    }
                )
        return {"Results": results, "Errors": errors}

    def _points(self, key: _Key | None, start: float, end: float) -> list[tuple[int, int]]:
        """(day start, count) of every day overlapping [start, end) that has a count."""
        series = self._series.get(key) if key is not None else None  # None: a tenant,
        if not series or self._first is None:  # and the store has none, as an account
            return []  # that does not use tenants
        first = max(int(start // DAY) - self._first, 0)
        last = min(math.ceil(end / DAY) - 1 - self._first, len(series) - 1)
        return [((self._first + i) * DAY, series[i]) for i in range(first, last + 1) if series[i]]


def _validate(queries: Sequence[Mapping[str, Any]]) -> list[tuple[_Key | None, float, float]]:
    """Raises BadRequestException as AWS would, in AWS's order; returns per query its
    marginal key (None for a tenant) and its [start, end) in unix seconds."""
    if not queries:
        raise _constraint(["Value at 'queries' failed to satisfy constraint: " + _min_length(1)])
    if len(queries) > MAX_QUERIES:
        raise _constraint(
            ["Value at 'queries' failed to satisfy constraint: " + _max_length(MAX_QUERIES)]
        )
    ids = [query.get("Id") for query in queries]
    if len(set(ids)) != len(ids):
        raise _bad_request("All queries must have a unique identifier.")
    for query in queries:
        if any(name not in DIMENSIONS for name in query.get("Dimensions") or {}):
            raise _bad_request("Unsupported dimension provided.")
    violations = [
        violation
        for position, query in enumerate(queries, 1)
        for violation in _member_violations(query, f"Value at 'queries.{position}.member")
    ]
    if violations:
        raise _constraint(violations)
    for query in queries:
        _check_values(query.get("Dimensions") or {})
    return [_parse(query) for query in queries]


def _member_violations(query: Mapping[str, Any], at: str) -> list[str]:
    """The query's member constraints, metric first, then namespace, id, dimensions."""
    violations = []
    if query.get("Metric") not in METRICS:
        violations.append(f"{at}.metric' failed to satisfy constraint: {_enum(METRICS)}")
    if query.get("Namespace") != "VDM":
        violations.append(f"{at}.namespace' failed to satisfy constraint: {_enum(['VDM'])}")
    query_id = str(query.get("Id") or "")
    if not query_id:
        violations.append(f"{at}.id' failed to satisfy constraint: {_min_length(1)}")
    elif len(query_id) > MAX_ID_LENGTH:
        violations.append(f"{at}.id' failed to satisfy constraint: {_max_length(MAX_ID_LENGTH)}")
    dimensions = query.get("Dimensions")
    if dimensions is not None and not dimensions:
        violations.append(f"{at}.dimensions' failed to satisfy constraint: {_min_length(1)}")
    elif dimensions is not None and len(dimensions) > MAX_DIMENSIONS:
        violations.append(
            f"{at}.dimensions' failed to satisfy constraint: {_max_length(MAX_DIMENSIONS)}"
        )
    return violations


def _parse(query: Mapping[str, Any]) -> tuple[_Key | None, float, float]:
    start, end = _seconds(query["StartDate"]), _seconds(query["EndDate"])
    if start >= end:
        raise _bad_request("Expected start date to be before the end date.")
    if end - start > MAX_INTERVAL_SECONDS:
        raise _bad_request(
            "Invalid interval, can request at most 60 days. "
            "Please partition your requested interval."
        )
    dimensions = query.get("Dimensions") or {}
    if "TENANT_NAME" in dimensions:
        return None, start, end
    key = (
        str(query["Metric"]),
        dimensions.get("ISP", _ANY),
        dimensions.get("CONFIGURATION_SET", _ANY),
        dimensions.get("EMAIL_IDENTITY", _ANY),
    )
    return key, start, end


def _check_values(dimensions: Mapping[str, Any]) -> None:
    for value in dimensions.values():
        if not isinstance(value, str):  # botocore refuses it before a real call
            raise SimulatedError("SerializationException", "Start of list found where not expected")
    identity = dimensions.get("EMAIL_IDENTITY")
    if identity is not None and not _is_identity(identity):
        raise _bad_request("Invalid email identity provided.")
    isp = dimensions.get("ISP")
    if isp is not None and not _NAME.fullmatch(isp):
        raise _bad_request("Invalid ISP name provided.")
    for name, noun, blank in (
        (
            "CONFIGURATION_SET",
            "configuration set name",
            "The configuration set name must be specified.",
        ),
        ("TENANT_NAME", "tenant name", "TenantName cannot be empty"),
    ):
        value = dimensions.get(name)
        if value is None:
            continue
        if not value:
            raise _bad_request(blank)
        if not _NAME.fullmatch(value):
            raise _bad_request(
                f"Invalid {noun} <{value}>: only alphanumeric ASCII characters, "
                "'_', and '-' are allowed."
            )


def _is_identity(value: str) -> bool:
    """A domain, or an address with both halves; never ``*`` or a space."""
    if not value or "*" in value or any(c.isspace() for c in value):
        return False
    local, at, domain = value.partition("@")
    return not at or (bool(local) and bool(domain) and "@" not in domain)


def _seconds(value: Any) -> float:
    return parse_to_aware_datetime(value).timestamp()


def _enum(values: Sequence[str]) -> str:
    return f"Member must satisfy enum value set: [{', '.join(values)}]"


def _min_length(n: int) -> str:
    return f"Member must have length greater than or equal to {n}"


def _max_length(n: int) -> str:
    return f"Member must have length less than or equal to {n}"


def _bad_request(message: str) -> SimulatedError:
    return SimulatedError("BadRequestException", message, 400)


def _constraint(violations: list[str]) -> SimulatedError:
    count = len(violations)
    header = f"{count} validation error{'s' if count > 1 else ''} detected: "
    return _bad_request(header + "; ".join(violations))


# --- the demo's mailbox providers ------------------------------------------------------


@dataclass(frozen=True)
class Isp:
    name: str  # as VDM names the mailbox provider
    share: float  # of the recipients
    bounce_factor: float = 1.0  # its bounce rate against the traffic's
    permanent_share: float = 0.8  # of its bounces: non-existent mailboxes
    feedback_loop: bool = True  # SES receives its recipients' complaints
    complaint_factor: float = 1.0


# Yahoo is the demo's bad provider: six times the bounce weight, almost all of it
# permanent (a stale list of Yahoo addresses), so its permanent bounce ratio is several
# times the account's. Gmail and iCloud have no feedback loop with SES, so their
# deliveries are not DELIVERY_COMPLAINT and their recipients' complaints never arrive.
# Comcast and GMX are not in the exporter's default list: the account total exceeds the
# listed providers' sum, as in AWS.
ISPS = (
    Isp("Gmail", 0.40, feedback_loop=False),
    Isp("Hotmail", 0.25),
    Isp("Yahoo", 0.15, bounce_factor=6.0, permanent_share=0.95, complaint_factor=2.0),
    Isp("AOL", 0.05),
    Isp("iCloud", 0.05, feedback_loop=False),
    Isp("Comcast", 0.06),
    Isp("GMX", 0.04),
)
LATE_COMPLAINTS_AFTER = 300  # seconds past midnight: yesterday's late complaints arrive
LATE_COMPLAINT_SHARE = 0.05  # of yesterday's complaints, at least one per provider and set


def split(
    count: int, weights: Sequence[float], rng: random.Random, caps: Sequence[int] | None = None
) -> list[int]:
    """``count`` divided in proportion to ``weights``: the whole parts, and the remainder
    drawn by the fractions, so small counts do not always land on the same provider.
    With ``caps``, no part exceeds its cap (what is over moves to those with room)."""
    parts = [0] * len(weights)
    total = sum(weights)
    if count <= 0 or total <= 0:
        return parts
    exact = [count * w / total for w in weights]
    parts = [int(x) for x in exact]
    fractions = [x - int(x) for x in exact]
    for _ in range(count - sum(parts)):
        i = _draw(fractions, rng)
        if i is None:
            i = _draw(list(weights), rng)
            assert i is not None
        parts[i] += 1
        fractions[i] = 0.0
    if caps is not None:
        over = sum(max(part - cap, 0) for part, cap in zip(parts, caps, strict=True))
        parts = [min(part, cap) for part, cap in zip(parts, caps, strict=True)]
        for _ in range(over):
            room = [
                w if part < cap else 0.0 for w, part, cap in zip(weights, parts, caps, strict=True)
            ]
            i = _draw(room, rng)
            if i is None:  # no room anywhere: the caps hold fewer than count
                break
            parts[i] += 1
    return parts


def _draw(weights: Sequence[float], rng: random.Random) -> int | None:
    total = sum(weights)
    if total <= 0:
        return None
    point = rng.random() * total
    for i, weight in enumerate(weights):
        point -= weight
        if point < 0 and weight > 0:
            return i
    return max(i for i, weight in enumerate(weights) if weight > 0)


def split_minute(
    counts: Mapping[str, int], rng: random.Random
) -> Iterator[tuple[Isp, dict[str, int]]]:
    """One configuration set's events (``traffic.Events`` fields: send, delivery, bounce,
    complaint, open, click) as VDM counts per mailbox provider. The providers' sends add up
    to the set's, and so on for every event, so the account totals are CloudWatch's;
    DELIVERY is sends less bounces, as the traffic has it. Every demo email carries an
    open pixel and wrapped links (DELIVERY_OPEN and DELIVERY_CLICK are the deliveries);
    DELIVERY_COMPLAINT is the deliveries to providers with a feedback loop, the only ones
    whose complaints SES receives."""
    sends = split(counts.get("send", 0), [isp.share for isp in ISPS], rng)
    bounces = split(
        counts.get("bounce", 0),
        [n * isp.bounce_factor for n, isp in zip(sends, ISPS, strict=True)],
        rng,
        sends,
    )
    delivered = [n - b for n, b in zip(sends, bounces, strict=True)]
    fbl = [d if isp.feedback_loop else 0 for d, isp in zip(delivered, ISPS, strict=True)]
    complaint_weights = [d * isp.complaint_factor for d, isp in zip(fbl, ISPS, strict=True)]
    if not any(complaint_weights):  # none delivered to a feedback loop: the rare complaint
        complaint_weights = [float(d) for d in delivered]  # comes through SES's other paths
    complaints = split(counts.get("complaint", 0), complaint_weights, rng, delivered)
    opens = split(counts.get("open", 0), [float(d) for d in delivered], rng, delivered)
    clicks = split(counts.get("click", 0), [float(d) for d in delivered], rng, delivered)
    for i, isp in enumerate(ISPS):
        permanent = split(bounces[i], [isp.permanent_share, 1 - isp.permanent_share], rng)[0]
        yield (
            isp,
            {
                "SEND": sends[i],
                "DELIVERY": delivered[i],
                "PERMANENT_BOUNCE": permanent,
                "TRANSIENT_BOUNCE": bounces[i] - permanent,
                "COMPLAINT": complaints[i],
                "OPEN": opens[i],
                "CLICK": clicks[i],
                "DELIVERY_OPEN": delivered[i],
                "DELIVERY_CLICK": delivered[i],
                "DELIVERY_COMPLAINT": fbl[i],
            },
        )


def record_events(
    store: VdmStore,
    when: float,
    events: Mapping[str, Mapping[str, int]],
    identities: Mapping[str, str | None],
    rng: random.Random,
) -> None:
    """Adds per configuration set ``events`` (set -> Events field -> count) to the day
    ``when`` falls in, split among the providers, with the set's sending identity."""
    for configuration_set, counts in events.items():
        for isp, metrics in split_minute(counts, rng):
            for metric, count in metrics.items():
                store.add(
                    when,
                    metric,
                    count,
                    isp=isp.name,
                    configuration_set=configuration_set,
                    identity=identities.get(configuration_set),
                )


def late_complaints(
    store: VdmStore, yesterday: float, identities: Mapping[str, str | None]
) -> None:
    """Revises ``yesterday`` upwards: complaints that arrive after midnight for mail
    delivered the day before (a few per cent more, at least one per provider and set
    that had feedback-loop deliveries). ``identities``: set -> its sending identity."""
    for configuration_set, identity in identities.items():
        for isp in ISPS:
            where = {"isp": isp.name, "configuration_set": configuration_set, "identity": identity}
            delivered = store.count(yesterday, "DELIVERY_COMPLAINT", **where)
            if not delivered:
                continue
            complaints = store.count(yesterday, "COMPLAINT", **where)
            late = min(max(round(complaints * LATE_COMPLAINT_SHARE), 1), delivered - complaints)
            store.revise(
                yesterday,
                "COMPLAINT",
                max(late, 0),
                isp=isp.name,
                configuration_set=configuration_set,
                identity=identity,
            )
