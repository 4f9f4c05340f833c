"""``--continue-from``: each live counter's value at the start of a gap, from Prometheus.

When Prometheus was down and the exporter kept running, the live counters after the gap
continue from their running totals. A gap fill that started them from 0 would make
``increase()`` across its end count everything counted before the gap once more (the
drop from the live total to the gap's 0 reads as a reset). So the gap's counters
continue the live ones: each writes the value its live series had when the gap began,
plus the events since.

One request, Prometheus's HTTP API (standard library only)::

    GET URL/api/v1/query?query={__name__=~"aws_ses_sends_total|..."[,LABEL="VALUE"...]}
        &time=T

with every counter name the backfill writes, a matcher per ``--label``, and T a
millisecond before the first backfilled sample: the instant query answers with each
series' newest sample in the 5 minutes (Prometheus's lookback delta) up to T, that is
the last live sample before the gap. Series are matched to the backfilled ones by their
full label sets, as the backfill writes them; a series with no value there starts at 0.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..collectors.cloudwatch import COUNTERS
from ..collectors.send_statistics import COUNTERS as SEND_STATISTICS_COUNTERS
from ..collectors.vdm import EVENTS as VDM_EVENTS

TIMEOUT_SECONDS = 30.0
COUNTER_NAMES: tuple[str, ...] = (
    *(name for row in COUNTERS for name in (row.account, row.per_set) if name is not None),
    *(name for _, name, _ in SEND_STATISTICS_COUNTERS),
    *(
        name
        for row in VDM_EVENTS
        for name in (row.account, row.isp, row.configuration_set, row.identity)
    ),
)


class PrometheusError(Exception):
    """Prometheus did not answer the query with values: nothing is written (exit 1)."""


@dataclass(frozen=True)
class LiveValue:
    name: str  # the sample name, e.g. aws_ses_sends_total
    labels: tuple[tuple[str, str], ...]  # every label but __name__
    value: float


def check_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError unless http(s)://HOST[:PORT][/PATH]."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"expected Prometheus's base URL, http(s)://HOST:PORT[/PATH], got {url}")
    return url.rstrip("/")


def query_text(names: Iterable[str], labels: Mapping[str, str]) -> str:
    """``{__name__=~"a|b",job="x"}``: the names (letters, digits and _ only, so no regex
    quoting is needed) and the given labels, quoted as PromQL strings."""
    matchers = [f"__name__=~{json.dumps('|'.join(names))}"]
    matchers += [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items()]
    return "{" + ",".join(matchers) + "}"


def live_values(
    url: str, at: float, labels: Mapping[str, str], timeout: float | None = None
) -> list[LiveValue]:
    """The counters' values at ``at`` (Unix seconds) as Prometheus at ``url`` has them;
    ``PrometheusError`` with what went wrong otherwise (unreachable, no answer within
    ``timeout``, default ``TIMEOUT_SECONDS``, an HTTP error, an answer that is not a
    vector)."""
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    query = query_text(COUNTER_NAMES, labels)
    request = f"{check_url(url)}/api/v1/query?" + urllib.parse.urlencode(
        {"query": query, "time": f"{at:.3f}"}
    )
    where = f"--continue-from {url}"
    try:
        # check_url let only http(s) through
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            body = answer.read()
    except urllib.error.HTTPError as exc:
        raise PrometheusError(f"{where}: HTTP {exc.code} {exc.reason}{_error_of(exc)}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise PrometheusError(f"{where}: no answer within {timeout:g} s") from None
        raise PrometheusError(f"{where}: cannot reach Prometheus: {exc.reason}") from None
    except TimeoutError:
        raise PrometheusError(f"{where}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise PrometheusError(f"{where}: cannot read Prometheus's answer: {exc}") from None
    return _parse(body, where)


def _error_of(exc: urllib.error.HTTPError) -> str:
    """Prometheus's own error message from an error answer's JSON body, if it has one."""
    try:
        error = json.loads(exc.read()).get("error")
    except (ValueError, AttributeError, OSError):
        return ""
    return f": {error}" if isinstance(error, str) else ""


def _parse(body: bytes, where: str) -> list[LiveValue]:
    try:
        answer: Any = json.loads(body)
        if answer.get("status") != "success":
            raise PrometheusError(f"{where}: the query failed: {answer.get('error', answer)}")
        data = answer["data"]
        if data.get("resultType") != "vector":
            raise PrometheusError(f"{where}: expected a vector, got {data.get('resultType')}")
        found = []
        for series in data["result"]:
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            value = float(series["value"][1])
            if math.isfinite(value):
                found.append(LiveValue(name, tuple(sorted(labels.items())), value))
        return found
    except PrometheusError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise PrometheusError(f"{where}: not an answer of Prometheus's HTTP API: {exc!r}") from None
