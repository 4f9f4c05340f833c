"""The import rules of docs/architecture.md, checked on the package's own imports (ast), and
the test suite's own rules (no test module imports another; one launcher per program).

``MAY_IMPORT`` is the one table of rules: which module groups each group may import at
run time. A group is a top-level module of ``ses_exporter`` or one of its packages
(``collectors``, ``web``, ``pages``, ``demo``); a group may always import its own modules and the
package root (``__version__``). Imports under ``if TYPE_CHECKING:`` are for the type
checker only and are not counted; imports inside functions are (they run, only later).
The table in docs/architecture.md must say the same.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import ses_exporter

PACKAGE = Path(ses_exporter.__file__).resolve().parent
DOC = PACKAGE.parent / "docs" / "architecture.md"
ROOT = "ses_exporter"

MAY_IMPORT: dict[str, frozenset[str]] = {
    name: frozenset(allowed.split())
    for name, allowed in {
        "__main__": "cli",
        "cli": "config logsetup shard web daemon reload demo backfill",
        "backfill": "aws collectors config config_types discovery families logsetup shard targets",
        "reload": "config daemon web",
        "daemon": "aws config discovery pages poller scrape shard store targets",
        "scrape": "aws discovery exposition families store",
        "web": "config config_types yaml_loader store",
        "pages": "config_types store",
        "poller": "aws config logsetup store targets",
        "discovery": "aws config logsetup organizations targets",
        "targets": "aws collectors config organizations",
        "collectors": "aws config_types counters families logsetup",
        "organizations": "",
        "store": "exposition",
        "shard": "",
        "config": "collectors config_types yaml_loader",
        "config_types": "aws yaml_loader",
        "yaml_loader": "",
        "aws": "",
        "counters": "",
        "families": "",
        "exposition": "",
        "logsetup": "",
        "demo": "",
    }.items()
}
# Third-party packages that only these groups may import at run time.
ONLY_IN: dict[str, frozenset[str]] = {
    "boto3": frozenset({"aws", "demo"}),  # the demo seeds moto as a user of AWS would
    # demo: its responders check simulated answers against the model (botocore.validate)
    "botocore": frozenset({"aws", "demo"}),
    "moto": frozenset({"demo"}),
    "apscheduler": frozenset({"poller"}),
    "bcrypt": frozenset({"web"}),
    "yaml": frozenset({"yaml_loader"}),
}


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def group(module: str) -> str:
    """ses_exporter.collectors.cloudwatch -> collectors; the root itself -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def runtime_imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports at run time, resolved to a module name (a name imported
    from a package is the submodule if there is one, else the package)."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped: set[int] = set()  # ids of nodes under `if TYPE_CHECKING:`
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def edges() -> dict[str, set[str]]:
    return {name: set(runtime_imports(name, path)) for name, path in modules().items()}


def test_the_table_names_every_group_and_only_groups() -> None:
    groups = {group(name) for name in modules()} - {""}
    assert set(MAY_IMPORT) == groups
    assert all(allowed <= groups for allowed in MAY_IMPORT.values())


def test_every_import_of_the_package_follows_the_table() -> None:
    broken = []
    for name, imported in edges().items():
        for target in sorted(imported):
            if target != ROOT and not target.startswith(ROOT + "."):
                continue
            source, dest = group(name), group(target)
            if dest in ("", source) or source == "":
                continue
            if dest not in MAY_IMPORT[source]:
                broken.append(f"{name} imports {target}")
    assert broken == []


def test_third_party_packages_stay_in_their_modules() -> None:
    broken = []
    for name, imported in edges().items():
        for target in imported:
            top = target.split(".")[0]
            if top in ONLY_IN and group(name) not in ONLY_IN[top]:
                broken.append(f"{name} imports {target}")
    assert broken == []


def test_no_import_cycles_between_modules_or_groups() -> None:
    graph = {n: {t for t in ts if t.startswith(ROOT + ".")} for n, ts in edges().items()}
    assert _cycles(graph) == []
    groups: dict[str, set[str]] = {g: set() for g in MAY_IMPORT}
    for name, imported in graph.items():
        groups.setdefault(group(name), set()).update(
            group(t) for t in imported if group(t) != group(name)
        )
    assert _cycles(groups) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path per cycle found by depth-first search (empty: the graph is acyclic)."""
    found, done, path = [], set(), []

    def visit(node: str) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
    return found


def test_the_architecture_doc_states_the_same_rules() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("\n## Import rules\n", 1)[1].split("\n## ", 1)[0]
    stated = {}
    for row in re.findall(r"^\| `(\w+)` \|(.*)\|$", table, flags=re.MULTILINE):
        stated[row[0]] = frozenset(re.findall(r"`(\w+)`", row[1]))
    assert stated == MAY_IMPORT


# --- the test suite's own rules --------------------------------------------------------

TESTS = Path(__file__).resolve().parent
# The one module that starts each program; everyone else calls it.
LAUNCHERS = {"exporter": "daemon.py", "prometheus": "prometheus.py"}


def test_modules_of_the_suite_never_import_a_test_module() -> None:
    """What tests share lives in modules made for it (helpers.py, fakes.py, daemon.py,
    prometheus.py, ...): importing a test module runs its module-level set-up again and
    hides a shared piece among tests, where the next reader does not look for it."""
    broken = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = (
                    [f"{base}.{alias.name}" for alias in node.names]
                    if base in ("tests", "")
                    else [base]
                )
            else:
                continue
            broken += [
                f"tests/{path.name} imports {name}" for name in names if _a_test_module(name)
            ]
    assert broken == []


def _a_test_module(name: str) -> bool:
    """tests.test_web, test_web, .test_web: a module pytest collects."""
    return any(part.startswith("test_") for part in name.split("."))


def started(path: Path) -> set[str]:
    """What the module's code starts as a process: "exporter" for ``python -m ses_exporter``
    (arguments "-m", "ses_exporter" in a row, or a command string with "-m ses_exporter";
    docstrings do not count), "prometheus" for ``Popen(["prometheus", ...])``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple, ast.Call)):
            items = node.args if isinstance(node, ast.Call) else node.elts
            words = [i.value if isinstance(i, ast.Constant) else None for i in items]
            if ("-m", ROOT) in itertools.pairwise(words):
                found.add("exporter")
        text = node.value if isinstance(node, ast.Constant) and id(node) not in bare else None
        if isinstance(text, str) and f"-m {ROOT}" in text:
            found.add("exporter")
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Popen") and node.args:
            command = node.args[0]
            first = command.elts[0] if isinstance(command, ast.List) and command.elts else None
            if first is not None and ast.unparse(first) in ("'prometheus'", "PROMETHEUS"):
                found.add("prometheus")
    return found


def test_one_module_starts_the_exporter_and_one_starts_prometheus() -> None:
    """``tests/daemon.py`` alone runs ``python -m ses_exporter`` and ``tests/prometheus.py``
    alone starts a Prometheus server, so that every test gets the same free port, readiness
    wait, log capture and clean stop."""
    broken = [
        f"tests/{path.name} starts {program}, which only tests/{LAUNCHERS[program]} should"
        for path in sorted(TESTS.glob("*.py"))
        for program in sorted(started(path))
        if path.name != LAUNCHERS[program]
    ]
    assert broken == []
    for program, launcher in LAUNCHERS.items():  # the scan still finds the launchers
        assert program in started(TESTS / launcher), launcher
