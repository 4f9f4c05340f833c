"""The supply-chain checks of the Docker image's dependencies and of the deployment files.

    .ci/supply-chain [check] [--only audit,sbom,image,iac]   # what CI runs
    .ci/supply-chain lock [--tools]                         # refresh the locks
    .ci/supply-chain floors | ranges     # the runtime dependencies' lower bounds, ranges

``check`` writes its reports to build/supply-chain/ and fails on any finding that
.ci/accepted-findings.toml does not list with a reason (and on an entry there that no
longer matches anything):

- **audit**: the known vulnerabilities of every package in deploy/docker/requirements.lock,
  from PyPI's advisory data (pip-audit's ``pypi`` service; where PyPI's per-release
  JSON cannot be had, from the project's JSON, which carries the newest release's);
- **sbom**: a CycloneDX SBOM of the lock (cyclonedx-py), checked to list exactly its pins;
- **image**: the lock installed as the Dockerfile installs it (``--require-hashes
  --no-deps``, then the package ``--no-deps``) into a fresh venv, and ``pip check``: the
  lock is complete and consistent;
- **iac**: checkov on the Dockerfile and on the Helm chart rendered with every values file
  of deploy/helm/ses-exporter/ci/ (the cases tests/test_helm.py renders too).

The tools run from venvs of their own, made from the hash-pinned .ci/tools/*.lock and kept
in a cache folder keyed by the lock's hash, so they never touch the project's environment.
Only the standard library is used here: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "deploy" / "docker" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "docker" / "build-requirements.lock"
TOOLS = ROOT / ".ci" / "tools"
ACCEPTED = ROOT / ".ci" / "accepted-findings.toml"
CHART = ROOT / "deploy" / "helm" / "ses-exporter"
CASES = CHART / "ci"
OUT = ROOT / "build" / "supply-chain"
# The image: python:3.11-slim (Debian, glibc) on either architecture.
PYTHON_VERSION = "3.11"
PLATFORMS = ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
STEPS = ("audit", "sbom", "image", "iac")
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{canonical name: version} of a hash-pinned requirements file."""
    return {canonical(n): v for n, v in PIN.findall(lock.read_text())}


def run(*command: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], text=True, capture_output=True, check=False, **kwargs
    )


def must(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(done.args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# ---- the tools' venvs -------------------------------------------------------------------


def tools_home() -> Path:
    home = os.environ.get("SES_EXPORTER_TOOLS_DIR")
    if home:
        return Path(home)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ses-exporter" / "supply-chain-tools"


def tool_venv(name: str) -> Path:
    """The bin folder of the venv installed from .ci/tools/<name>.lock, made once per
    version of that lock (its hash names the folder)."""
    lock = TOOLS / f"{name}.lock"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    venv = tools_home() / f"{name}-{digest}"
    done = venv / ".complete"
    if not done.exists():
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        print(f"installing the {name} tools from {lock.relative_to(ROOT)} into {venv}")
        must(run(sys.executable, "-m", "venv", venv))
        pip = venv / "bin" / "pip"
        must(run(pip, "install", "-q", "--require-hashes", "--no-deps", "-r", lock))
        done.touch()
    return venv / "bin"


# ---- findings and what is accepted ------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    step: str  # audit or iac
    id: str  # advisory id, or checkov check id
    subject: str  # package==version, or the scanned object
    detail: str
    aliases: tuple[str, ...] = ()
    framework: str = ""  # iac: dockerfile or kubernetes


@dataclass
class Accepted:
    """The entries of .ci/accepted-findings.toml, and which of them matched."""

    vulnerabilities: list[dict[str, str]]
    checkov: list[dict[str, str]]
    used: set[tuple[str, int]] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path = ACCEPTED) -> Accepted:
        data = tomllib.loads(path.read_text())
        vulnerabilities = data.get("vulnerability", [])
        checkov = data.get("checkov", [])
        problems = []
        for kind, entries, keys in (
            ("vulnerability", vulnerabilities, {"id", "package", "reason"}),
            ("checkov", checkov, {"id", "framework", "reason"}),
        ):
            for i, entry in enumerate(entries):
                if set(entry) != keys:
                    problems.append(f"[[{kind}]] {i}: needs exactly {sorted(keys)}")
                elif len(entry["reason"].split()) < 5:
                    problems.append(f"[[{kind}]] {entry['id']}: the reason says too little")
        if problems:
            raise SystemExit(f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems))
        return cls(vulnerabilities, checkov)

    def reason(self, finding: Finding) -> str | None:
        if finding.step == "audit":
            package = finding.subject.split("==")[0]
            ids = {finding.id, *finding.aliases}
            for i, entry in enumerate(self.vulnerabilities):
                if entry["id"] in ids and canonical(entry["package"]) == package:
                    self.used.add(("vulnerability", i))
                    return entry["reason"]
        else:
            for i, entry in enumerate(self.checkov):
                if entry["id"] == finding.id and entry["framework"] == finding.framework:
                    self.used.add(("checkov", i))
                    return entry["reason"]
        return None

    def unused(self, steps: Iterable[str]) -> list[str]:
        kinds = {"audit": "vulnerability", "iac": "checkov"}
        out = []
        for kind, entries in (("vulnerability", self.vulnerabilities), ("checkov", self.checkov)):
            if kind not in {kinds[s] for s in steps if s in kinds}:
                continue
            out += [
                f"{kind} {e['id']}" for i, e in enumerate(entries) if (kind, i) not in self.used
            ]
        return out


# ---- audit ------------------------------------------------------------------------------


def pypi_project(name: str) -> dict[str, Any]:
    url = PYPI_JSON.format(name=name)
    for attempt in range(4):
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (https)
                return dict(json.load(answer))
        except (urllib.error.URLError, TimeoutError) as error:
            if attempt == 3:
                raise SystemExit(f"{url}: {error}") from error
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def audit(report: dict[str, Any]) -> list[Finding]:
    """pip-audit against PyPI's advisory data; the packages it could not audit (PyPI's
    per-release JSON answers 404 from some networks, and pip-audit then reports "no known
    vulnerabilities" with every package skipped) from the project's JSON, whose
    ``vulnerabilities`` are the newest release's."""
    bin_ = tool_venv("audit")
    raw = OUT / "pip-audit.json"
    done = run(
        bin_ / "pip-audit",
        "--disable-pip",
        "--no-deps",
        "--requirement",
        LOCK,
        "--vulnerability-service",
        "pypi",
        "--format",
        "json",
        "--output",
        raw,
        "--progress-spinner",
        "off",
    )
    if done.returncode not in {0, 1}:  # 1: vulnerabilities found
        must(done)
    locked = pins(LOCK)
    findings: list[Finding] = []
    audited: dict[str, str] = {}
    for dep in json.loads(raw.read_text())["dependencies"]:
        name = canonical(dep["name"])
        if "skip_reason" in dep:
            continue
        audited[name] = "pip-audit"
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    "audit",
                    vuln["id"],
                    f"{name}=={dep['version']}",
                    f"fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release'}",
                    tuple(vuln.get("aliases", [])),
                )
            )
    behind = {}
    for name, version in sorted(locked.items()):
        if name in audited:
            continue
        project = pypi_project(name)
        audited[name], found = from_project(name, version, project)
        if audited[name] == "partial":
            behind[name] = f"{version} < {project['info']['version']}"
        findings += found
    report["audit"] = {
        "packages": len(locked),
        "source": audited,
        "locked_below_newest": behind,
        "findings": [f.__dict__ for f in findings],
    }
    print(f"audit: {len(locked)} locked packages; data from " + summary(audited.values()))
    if behind:
        print(
            "  locked below their newest release, so checked only against the advisories "
            "still open in it (PyPI's per-release data was not to be had):\n    "
            + "\n    ".join(f"{n} {v}" for n, v in behind.items())
        )
    return findings


def from_project(name: str, version: str, project: dict[str, Any]) -> tuple[str, list[Finding]]:
    """The advisories of a PyPI project's JSON that concern ``version``, and how far they
    tell: ``newest`` when it is the newest release (the JSON's ``vulnerabilities`` are that
    release's: the same data pip-audit reads per release), ``partial`` when it is older
    (only advisories still open in the newest release show; taken to concern it too)."""
    findings = []
    for vuln in project.get("vulnerabilities") or []:
        fixed = vuln.get("fixed_in") or []
        if vuln.get("withdrawn") or version in fixed:
            continue
        findings.append(
            Finding(
                "audit",
                vuln["id"],
                f"{name}=={version}",
                f"fixed in {', '.join(fixed) or 'no release'}",
                tuple(vuln.get("aliases") or []),
            )
        )
    return ("newest" if project["info"]["version"] == version else "partial"), findings


def summary(values: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


# ---- sbom -------------------------------------------------------------------------------


def sbom(report: dict[str, Any]) -> list[Finding]:
    bin_ = tool_venv("audit")
    path = OUT / "sbom.cdx.json"
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
    must(
        run(
            bin_ / "cyclonedx-py",
            "requirements",
            LOCK,
            "--pyproject",
            ROOT / "pyproject.toml",
            "--of",
            "JSON",
            "--sv",
            "1.6",
            "--output-reproducible",
            "--validate",
            "-o",
            path,
            env=env,
        )
    )
    bom = json.loads(path.read_text())
    # pyproject.toml's version is dynamic (ses_exporter.__version__), which cyclonedx-py
    # leaves out of the root component: set it, as the package's metadata has it.
    init = (ROOT / "ses_exporter" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"', init, re.MULTILINE)
    if found and not bom["metadata"]["component"].get("version"):
        bom["metadata"]["component"]["version"] = found[1]
        path.write_text(json.dumps(bom, indent=2) + "\n")
    listed = {canonical(c["name"]): c["version"] for c in bom.get("components", [])}
    if listed != pins(LOCK):
        raise SystemExit(f"{path}: the SBOM's components are not the lock's pins: {listed}")
    hashed = [c for c in bom["components"] if c.get("externalReferences")]
    root = bom["metadata"]["component"]
    report["sbom"] = {"file": str(path.relative_to(ROOT)), "components": len(listed)}
    print(
        f"sbom: {path.relative_to(ROOT)}, CycloneDX {bom['specVersion']}, root "
        f"{root['name']} {root.get('version', '')}, {len(listed)} components "
        f"({len(hashed)} with their distributions' hashes)"
    )
    return []


# ---- image ------------------------------------------------------------------------------


def image(report: dict[str, Any]) -> list[Finding]:
    """The Dockerfile's installs, in a fresh venv: the build lock, the lock with hashes and
    no dependency resolution, the package without dependencies; then ``pip check``."""
    with tempfile.TemporaryDirectory(prefix="ses-exporter-image-") as tmp:
        venv = Path(tmp) / "venv"
        must(run(sys.executable, "-m", "venv", venv))
        # --no-compile: the image compiles its bytecode; here it would only cost time.
        pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
        pip.append("--no-compile")
        must(run(*pip, "--require-hashes", "--no-deps", "-r", BUILD_LOCK))
        must(run(*pip, "--require-hashes", "--no-deps", "-r", LOCK))
        source = Path(tmp) / "src"  # a copy, so the build leaves nothing in the work tree
        shutil.copytree(ROOT / "ses_exporter", source / "ses_exporter")
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, source)
        must(run(*pip, "--no-deps", "--no-build-isolation", source))
        check = must(run(venv / "bin" / "python", "-m", "pip", "check"))
        version = must(run(venv / "bin" / "ses-exporter", "--version")).strip()
        config = must(
            run(
                venv / "bin" / "ses-exporter",
                f"--config.file={ROOT / 'config.example.yaml'}",
                "--config.check",
            )
        )
    report["image"] = {"pip_check": check.strip(), "version": version}
    print(f"image: the lock installs with --require-hashes --no-deps; pip check: {check.strip()}")
    print(f"  {version}; --config.check of config.example.yaml: {config.strip() or 'ok'}")
    return []


# ---- iac --------------------------------------------------------------------------------


def helm() -> str:
    must(run(ROOT / ".ci" / "install-helm"))
    return str(ROOT / ".ci" / "bin" / "helm")


def render_cases(into: Path) -> list[str]:
    """The chart rendered with each values file of its ci/ folder, one file per case,
    as tests/test_helm.py renders them (release rel, namespace monitoring)."""
    binary = helm()
    names = []
    for values in sorted(CASES.glob("*-values.yaml")):
        name = values.name.removesuffix("-values.yaml")
        text = must(
            run(binary, "template", "rel", CHART, "--namespace=monitoring", f"--values={values}")
        )
        (into / f"{name}.yaml").write_text(text)
        names.append(name)
    if not names:
        raise SystemExit(f"no values files in {CASES}")
    return names


def checkov(bin_: Path, framework: str, target: list[str | Path]) -> dict[str, Any]:
    done = run(
        bin_ / "checkov",
        *target,
        "--framework",
        framework,
        "--output",
        "json",
        "--skip-download",  # no platform data: the checks are the package's own
        "--quiet",
        cwd=ROOT,
    )
    if done.returncode not in {0, 1}:  # 1: failed checks
        must(done)
    result = json.loads(done.stdout)
    results = result if isinstance(result, list) else [result]
    (one,) = [r for r in results if r.get("check_type") == framework]
    return dict(one)


def iac(report: dict[str, Any]) -> list[Finding]:
    bin_ = tool_venv("iac")
    rendered = OUT / "helm"
    shutil.rmtree(rendered, ignore_errors=True)
    rendered.mkdir(parents=True)
    cases = render_cases(rendered)
    findings: list[Finding] = []
    scans = {}
    targets: list[tuple[str, list[str | Path]]] = [
        ("dockerfile", ["--file", ROOT / "Dockerfile"]),
        ("kubernetes", ["--directory", rendered]),
    ]
    for framework, target in targets:
        result = checkov(bin_, framework, target)
        (OUT / f"checkov-{framework}.json").write_text(json.dumps(result, indent=1))
        counts = result["summary"]
        if counts["parsing_errors"] or not counts["resource_count"]:
            raise SystemExit(f"checkov {framework}: nothing scanned, or parsing errors: {counts}")
        scans[framework] = counts
        findings += [
            Finding(
                "iac",
                c["check_id"],
                f"{c['file_path'].lstrip('/')}: {c['resource']}",
                c["check_name"],
                framework=framework,
            )
            for c in result["results"]["failed_checks"]
        ]
        print(
            f"iac: checkov {counts['checkov_version']} {framework}: {counts['resource_count']} "
            f"resources, {counts['passed']} checks passed, {counts['failed']} failed"
        )
    print(f"  the chart rendered with ci/ values: {', '.join(cases)}")
    report["iac"] = {"cases": cases, "summary": scans, "findings": [f.__dict__ for f in findings]}
    return findings


# ---- check ------------------------------------------------------------------------------


def check(steps: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    accepted = Accepted.load()
    report: dict[str, Any] = {}
    failed: list[str] = []
    actions: dict[str, Callable[[dict[str, Any]], list[Finding]]] = {
        "audit": audit,
        "sbom": sbom,
        "image": image,
        "iac": iac,
    }
    for step in steps:
        started = time.monotonic()
        shown: dict[str, list[str]] = {}  # accepted: "id: detail" -> subjects
        for finding in actions[step](report):
            reason = accepted.reason(finding)
            line = f"{finding.id} {finding.subject}: {finding.detail}"
            if reason is None:
                failed.append(line)
                print(f"  FINDING {line}")
            else:
                shown.setdefault(f"{finding.id}: {finding.detail}", []).append(finding.subject)
        for what, subjects in shown.items():
            print(f"  accepted {what} ({len(subjects)}: {', '.join(sorted(subjects))[:160]})")
        print(f"  ({step}: {time.monotonic() - started:.0f} s)")
    stale = accepted.unused(steps)
    for entry in stale:
        print(f"  STALE {ACCEPTED.relative_to(ROOT)}: {entry} matches no finding: remove it")
    (OUT / "report.json").write_text(json.dumps(report, indent=1, default=str))
    if failed or stale:
        print(
            f"supply-chain: {len(failed)} findings not in {ACCEPTED.relative_to(ROOT)}, "
            f"{len(stale)} stale entries"
        )
        return 1
    print("supply-chain: no finding left unexplained")
    return 0


# ---- lock -------------------------------------------------------------------------------

HEADER = """\
# The Docker image's runtime dependencies: pyproject.toml's `dependencies` and the `demo`
# extra, resolved for CPython {python} on Linux ({platforms}; the same pins for each),
# with the hashes of every file of each release. The Dockerfile installs this with
# --require-hashes --no-deps, then the package itself with --no-deps.
# Refresh: deploy/docker/lock (docs/security.md). Do not edit by hand.
"""
BUILD_HEADER = """\
# The build backend the Dockerfile installs (pyproject.toml's build-system requires), with
# hashes, so that building the package downloads nothing unpinned (--no-build-isolation).
# Refresh: deploy/docker/lock. Do not edit by hand.
"""
TOOLS_HEADER = """\
# The {name} tools of .ci/supply-chain, from .ci/tools/{name}.in, with hashes.
# Refresh: deploy/docker/lock --tools. Do not edit by hand.
"""


def compile_lock(uv: Path, source: list[str | Path], platform: str) -> str:
    return must(
        run(
            uv,
            "pip",
            "compile",
            *source,
            "--generate-hashes",
            "--no-header",
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            platform,
            cwd=ROOT,
        )
    )


def lock(tools: bool) -> int:
    uv = tool_venv("audit") / "uv"
    if tools:
        for name in ("audit", "iac"):
            text = compile_lock(uv, [f".ci/tools/{name}.in"], PLATFORMS[0])
            (TOOLS / f"{name}.lock").write_text(TOOLS_HEADER.format(name=name) + text)
            print(f"{TOOLS.relative_to(ROOT)}/{name}.lock: {len(PIN.findall(text))} pins")
        uv = tool_venv("audit") / "uv"
    texts = {p: compile_lock(uv, ["pyproject.toml", "--extra", "demo"], p) for p in PLATFORMS}
    if len(set(texts.values())) != 1:
        raise SystemExit(f"the platforms {PLATFORMS} resolve differently: lock each apart")
    text = texts[PLATFORMS[0]]
    platforms = ", ".join(p.split("-")[0] for p in PLATFORMS)
    LOCK.write_text(HEADER.format(python=PYTHON_VERSION, platforms=platforms) + text)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".in") as requires:
        requires.write("\n".join(pyproject["build-system"]["requires"]) + "\n")
        requires.flush()
        build = compile_lock(uv, [requires.name], PLATFORMS[0])
    BUILD_LOCK.write_text(BUILD_HEADER + build.replace(requires.name, "pyproject.toml"))
    for path in (LOCK, BUILD_LOCK):
        found = pins(path)
        print(f"{path.relative_to(ROOT)}: " + ", ".join(f"{n}=={v}" for n, v in found.items()))
    return 0


def floors() -> list[str]:
    """``name==floor`` for each runtime dependency of pyproject.toml: the lower ends of
    the ranges, which .ci/run installs to run the tests that exercise them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    out = []
    for requirement in pyproject["project"]["dependencies"]:
        found = re.fullmatch(r"([A-Za-z0-9._-]+)\s*(?:\[[^]]*\])?\s*(.*)", requirement)
        if not found:
            raise SystemExit(f"pyproject.toml: cannot read {requirement!r}")
        name, specifiers = found.groups()
        lower = [s.strip()[2:] for s in specifiers.split(",") if s.strip().startswith(">=")]
        if len(lower) != 1:
            raise SystemExit(f"pyproject.toml: {requirement!r} has no single >= lower bound")
        out.append(f"{name}=={lower[0]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".ci/supply-chain", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    checking = commands.add_parser("check", help="audit, SBOM, image install and IaC scan")
    checking.add_argument("--only", default=",".join(STEPS), help=f"some of {','.join(STEPS)}")
    locking = commands.add_parser("lock", help="refresh deploy/docker/*.lock")
    locking.add_argument("--tools", action="store_true", help="and .ci/tools/*.lock")
    commands.add_parser("floors", help="print name==lower bound of each runtime dependency")
    commands.add_parser("ranges", help="print each runtime dependency with its range")
    args = parser.parse_args(argv)
    if args.command == "floors":
        print("\n".join(floors()))
        return 0
    if args.command == "ranges":
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        print("\n".join(pyproject["project"]["dependencies"]))
        return 0
    if args.command == "lock":
        return lock(args.tools)
    steps = (getattr(args, "only", None) or ",".join(STEPS)).split(",")
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {','.join(STEPS)}")
    started = time.monotonic()
    status = check(steps)
    print(f"supply-chain: {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
