"""The bundled Grafana dashboards, read as Grafana would: panels, queries, variables.

`panel_queries()` substitutes template variables the way Grafana's Prometheus data source
does, so tests can run every panel query against a real Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_FILES = (
    "ses-account-dashboard.json",
    "ses-reputation-metrics.json",
    "ses-fleet-overview.json",
    "ses-identities.json",
    "ses-deliverability.json",
)

# Grafana's value for "All"; the dashboards' variables turn it into their allValue `.*`.
ALL = "$__all"
ALL_VALUE = ".*"
# Grafana's built-in variables, with values a test against a young Prometheus can use
# (__interval as Grafana computes it for a stat over a day: a subquery step of 1h would
# have no step inside a Prometheus minutes old).
BUILTINS = {"__range": "1h", "__interval": "1m", "__rate_interval": "5m"}
# The scrape variables: "All" unless a test picks a job or cluster.
SCRAPE_DEFAULTS = {"job": ALL, "cluster": ALL}
_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]]")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")

Dashboard = dict[str, Any]
Values = str | Sequence[str]


def load_generator() -> ModuleType:
    """deploy/grafana/generate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "ses_grafana_generate", GRAFANA_DIR / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dashboards() -> dict[str, Dashboard]:
    """{file name: dashboard} as committed."""
    return {name: json.loads((DASHBOARD_DIR / name).read_text()) for name in DASHBOARD_FILES}


def iter_panels(dashboard_json: Dashboard) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, also those nested in collapsed rows."""
    for panel in dashboard_json.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _regex_escape(value: str) -> str:
    # Inside a PromQL string a regex backslash is written twice, as Grafana does.
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def format_value(values: Values) -> str:
    """A variable value as Grafana writes it into a Prometheus query (regex format)."""
    if values == ALL or (not isinstance(values, str) and ALL in values):
        return ALL_VALUE
    if isinstance(values, str):
        return _regex_escape(values)
    escaped = [_regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def seconds(duration: str) -> int:
    """A Grafana/Prometheus duration such as 1h or 90s, in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def interpolate(text: str, variables: Mapping[str, Values]) -> str:
    """Replace $name, ${name}, ${name:format} and [[name]]; unknown names are an error."""
    known = {**BUILTINS, **SCRAPE_DEFAULTS, **variables}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in (match[1], match[3], match[4]) if group)
        if name not in known:
            raise KeyError(f"no value for the variable {name!r} in {text!r}")
        return format_value(known[name])

    return _VARIABLE.sub(replace, text)


def panel_queries(
    dashboard_json: Dashboard, variables: Mapping[str, Values]
) -> list[tuple[str, str]]:
    """[(panel title, PromQL expression)] of every query, with the variables substituted.

    variables maps a name to one value or a list of values, e.g.
    {"account_id": "123456789012", "region": ["us-east-1", "eu-west-1"]}; a list becomes
    `(a|b)` like a multi-value selection in Grafana, and ALL becomes `.*` like the
    dashboards' "All" option. `$__range` and friends default to
    BUILTINS and can be overridden the same way; as in Grafana, a panel's `interval` is the
    least `$__interval` it gets.
    """
    out = []
    for panel in iter_panels(dashboard_json):
        values = dict(variables)
        least = panel.get("interval")
        interval = str(values.get("__interval", BUILTINS["__interval"]))
        if least and seconds(least) > seconds(interval):
            values["__interval"] = least
        for target in panel.get("targets", []):
            title = interpolate(panel.get("title", ""), values)
            out.append((title, interpolate(target["expr"], values)))
    return out


def variable_queries(
    dashboard_json: Dashboard, variables: Mapping[str, Values]
) -> list[tuple[str, str]]:
    """[(variable name, query)] of the query variables, with the variables substituted."""
    return [
        (v["name"], interpolate(v["query"], variables))
        for v in dashboard_json["templating"]["list"]
        if v["type"] == "query"
    ]
