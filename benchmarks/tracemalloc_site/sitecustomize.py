"""Python's own allocations of a process, sampled: with this directory on ``PYTHONPATH`` and
``SES_EXPORTER_TRACEMALLOC`` set to a directory, the process starts ``tracemalloc`` (frames:
``SES_EXPORTER_TRACEMALLOC_FRAMES``, default 6). Every 15 s it appends ``seconds,bytes``
(seconds since the process started, bytes traced) to ``<pid>.csv`` there, and every
``SES_EXPORTER_TRACEMALLOC_EVERY`` seconds (default 300), after a full garbage collection,
writes a snapshot ``<pid>-<seconds>.snapshot``. Without the variable it does nothing.

``soak.py --tracemalloc`` runs the daemon so and compares the snapshots: growth found
there is Python objects kept; RSS growth not found there is outside Python's heap (the C
allocator's arenas and fragmentation, OpenSSL, thread stacks).
"""

import os

if os.environ.get("SES_EXPORTER_TRACEMALLOC"):
    import gc
    import threading
    import time
    import tracemalloc
    from pathlib import Path

    TOTAL_EVERY = 15.0

    def _sample(directory: Path, snapshot_every: float) -> None:
        started = time.monotonic()
        totals = directory / f"{os.getpid()}.csv"
        next_snapshot = snapshot_every
        while True:
            time.sleep(TOTAL_EVERY)
            elapsed = time.monotonic() - started
            with totals.open("a") as out:
                out.write(f"{elapsed:.0f},{tracemalloc.get_traced_memory()[0]}\n")
            if elapsed >= next_snapshot:
                next_snapshot += snapshot_every
                gc.collect()
                path = directory / f"{os.getpid()}-{elapsed:06.0f}.snapshot"
                part = path.with_suffix(".part")
                tracemalloc.take_snapshot().dump(str(part))
                part.rename(path)  # a reader never sees half a snapshot

    _directory = Path(os.environ["SES_EXPORTER_TRACEMALLOC"])
    _directory.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(int(os.environ.get("SES_EXPORTER_TRACEMALLOC_FRAMES", "6")))
    threading.Thread(
        target=_sample,
        args=(_directory, float(os.environ.get("SES_EXPORTER_TRACEMALLOC_EVERY", "300"))),
        name="tracemalloc-sampler",
        daemon=True,
    ).start()
