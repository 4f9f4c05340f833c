"""Reload on SIGHUP or ``POST /-/reload``: both files, or neither.

Re-reads the exporter configuration (``--config.file``) and the web configuration
(``--web.config.file``) and validates both before anything changes. If either is invalid,
every error is logged and answered, ``ses_exporter_config_last_reload_successful`` goes to 0,
and the running configuration stays; otherwise the daemon gets the new config and the web
server the new web config.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .config import Config, ConfigError, load_config
from .daemon import Exporter
from .web import WebConfig, WebConfigError, load_web_config

log = logging.getLogger("ses_exporter")


class Reloader:
    """Reloads `exporter` from `config_path` and, through `apply_web_config`, the web server
    from `web_config_path`; a path that is None is not reloaded."""

    def __init__(
        self,
        exporter: Exporter,
        config_path: str | None,
        web_config_path: str | None = None,
        apply_web_config: Callable[[WebConfig], None] | None = None,
    ) -> None:
        self.exporter = exporter
        self.config_path = config_path
        self.web_config_path = web_config_path
        self.apply_web_config = apply_web_config
        self._lock = threading.Lock()  # SIGHUP and /-/reload may come at once

    def reload(self) -> tuple[bool, str]:
        """(True, "config reloaded"), or (False, every error, one a line)."""
        if self.config_path is None and self.web_config_path is None:
            return False, "no --config.file to reload"
        with self._lock:
            errors: list[str] = []
            config: Config | None = None
            web_config: WebConfig | None = None
            if self.config_path is not None:
                try:
                    config = load_config(self.config_path)
                except ConfigError as exc:
                    errors += exc.errors
            if self.web_config_path is not None:
                try:
                    web_config = load_web_config(self.web_config_path)
                except WebConfigError as exc:
                    errors += [f"{self.web_config_path}: {error}" for error in exc.errors]
            if errors:
                self.exporter.reload_finished(ok=False)
                log.error("config reload failed", extra={"errors": "; ".join(errors)})
                return False, "\n".join(errors)
            if config is not None:
                self.exporter.apply(config)
            if web_config is not None and self.apply_web_config is not None:
                self.apply_web_config(web_config)
            self.exporter.reload_finished(ok=True)
        log.info("config reloaded", extra={"targets": len(self.exporter.targets)})
        return True, "config reloaded"
