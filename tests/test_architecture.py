"""The import rules of docs/architecture.md, checked on the package's own imports (ast).

``MAY_IMPORT`` is the one table of rules: which module groups each group may import at
run time. A group is a top-level module of ``ses_exporter`` or one of its packages
(``collectors``, ``web``, ``pages``, ``demo``); a group may always import its own modules and the
package root (``__version__``). Imports under ``if TYPE_CHECKING:`` are for the type
checker only and are not counted; imports inside functions are (they run, only later).
The table in docs/architecture.md must say the same.
"""

from __future__ import annotations

import ast
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
