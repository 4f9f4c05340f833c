"""A fake WebApp for tests of the real WebServer, and raw bytes exchanged with a server."""

from __future__ import annotations

import gzip
import socket

from ses_exporter.store import ResultStore

METRICS = (
    b"# HELP aws_ses_max_send_rate MaxSendRate (cached).\n" + b"aws_ses_max_send_rate 14\n" * 40
)
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def maybe_gzip(body: bytes, compress: bool) -> bytes:
    """What a WebApp answers for render_metrics(..., gzip=compress)."""
    return gzip.compress(body, mtime=0) if compress else body


class FakeApp:
    version = "1.2.3-test"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ready = False
        self.store = ResultStore()
        self.render_error: Exception | None = None
        self.reload_result: tuple[bool, str] | Exception = (True, "config reloaded")
        self.accept_headers: list[str | None] = []
        self.reloads = 0

    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        self.accept_headers.append(accept_header)
        if self.render_error is not None:
            raise self.render_error
        return maybe_gzip(METRICS, gzip), METRICS_TYPE

    def is_ready(self) -> bool:
        return self.ready

    def page(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        """The pages themselves are tested in test_pages.py; here only their routing."""
        if path == "/":
            return 200, "text/html; charset=utf-8", f"<p>fleet {query}</p>".encode()
        return None

    def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        if isinstance(self.reload_result, Exception):
            raise self.reload_result
        return self.reload_result


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send bytes as they are; read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
