"""Command line: Go-style dotted flags, as Prometheus exporters have them."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from . import __version__
from .config import COLLECTOR_NAMES, Config, ConfigError, load_config, parse_config
from .logsetup import FORMATS, LEVELS, register_secret, setup_logging
from .shard import POD_INDEX_ENV, Shard, ShardError, resolve_shard
from .web import WebConfig, WebConfigError, load_web_config

log = logging.getLogger("ses_exporter")

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
SECRET_ENVIRONMENT = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _shard_flags(p: argparse.ArgumentParser, count_help: str, index_help: str) -> None:
    """--shard.count and --shard.index, with the daemon's or backfill's wording."""
    p.add_argument(
        "--shard.count", dest="shard_count", type=int, default=None, metavar="N", help=count_help
    )
    p.add_argument(
        "--shard.index", dest="shard_index", type=int, default=None, metavar="I", help=index_help
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ses-exporter",
        description="Prometheus exporter for Amazon SES: sending quota, account health, "
        "reputation and configuration sets.",
        epilog="ses-exporter backfill --help: write up to 14 days of history for Prometheus.",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        metavar="PATH",
        help="YAML configuration file (see config.example.yaml)",
    )
    p.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration and exit (0 valid, 2 invalid)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="poll an embedded simulated AWS (moto); no AWS account needed",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=":10049",
        metavar="[HOST]:PORT",
        help="address to listen on (default :10049)",
    )
    p.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        metavar="PATH",
        help="path under which to expose metrics (default /metrics)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="exporter-toolkit web configuration (TLS, basic auth)",
    )
    p.add_argument(
        "--web.health-unauthenticated",
        dest="web_health_unauthenticated",
        action="store_true",
        help="serve GET /-/healthy without basic auth, for probes (TLS still applies)",
    )
    p.add_argument("--log.level", dest="log_level", default="info", choices=LEVELS)
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=FORMATS)
    for name in COLLECTOR_NAMES:
        p.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            default=None,
            action=argparse.BooleanOptionalAction,
            help=f"enable the {name} collector (overrides the config file)",
        )
    _shard_flags(
        p,
        "replicas that split the targets by rendezvous hashing of account_id/region "
        "(default 1: this process polls every target)",
        "this replica's index, 0 to N-1 (default with --shard.count > 1: "
        f"${POD_INDEX_ENV}, else the -N suffix of the hostname, as in a StatefulSet)",
    )
    p.add_argument(
        "--version",
        action="version",
        version=f"ses-exporter {__version__} (python {platform.python_version()})",
    )
    return p


def load(args: argparse.Namespace) -> Config:
    if args.config_file:
        return load_config(args.config_file)
    if args.demo:
        from .demo import DEMO_CONFIG

        return parse_config(DEMO_CONFIG, "<demo>")
    raise ConfigError(["no configuration: pass --config.file=PATH (or --demo to try it out)"])


def build_backfill_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ses-exporter backfill",
        description="Write the past (up to 14 days) of the CloudWatch and GetSendStatistics "
        "series as OpenMetrics for `promtool tsdb create-blocks-from openmetrics`.",
    )
    p.add_argument("--config.file", dest="config_file", metavar="PATH", help="as for the daemon")
    p.add_argument("--demo", action="store_true", help="read the simulated AWS of --demo")
    p.add_argument(
        "--days",
        type=int,
        help="days before the end, 1 to 14 (default: as far back as AWS keeps, 14 days "
        "before now; or --start)",
    )
    p.add_argument(
        "--end",
        metavar="TIME",
        help="end of the history, RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds, not in "
        "the future; no sample at or after it (default: now)",
    )
    p.add_argument(
        "--start",
        metavar="TIME",
        help="instead of --days: begin after TIME (to fill a gap between live samples)",
    )
    p.add_argument(
        "--step",
        default="60s",
        help="sample interval and CloudWatch period, whole minutes up to 1h (default 60s)",
    )
    p.add_argument("--output", default="-", metavar="FILE|-", help="default - (stdout)")
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="added to every series, as Prometheus adds job and instance when it scrapes",
    )
    p.add_argument(
        "--continue-from",
        dest="continue_from",
        metavar="URL",
        help="with --start: continue each counter from its live value at --start, read "
        "from the Prometheus at URL (base URL, e.g. http://prometheus:9090; series matched "
        "by their full labels); also right if the exporter restarted at the gap's end",
    )
    p.add_argument(
        "--exporter-restarted",
        dest="exporter_restarted",
        action="store_true",
        help="with --start, instead of --continue-from: the exporter restarted at the end "
        "of the gap (its counters began again at 0), so the gap's counters may start from 0 "
        "(a --start run needs one of the two)",
    )
    _shard_flags(
        p,
        "with --shard.index: write only the targets the live replica with these flags "
        "polls (run once per replica, with its labels); needed where "
        f"${POD_INDEX_ENV} is set (default: every target)",
        "that replica's index, 0 to N-1 (never guessed from the environment)",
    )
    p.add_argument(
        "--keep-going",
        dest="keep_going",
        action="store_true",
        help="write the targets that succeeded when others fail (default: write nothing)",
    )
    p.add_argument(
        "--tsdb",
        metavar="DIR",
        help="then run promtool tsdb create-blocks-from openmetrics into DIR (needs --output)",
    )
    p.add_argument("--log.level", dest="log_level", default="warn", choices=LEVELS)
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=FORMATS)
    return p


def backfill_main(argv: Sequence[str]) -> int:
    from .backfill import UsageError, parse_options, run_backfill

    args = build_backfill_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        options = parse_options(
            days=args.days,
            step=args.step,
            output=args.output,
            labels=args.label,
            keep_going=args.keep_going,
            tsdb=args.tsdb,
            end=args.end,
            start=args.start,
            shard_count=args.shard_count,
            shard_index=args.shard_index,
            continue_from=args.continue_from,
            exporter_restarted=args.exporter_restarted,
        )
        config = load(args)
    except UsageError as exc:
        print(f"ses-exporter backfill: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"ses-exporter: {args.config_file or 'configuration'} is invalid:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_USAGE
    hooks = []
    world = None
    if args.demo:
        from .demo import DemoWorld

        world = DemoWorld(sorted({r for a in config.accounts for r in a.regions}))
        world.start()
        hooks.append(world.client_hook)
    try:
        return run_backfill(config, options, hooks)
    finally:
        if world is not None:
            world.stop()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["backfill"]:
        return backfill_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        shard = resolve_shard(args.shard_count, args.shard_index, os.environ, socket.gethostname())
    except ShardError as exc:
        print(f"ses-exporter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load(args)
    except ConfigError as exc:
        source = args.config_file or "configuration"
        print(f"ses-exporter: {source} is invalid:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_USAGE
    for secret in [a.external_id for a in config.accounts] + [
        s for o in config.organizations for s in (o.external_id, o.member_external_id)
    ]:
        if secret is not None:
            register_secret(secret.get_secret_value())
    for name in SECRET_ENVIRONMENT:  # so that even an unlabelled credential never shows
        register_secret(os.environ.get(name))
    web_config = None
    if args.web_config_file:
        try:
            web_config = load_web_config(args.web_config_file)
        except WebConfigError as exc:
            print(f"ses-exporter: {args.web_config_file} is invalid:", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
            return EXIT_USAGE
    if args.config_check:
        targets = sum(len(a.regions) for a in config.accounts)
        discovered = (
            f", {len(config.organizations)} organizations to discover accounts from"
            if config.organizations
            else ""
        )
        print(
            f"{args.config_file or '<demo>'}: OK ({len(config.accounts)} accounts, "
            f"{targets} targets{discovered})"
        )
        return EXIT_OK
    overrides = {
        name: value
        for name in COLLECTOR_NAMES
        if (value := getattr(args, f"collector_{name}")) is not None
    }
    return run(args, config, overrides, web_config, shard)


def run(
    args: argparse.Namespace,
    config: Config,
    overrides: dict[str, bool],
    web_config: WebConfig | None = None,
    shard: Shard | None = None,
) -> int:
    from .daemon import Exporter
    from .reload import Reloader
    from .web import WebServer, parse_listen_address

    try:
        parse_listen_address(args.listen_address)
    except ValueError as exc:
        print(f"ses-exporter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    world = None
    hooks = []
    if args.demo:
        from .demo import DemoWorld

        world = DemoWorld(sorted({r for a in config.accounts for r in a.regions}))
        world.start()
        hooks.append(world.client_hook)
        log.info("demo mode: polling a simulated AWS (moto, in process)")
    exporter = Exporter(config, hooks, overrides, shard=shard)
    reloader = Reloader(exporter, args.config_file, args.web_config_file)
    try:
        server = WebServer(
            exporter,
            args.listen_address,
            args.telemetry_path,
            web_config=web_config,
            reload=reloader.reload,
            health_unauthenticated=args.web_health_unauthenticated,
        )
    except (OSError, ValueError) as exc:
        log.error("cannot serve", extra={"address": args.listen_address, "error": str(exc)})
        if world is not None:
            world.stop()
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_RUNTIME
    stop, reload = threading.Event(), threading.Event()

    def on_stop(signum: int, _: FrameType | None) -> None:
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    reloader.apply_web_config = server.reload_config  # the server exists only now
    exporter.start()
    server.start()
    log.info(
        "listening",
        extra={
            "address": args.listen_address,
            "port": server.port,
            "version": __version__,
            "tls": server.tls_enabled,
        },
    )
    while not stop.wait(0.5):
        if reload.is_set():
            reload.clear()
            reloader.reload()
    server.shutdown()
    exporter.stop()
    if world is not None:
        world.stop()
    return EXIT_OK
