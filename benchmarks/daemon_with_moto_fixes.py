"""The real ``ses-exporter`` command, plus one client hook so that it can talk to moto.

Usage: ``python benchmarks/daemon_with_moto_fixes.py [ses-exporter flags]``.

moto 5.2.1's ListConfigurationSets crashes when given PageSize (real SES accepts it), so
every client the daemon creates also gets ``ses_exporter.simulation.work_around_moto``,
which drops PageSize from that one call (moto then answers in pages of 100). The hook is
added the way the demo adds its own: through ``Exporter``'s ``client_hooks``. Everything
else is ``ses_exporter.cli.main`` unchanged.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from ses_exporter import daemon
from ses_exporter.cli import main
from ses_exporter.simulation import work_around_moto

_original_init = daemon.Exporter.__init__
_signature = inspect.signature(_original_init)


def _init_with_moto_fix(self: daemon.Exporter, *args: Any, **kwargs: Any) -> None:
    bound = _signature.bind(self, *args, **kwargs)
    bound.apply_defaults()
    bound.arguments["client_hooks"] = (*bound.arguments["client_hooks"], work_around_moto)
    _original_init(*bound.args, **bound.kwargs)


daemon.Exporter.__init__ = _init_with_moto_fix  # type: ignore[method-assign,unused-ignore]

if __name__ == "__main__":
    sys.exit(main())
