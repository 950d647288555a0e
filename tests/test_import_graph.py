"""The import graph of ``src/llmrelay``: no cycles among module-level imports, and lower
layers never import higher ones (DESIGN.md §1).

Only imports that run when a module is imported count: those at module level, outside
``if TYPE_CHECKING:``. Imports inside functions run on first use and are how heavy or
optional dependencies stay out of ``import llmrelay``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "llmrelay"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    out: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for h in node.handlers:
                    walk(h.body)
                walk(node.orelse)
                walk(node.finalbody)

    walk(tree.body)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("llmrelay") and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_parent_package(importer: str, imported: str) -> bool:
    # ``import llmrelay.x.y`` runs ``llmrelay/__init__`` and ``llmrelay/x/__init__`` first;
    # a package importing its own submodules is how packages re-export, not a cycle.
    return importer.startswith(imported + ".")


def test_no_import_cycles() -> None:
    graph = {m: {d for d in deps if not _is_parent_package(m, d)}
             for m, deps in import_graph().items()}
    assert _cycles(graph) == []


def test_lower_layers_never_import_higher_ones() -> None:
    graph = import_graph()
    bad = []
    for mod, deps in graph.items():
        for dep in deps:
            if not mod.startswith("llmrelay.proxy") and dep.startswith("llmrelay.proxy"):
                bad.append((mod, dep))  # the SDK never imports the proxy
            if mod.startswith("llmrelay.callbacks") and dep.startswith("llmrelay.integrations"):
                bad.append((mod, dep))  # callbacks never import integrations
            core = mod.count(".") == 1 and mod.rpartition(".")[2].startswith("_")
            if core and dep.startswith("llmrelay.providers.") and not dep.startswith(
                    ("llmrelay.providers.base", "llmrelay.providers.registry")):
                bad.append((mod, dep))  # the core never imports a provider
    assert bad == []


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "llmrelay._context" in graph["llmrelay._client"]
    assert "llmrelay.providers.base" in graph["llmrelay._send"]


def test_a_serving_app_leaves_the_admin_routes_unloaded(tmp_path: Path) -> None:
    # The proxy app, built as `llmrelay serve` builds it, imports neither the modules of
    # its admin routes (imported by their first request: routes.lazy) nor the OpenAPI
    # document's.
    import json
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text("model_list:\n  - model_name: m\n    litellm_params:\n"
                      "      model: openai/gpt-4o-mini\n      api_key: sk-x\n")
    script = (
        "import json, sys\n"
        "from llmrelay.proxy.app import create_app\n"
        "from llmrelay.proxy.config import load_config\n"
        "create_app(load_config(sys.argv[1]))\n"
        "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(SRC),
                                                     "LLMRELAY_DATA_DIR": str(tmp_path)})
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    lazy = {f"llmrelay.proxy.routes.{m}" for m in (
        "keys", "spend", "teams", "users", "records", "audit", "reports", "model_info",
        "reports_litellm", "docs", "model_health")} | {"llmrelay.proxy.openapi", "llmrelay.proxy.openapi_admin"}
    assert not lazy & loaded
    assert "llmrelay.proxy.routes.llm" in loaded
