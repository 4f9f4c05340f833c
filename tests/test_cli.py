"""The command line, in process: flags, exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_exporter import __version__
from ses_exporter.cli import build_parser, main
from ses_exporter.daemon import Exporter
from tests.helpers import config_for

EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"ses-exporter {__version__} (python 3.")


def test_config_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config.check", f"--config.file={EXAMPLE}"]) == 0
    assert capsys.readouterr().out == (
        f"{EXAMPLE}: OK (1 accounts, 2 targets, 1 organizations to discover accounts from)\n"
    )


def test_config_check_bad_organizations_exits_2_with_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "organizations:\n  - regions: [us-east-1]\n    member_role_name: x\n"
        "    organizational_units: [ou-nope]\n    refresh_interval: 5s\n"
    )
    assert main(["--config.check", f"--config.file={bad}"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [
        "  organizations[0].organizational_units[0]: 'ou-nope' is not an organizational unit "
        "id (expected ou-xxxx-xxxxxxxx, or a root id r-xxxx)",
        "  organizations[0].refresh_interval: must be at least 1m, got 5s",
    ]


def test_config_check_bad_lists_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - regions: [us-east-x]\n    colour: blue\n")
    assert main(["--config.check", f"--config.file={bad}"]) == 2
    err = capsys.readouterr().err
    assert f"ses-exporter: {bad} is invalid:" in err
    assert "accounts[0].regions[0]: 'us-east-x' is not an AWS region" in err
    assert "accounts[0].colour: unknown key" in err


def test_no_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "pass --config.file=PATH (or --demo" in capsys.readouterr().err


def test_demo_config_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "--config.check"]) == 0
    assert "<demo>: OK (1 accounts, 2 targets)" in capsys.readouterr().out


def test_bad_listen_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"--config.file={EXAMPLE}", "--web.listen-address=:99999"]) == 2
    assert "99999" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--log.level=verbose", "--log.format=xml", "--collector.nope"])
def test_bad_flags_exit_2(flag: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([flag])
    assert exit_info.value.code == 2


def test_collector_flags_parse_both_ways() -> None:
    args = build_parser().parse_args(["--no-collector.account", "--collector.cloudwatch"])
    assert args.collector_account is False
    assert args.collector_cloudwatch is True
    assert args.collector_send_statistics is None


def test_collector_flags_override_the_config(aws: None) -> None:
    exporter = Exporter(
        config_for("eu-west-1"),
        collector_overrides={"account": False, "cloudwatch": False, "configuration_sets": True},
    )
    names = [sorted(t.collectors) for t in exporter.targets]
    assert ["account"] not in names
    assert all("account" not in n and "cloudwatch" not in n for n in names)
    assert all("configuration_sets" in n for n in names)
    assert exporter.config.collectors.account.enabled is False


def test_config_check_with_a_bad_web_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  alice: not-a-bcrypt-hash\ntls_server_config:\n  foo: 1\n")
    assert main(["--config.check", f"--config.file={EXAMPLE}", f"--web.config.file={web}"]) == 2
    err = capsys.readouterr().err
    assert f"ses-exporter: {web} is invalid:" in err
    assert "tls_server_config.foo" in err
    assert "basic_auth_users.alice" in err
