"""Layers without circles: the import graph of ``gcsim``, read from the source with ``ast``,
counting every import — top level, inside functions and under ``if TYPE_CHECKING:``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "gcsim"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """Modules of ``gcsim`` and an edge A → B wherever A imports B (or a name from B)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in modules else base)
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_the_graph_sees_imports_everywhere():
    graph = import_graph()
    # a top-level import, one inside a function and one under TYPE_CHECKING
    assert graph.has_edge("gcsim.model", "gcsim.rules")
    assert graph.has_edge("gcsim.therapies.radiotherapy", "gcsim.kernels.therapy")
    assert graph.has_edge("gcsim.therapies.base", "gcsim.interface")


def test_no_import_cycles():
    graph = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_kernels_import_only_kernels_and_the_state_layer():
    graph = import_graph()
    allowed = {"gcsim.state", "gcsim.cells"}
    for module in (n for n in graph if n.startswith("gcsim.kernels")):
        reached = nx.descendants(graph, module)
        outside = {m for m in reached if not m.startswith("gcsim.kernels") and m not in allowed}
        assert not outside, f"{module} reaches {sorted(outside)}"


def test_therapies_and_observers_do_not_import_the_model():
    graph = import_graph()
    for module in graph:
        if module.startswith(("gcsim.therapies", "gcsim.observe", "gcsim.agents")):
            assert "gcsim.model" not in nx.descendants(graph, module), module


def test_importing_the_scenario_layer_loads_no_numba():
    code = "import sys, gcsim.scenario, gcsim.params; print('numba' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
