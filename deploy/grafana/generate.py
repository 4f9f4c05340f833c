"""Generate the Grafana dashboards of ses-exporter: dashboards are code.

    python3 deploy/grafana/generate.py          # rewrite dashboards/*.json
    python3 deploy/grafana/generate.py --check  # exit 1 if the committed JSON is stale

The JSON follows the dashboard schema of Grafana 11 (schemaVersion 39; validated in
tests/test_dashboards.py against the schema of @grafana/schema 11.6.9). Every query goes
through the `datasource` variable (no `${DS_...}` import placeholders, so file provisioning
works) and selects `account_id=~"$account_id", region=~"$region"`.

"View in CloudWatch" links open the CloudWatch console's metric graph (`#metricsV2:graph=`,
CloudWatch's own URL encoding: `~(` opens a list, `~'` starts a string, `*2f` is `/`) for the
same AWS/SES metric, statistic and period in the panel's region. A header link can only
name one region, so charts sit in rows repeated per region (or per configuration set) and
every series also carries a data link built from its own `region` label.

The code sits next to this script: panels.py (queries and panels), layout.py (the dashboard
around them), account_dashboard.py, reputation_dashboard.py, fleet_dashboard.py,
identities_dashboard.py and vdm_dashboard.py (one dashboard each).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
# The dashboards' modules sit next to this script: make them importable also when this
# file is loaded by its path (tests/dashboards.py), not run as a script.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from account_dashboard import account_dashboard  # noqa: E402
from fleet_dashboard import fleet_dashboard  # noqa: E402
from identities_dashboard import identities_dashboard  # noqa: E402
from panels import Json  # noqa: E402
from reputation_dashboard import reputation_dashboard  # noqa: E402
from vdm_dashboard import vdm_dashboard  # noqa: E402

DASHBOARDS = {
    "ses-account-dashboard.json": account_dashboard,
    "ses-reputation-metrics.json": reputation_dashboard,
    "ses-fleet-overview.json": fleet_dashboard,
    "ses-identities.json": identities_dashboard,
    "ses-deliverability.json": vdm_dashboard,
}


def render(dashboard_json: Json) -> str:
    return json.dumps(dashboard_json, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """{file name: JSON text} of every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, content in generate().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
            continue
        OUT_DIR.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python3 deploy/grafana/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
