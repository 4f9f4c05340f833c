"""The exporter's pages: every account on one page, and the SES console's panes per target.

``Pages.respond`` is the one entry point: the daemon calls it for ``web.WebApp.page`` with
what it holds (a ``model.Source``: the store's statuses, account names, thresholds, the
send_statistics collector's hourly sums); nothing here calls AWS or knows the daemon, the
collectors or the web server. Routes, relative to the exporter's ``/``:

- ``/``: the fleet view, one row per account x region, worst first; GET parameters ``q``,
  ``region``, ``health``, ``reputation`` filter it, ``page`` pages it (``model.PAGE_SIZE``);
- ``/targets/<account_id>/<region>``: the target view (``days``: 1, 3, 7 or 14 for the
  Sending statistics charts; ``sort``: the configuration-set table's order);
- ``/static/pages.css``: the stylesheet.

The modules: ``model`` (values from the store), ``render`` (HTML), ``charts`` (SVG),
``links`` (AWS console URLs per partition), ``style`` (the stylesheet). Imports go one way:
``render`` knows the other four; ``model`` knows only the store and ``config_types``.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, unquote

from .model import Filters, FleetModel, Hourly, Source, target_view
from .render import fleet_page, not_found, target_page
from .style import STYLESHEET

__all__ = ["Hourly", "Pages", "Source"]

HTML = "text/html; charset=utf-8"
Answer = tuple[int, str, bytes]  # (HTTP status, content type, body)


class Pages:
    """Answers the pages' paths; keeps the fleet view's per-result values between views."""

    def __init__(self) -> None:
        self._fleet = FleetModel()

    def respond(self, path: str, query: str, source: Source) -> Answer | None:
        """The answer for ``path`` (without its query string), or None if it is no page."""
        params = parse_qs(query, keep_blank_values=True)
        if path == "/":
            html = fleet_page(self._fleet.page(source, Filters.parse(params)), source)
            return HTTPStatus.OK, HTML, html.encode()
        if path == "/static/pages.css":
            return HTTPStatus.OK, "text/css; charset=utf-8", STYLESHEET.encode()
        if path.startswith("/targets/"):
            return self._target(path, params, source)
        return None

    def _target(self, path: str, params: dict[str, list[str]], source: Source) -> Answer:
        parts = path[len("/targets/") :].split("/")
        if len(parts) == 2 and all(parts):
            account_id, region = (unquote(p) for p in parts)
            view = target_view(source, account_id, region, params)
            if view is not None:
                return HTTPStatus.OK, HTML, target_page(view, source).encode()
            what = f"The exporter polls no account {account_id!r} in region {region!r}."
        else:
            what = "A target's address is targets/<account id>/<region>."
        # Relative links must lead back to / from where the browser is.
        root = "../" * max(path.count("/") - 1, 0)
        return HTTPStatus.NOT_FOUND, HTML, not_found(what, root, source.version).encode()
