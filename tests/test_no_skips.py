"""No test hides a regression behind a skip: the only skips allowed are for a missing
external tool, and CI (.ci/run) installs every such tool, so nothing skips in CI.

Every ``pytest.skip``, ``pytest.mark.skip``/``skipif``, ``xfail`` and ``importorskip`` in
the test modules is found with ``ast``; a skip must give a reason naming one of ``TOOLS``
("<tool> is not installed" or "<tool> missing"), and no xfail or importorskip may exist.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CI_RUN = TESTS.parent / ".ci" / "run"
# tool named in a skip reason -> what .ci/run does to have it
TOOLS: dict[str, str] = {
    "promtool": "apt-get install -y -qq --no-install-recommends prometheus",
    "prometheus": "apt-get install -y -qq --no-install-recommends prometheus",
    "amtool": "prometheus-alertmanager",
    "helm": ".ci/install-helm",
    "Grafana schema tools": "npm ci --prefix deploy/grafana/schema",
}
SKIPPING = frozenset({"skip", "skipif", "xfail", "importorskip"})  # also pytest.mark.*


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _strings(node: ast.AST, tree: ast.Module) -> list[str]:
    """The literal text of a reason: a string, an f-string's literal parts, or the strings
    assigned to the variable it names anywhere in the module."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
    if isinstance(node, ast.Name):
        return [
            text
            for assign in ast.walk(tree)
            if isinstance(assign, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == node.id for t in assign.targets)
            for text in _strings(assign.value, tree)
        ]
    return []


def skips(tree: ast.Module) -> Iterator[tuple[int, str, list[str]]]:
    """(line, pytest name, reason texts) for every skip-like use of pytest in ``tree``;
    a decorator used without a call (``@pytest.mark.xfail``) has no reason texts."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        target = node.func if isinstance(node, ast.Call) else node
        if not isinstance(target, ast.Attribute) or (node is target and id(node) in called):
            continue
        name = _dotted(target)
        if not name.startswith("pytest.") or name.rsplit(".", 1)[-1] not in SKIPPING:
            continue
        texts = []
        if isinstance(node, ast.Call):
            reasons = [kw.value for kw in node.keywords if kw.arg in ("reason", "msg")]
            texts = [t for arg in [*node.args, *reasons] for t in _strings(arg, tree)]
        yield node.lineno, name, texts


def problems(tree: ast.Module) -> tuple[list[str], set[str]]:
    """(skips that are not for a missing tool, the tools the others wait for)."""
    bad, tools = [], set()
    for line, name, texts in sorted(skips(tree)):
        if name.rsplit(".", 1)[-1] not in ("skip", "skipif") or name == "pytest.mark.skip":
            bad.append(f"{line}: {name}")
            continue
        named = {
            tool
            for tool in TOOLS
            for text in texts
            if f"{tool} is not installed" in text or f"{tool} missing" in text
        }
        if not named:
            bad.append(f"{line}: {name} {texts}")
        tools |= named
    return bad, tools


def test_every_skip_is_for_a_missing_tool_that_ci_installs() -> None:
    bad, seen = [], set()
    for path in sorted(TESTS.glob("*.py")):
        if path.name != Path(__file__).name:
            found, tools = problems(ast.parse(path.read_text(encoding="utf-8")))
            bad += [f"{path.name}:{problem}" for problem in found]
            seen |= tools
    assert bad == []
    assert seen == set(TOOLS), "a tool no skip waits for, or a scan that finds nothing"


def test_ci_installs_every_tool_a_skip_may_wait_for() -> None:
    ci = CI_RUN.read_text(encoding="utf-8")
    assert {tool: how in ci for tool, how in TOOLS.items()} == dict.fromkeys(TOOLS, True)


def test_the_scan_reports_what_hides_regressions() -> None:
    """The scan itself can fail: a skip without a tool, an xfail (called or bare) and an
    importorskip are reported; a skip for a missing tool is not."""
    source = (
        "import pytest\n"
        "def test_a():\n    pytest.skip('not supported by this version yet')\n"
        "def test_b():\n    pytest.xfail('flaky')\n"
        "@pytest.mark.xfail\ndef test_c(): ...\n"
        "yaml = pytest.importorskip('yaml')\n"
        "@pytest.mark.skipif(True, reason='promtool is not installed')\ndef test_d(): ...\n"
    )
    bad, tools = problems(ast.parse(source))
    assert bad == [
        "3: pytest.skip ['not supported by this version yet']",
        "5: pytest.xfail",
        "6: pytest.mark.xfail",
        "8: pytest.importorskip",
    ]
    assert tools == {"promtool"}
