"""The image's lock against pyproject.toml, and the rules of .ci/supply-chain.

The lock (deploy/docker/requirements.lock) must pin, with hashes, every runtime
dependency and the demo extra, each within its range: a range changed or a dependency
added without refreshing the lock fails here. What the script decides from its tools'
answers (the accepted findings, PyPI's advisory data, the lower bounds .ci/run installs)
is checked on made-up answers; the tools themselves run in .ci/supply-chain.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "deploy" / "docker" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "docker" / "build-requirements.lock"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("supply_chain", ROOT / ".ci" / "supply_chain.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["supply_chain"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sc = load_script()


def entries(lock: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    """{name: (version, hashes, via)} of a hash-pinned lock as uv writes it."""
    out: dict[str, tuple[str, list[str], list[str]]] = {}
    current = ""
    for block in re.split(r"\n(?=\S)", lock.read_text()):
        if block.startswith("#") or not block.strip():
            continue
        head = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        assert head, block
        current = str(canonicalize_name(head[1]))
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        via = re.findall(
            r"#\s+(?:via\s+)?([A-Za-z0-9._-]+(?: \(pyproject\.toml\))?)\s*$", block, re.M
        )
        out[current] = (head[2], hashes, [v for v in via if v != "via"])
    return out


def runtime_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [
        Requirement(r)
        for r in (*project["dependencies"], *project["optional-dependencies"]["demo"])
    ]


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    locked = entries(LOCK)
    for requirement in runtime_requirements():
        name = str(canonicalize_name(requirement.name))
        assert name in locked, f"{name} is not in the lock: run deploy/docker/lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {requirement.specifier}: run deploy/docker/lock"
        )


def test_every_locked_package_has_hashes_and_is_needed() -> None:
    """Each pin carries its files' hashes (--require-hashes refuses any other), and is a
    runtime dependency or needed by one (uv's `via`): nothing left over from an old
    dependency."""
    locked = entries(LOCK)
    assert len(locked) >= len(runtime_requirements())
    for name, (version, hashes, via) in locked.items():
        assert Version(version)
        assert hashes, name
        assert via, name
        for parent in via:
            assert parent == "ses-exporter (pyproject.toml)" or parent in locked, (name, parent)


def test_the_build_lock_pins_the_build_backend_within_its_range() -> None:
    locked = entries(BUILD_LOCK)
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        version, hashes, _ = locked[str(canonicalize_name(requirement.name))]
        assert requirement.specifier.contains(version)
        assert hashes


def test_the_lock_and_the_script_read_the_same_pins() -> None:
    assert sc.pins(LOCK) == {name: v for name, (v, _, _) in entries(LOCK).items()}


def test_lower_bounds_are_the_floor_of_every_runtime_dependency() -> None:
    floors = [Requirement(f) for f in sc.floors()]
    wanted = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    assert [canonicalize_name(f.name) for f in floors] == [
        canonicalize_name(r.name) for r in wanted
    ]
    for floor, requirement in zip(floors, wanted, strict=True):
        (pin,) = floor.specifier
        assert pin.operator == "=="
        assert requirement.specifier.contains(pin.version), (floor, requirement)
        (lower,) = [s for s in requirement.specifier if s.operator == ">="]
        assert Version(pin.version) == Version(lower.version)


def test_the_accepted_findings_each_say_why() -> None:
    accepted = sc.Accepted.load()
    for entry in [*accepted.vulnerabilities, *accepted.checkov]:
        assert len(entry["reason"].split()) >= 20, entry["id"]
    assert {e["framework"] for e in accepted.checkov} <= {"dockerfile", "kubernetes"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accepted.toml"
    path.write_text(text)
    return path


def test_a_finding_is_accepted_only_by_its_own_entry_and_stale_entries_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sc, "ROOT", tmp_path)
    accepted = sc.Accepted.load(
        write(
            tmp_path,
            """
[[vulnerability]]
id = "GHSA-aaaa-bbbb-cccc"
package = "Some_Package"
reason = "the vulnerable parser is never called by the exporter"

[[checkov]]
id = "CKV_K8S_11"
framework = "kubernetes"
reason = "no CPU limit on purpose, see values.yaml for why"

[[checkov]]
id = "CKV_K8S_99"
framework = "kubernetes"
reason = "an entry that matches nothing any more"
""",
        )
    )
    by_alias = sc.Finding("audit", "PYSEC-1", "some-package==1.0", "", ("GHSA-aaaa-bbbb-cccc",))
    assert accepted.reason(by_alias) == "the vulnerable parser is never called by the exporter"
    assert accepted.reason(sc.Finding("audit", "PYSEC-1", "other==1.0", "")) is None
    cpu = sc.Finding("iac", "CKV_K8S_11", "x", "", framework="kubernetes")
    assert accepted.reason(cpu) is not None
    assert accepted.reason(sc.Finding("iac", "CKV_K8S_11", "x", "", framework="dockerfile")) is None
    assert accepted.unused(["audit", "iac"]) == ["checkov CKV_K8S_99"]
    assert accepted.unused(["audit"]) == []  # an iac entry is judged only when iac ran


@pytest.mark.parametrize(
    "text",
    [
        '[[checkov]]\nid = "CKV_K8S_11"\nframework = "kubernetes"\n',  # no reason
        '[[checkov]]\nid = "CKV_K8S_11"\nframework = "kubernetes"\nreason = "because"\n',
        '[[vulnerability]]\nid = "X"\nreason = "a reason of enough words here"\n',  # package
    ],
)
def test_an_entry_without_a_real_reason_is_refused(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sc, "ROOT", tmp_path)
    with pytest.raises(SystemExit):
        sc.Accepted.load(write(tmp_path, text))


def project(newest: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": newest}, "vulnerabilities": list(vulns)}


def test_pypi_project_advisories_for_the_newest_and_for_an_older_release() -> None:
    open_ = {"id": "GHSA-open", "aliases": ["CVE-2026-1"], "fixed_in": [], "withdrawn": None}
    fixed = {"id": "PYSEC-fixed", "aliases": [], "fixed_in": ["2.0"], "withdrawn": None}
    gone = {"id": "GHSA-gone", "aliases": [], "fixed_in": [], "withdrawn": "2026-01-01"}
    status, found = sc.from_project("pkg", "2.0", project("2.0", open_, fixed, gone))
    assert status == "newest"
    assert [(f.id, f.aliases, f.detail) for f in found] == [
        ("GHSA-open", ("CVE-2026-1",), "fixed in no release")
    ]
    status, found = sc.from_project("pkg", "1.0", project("2.0", open_, fixed))
    assert status == "partial"  # what 2.0 fixed since 1.0 cannot show here
    assert [f.id for f in found] == ["GHSA-open", "PYSEC-fixed"]
    assert sc.from_project("pkg", "2.0", project("2.0")) == ("newest", [])
