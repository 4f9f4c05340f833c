"""``ses-exporter backfill``: the live series for the past, as OpenMetrics for Prometheus.

cli.py uses ``parse_options``, ``run_backfill`` and ``UsageError`` and nothing else.
Inside the package:

* ``history``: the AWS half, one target's CloudWatch (ListMetrics, GetMetricData at the
  fewest requests the API's limits allow) and GetSendStatistics history, through the live
  collectors' own source functions;
* ``series``: the pure half, that history as the live collectors' families at every step,
  and the OpenMetrics file ``promtool tsdb create-blocks-from openmetrics`` reads;
* ``prometheus``: ``--continue-from``, the live counters' values at the start of a gap
  from Prometheus's HTTP API;
* ``command``: targets (listed and discovered; with ``--shard.*`` those of one replica),
  workers, progress, the summary, the all-or-nothing output and ``--tsdb``.
"""

from .command import BackfillOptions, UsageError, parse_options, run_backfill

__all__ = ["BackfillOptions", "UsageError", "parse_options", "run_backfill"]
