"""The landing page at ``/``: version, links, and a table of targets x collectors."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class TargetRow:
    """One row of the landing page table: a collector of one (account, region) target."""

    account_id: str
    region: str
    collector: str
    success: bool | None  # None = not polled yet
    last_success: float | None  # unix time
    last_error: str | None


def render_landing_page(
    version: str, telemetry_path: str, rows: Sequence[TargetRow], now: float
) -> str:
    """The ``/`` page. Every value is escaped: errors can quote whatever AWS sent back."""
    esc = html.escape
    links = [(telemetry_path, "Metrics"), ("/-/healthy", "Health"), ("/-/ready", "Readiness")]
    # Relative links keep working behind a reverse proxy that adds a path prefix.
    items = "".join(f'<li><a href=".{esc(p)}">{esc(t)}</a> ({esc(p)})</li>' for p, t in links)
    cells = []
    for row in rows:
        status = "pending" if row.success is None else "ok" if row.success else "failed"
        when = age = "never"
        if row.last_success is not None:
            when = datetime.fromtimestamp(row.last_success, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            age = f"{max(now - row.last_success, 0):.0f}"
        values = (row.account_id, row.region, row.collector, status, when, age)
        tds = "".join(f"<td>{esc(v)}</td>" for v in values)
        cells.append(f'<tr class="{status}">{tds}<td>{esc(row.last_error or "")}</td></tr>')
    table = (
        "<table><tr><th>Account</th><th>Region</th><th>Collector</th><th>Status</th>"
        "<th>Last success (UTC)</th><th>Age (s)</th><th>Last error</th></tr>"
        + "".join(cells)
        + "</table>"
        if cells
        else "<p>No targets configured.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>SES Exporter</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        ".failed td:nth-child(4){color:#c00}.ok td:nth-child(4){color:#070}</style></head>\n"
        f"<body><h1>SES Exporter</h1><p>Version: {esc(version)}</p><ul>{items}</ul>\n"
        f"<h2>Targets</h2>{table}\n</body></html>\n"
    )
