"""``--demo``: the real exporter against a simulated AWS (moto, in process).

cli.py uses ``DEMO_CONFIG`` and ``DemoWorld`` and nothing else. Inside the package:

* ``world``: ``DemoWorld`` (moto's backends, the traffic thread, the CloudWatch datapoints
  SES would publish) and ``DEMO_CONFIG``, the configuration ``--demo`` runs without a file;
* ``traffic``: the simulated mail traffic, pure bookkeeping without AWS;
* ``resources``: the identities, dedicated IPs and suppression list, and how they move
  (one domain's DKIM breaks, one IP warms up, bounces are suppressed);
* ``history``: the 14 days before the world started, minute by minute, and the store
  that answers cloudwatch GetMetricData from them and from the live traffic;
* ``vdm``: Virtual Deliverability Manager, the daily counts per mailbox provider,
  configuration set and identity that answer sesv2 BatchGetMetricData (the tests' fakes
  use its store too), and how the demo divides its traffic among the providers;
* ``responders``: answers, through botocore's ``before-call`` hook, the calls moto lacks
  (the tests' fakes use it too).

moto (the ``demo`` extra) is imported only when a ``DemoWorld`` is built.
"""

from .world import DEMO_CONFIG, DemoWorld

__all__ = ["DEMO_CONFIG", "DemoWorld"]
