"""The pages' one stylesheet, served by the exporter at ``static/pages.css``.

A file of its own keeps the Content-Security-Policy strict (``style-src 'self'``, no
inline style). Status colours follow the SES console (green Healthy, orange Under review,
red Paused / At risk); every status is also written out in words. Light and dark follow
the browser's ``prefers-color-scheme``.
"""

from __future__ import annotations

STYLESHEET = """\
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #16191f; --muted: #5f6b7a; --line: #d1d5db; --head: #f2f3f3;
  --link: #0972d3; --ok: #037f0c; --warn: #8d6605; --warn-bg: #fff4d6; --bad: #d91515;
  --bad-bg: #fff1f0; --ok-bg: #f2fcf3; --unknown: #5f6b7a; --bar: #0972d3; --chart: #0972d3;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1b2a; --fg: #e9ebed; --muted: #a3acb8; --line: #414d5c; --head: #192534;
    --link: #89bdee; --ok: #29ad32; --warn: #e0ca57; --warn-bg: #3a3000; --bad: #ff7a7a;
    --bad-bg: #3b1114; --ok-bg: #0b2a12; --unknown: #a3acb8; --bar: #539fe5; --chart: #89bdee;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.top { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1.5em;
  border-bottom: 1px solid var(--line); background: var(--head); }
header.top strong { font-size: 1.1em; }
main { padding: 1em 1.5em 3em; }
a { color: var(--link); }
h1 { font-size: 1.5em; margin: .3em 0 .6em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin: 0 0 .6em; }
section { border: 1px solid var(--line); border-radius: 8px; padding: 1em 1.2em;
  margin: 0 0 1.2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
table#fleet { font-size: .9em; }
table#fleet th { white-space: normal; }
table#fleet th .id { white-space: normal; font-weight: 400; }
table#fleet th, table#fleet td { padding: .35em .45em; }
table#fleet td[data-col$="-rate"] .status { display: block; }
table#fleet td { white-space: nowrap; }
table#fleet td.account { white-space: normal; min-width: 10em; max-width: 22em;
  overflow-wrap: anywhere; }
table#fleet td.errors { white-space: normal; min-width: 12em; }
.id { overflow-wrap: normal; white-space: nowrap; }
td.errors { max-width: 28em; overflow-wrap: anywhere; color: var(--bad); }
.muted, .id { color: var(--muted); }
.id { font-size: .9em; display: block; }
.status { font-weight: 600; white-space: nowrap; }
.status::before { content: "\\25CF\\00A0"; }
.status.healthy, .status.enabled, .status.ok { color: var(--ok); }
.status.under_review, .status.review { color: var(--warn); }
.status.at_risk, .status.paused, .status.disabled, .status.failed { color: var(--bad); }
.status.unknown, .status.pending { color: var(--unknown); }
tr.ok td:nth-child(4) { color: var(--ok); }
tr.failed td:nth-child(4) { color: var(--bad); }
tr.target.paused td[data-col="health"] { background: var(--bad-bg); }
tr.target.review td[data-col="health"] { background: var(--warn-bg); }
svg.bar { width: 4.5em; height: .7em; vertical-align: middle; margin-right: .4em; }
svg.bar .track { fill: var(--line); }
svg.bar .fill { fill: var(--bar); }
svg.bar .fill.high { fill: var(--bad); }
form#filters { display: flex; flex-wrap: wrap; gap: .8em; align-items: end; margin: 0 0 1em; }
form#filters label { display: flex; flex-direction: column; font-size: .9em; color: var(--muted); }
input, select, button { font: inherit; padding: .25em .4em; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 4px; }
button { cursor: pointer; }
nav.pages { margin: 1em 0; display: flex; gap: 1em; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1.5em; margin: 0; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; overflow-wrap: break-word; min-width: 0; }
.panes { display: grid; grid-template-columns: repeat(auto-fit, minmax(24em, 1fr));
  gap: 0 1.2em; }
nav.ranges a { margin-right: .8em; }
nav.ranges a[aria-current="page"] { font-weight: 700; text-decoration: none; color: var(--fg); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(30em, 1fr));
  gap: 1em 1.5em; }
figure { margin: 0; }
figcaption { display: flex; justify-content: space-between; font-weight: 600; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .axis { fill: var(--muted); font-size: 11px; }
svg.chart .line { fill: none; stroke: var(--chart); stroke-width: 1.5; }
svg.chart circle { fill: var(--chart); }
details { margin: .3em 0 0; }
table.chart-data { width: auto; }
p.note { color: var(--muted); font-size: .9em; }
"""
