"""The package's layers, as folders: imports flow one way (cli -> testing -> workflows -> hub -> artifact -> source
-> the top-level leaves: errors, settings and the Hub's naming rules), no module imports another that imports it
back, and no private huggingface_hub API is used. Read from the source, every import counted (also those inside
functions): a newcomer can trust the tree."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ludwig_hub_export"
LAYERS = ["", "source", "artifact", "hub", "workflows", "testing", "cli"]  # "": modules at the top level


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports (relative and absolute, at any depth of the code)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: never imported when the code runs
            continue
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("ludwig_hub_export"):
                module = node.module.removeprefix("ludwig_hub_export").lstrip(".")
            else:
                continue
            targets = [f"{module}.{a.name}".lstrip(".") for a in node.names] + [module]
        elif isinstance(node, ast.Import):
            targets = [a.name.removeprefix("ludwig_hub_export").lstrip(".") for a in node.names
                       if a.name.startswith("ludwig_hub_export.")]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int:
    head = name.split(".")[0] if "." in name or name in LAYERS else ""
    return LAYERS.index(head)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    faces = {"", "__main__"}  # the package's face re-exports the public API lazily
    return {name: _imports(name, path, modules) - faces for name, path in modules.items() if name not in faces}


def test_every_module_is_in_a_layer_folder_or_a_top_level_leaf():
    for name in _graph():
        head = name.split(".")[0]
        assert "." not in name or head in LAYERS, f"{name}: not in a layer folder ({', '.join(LAYERS[1:])})"


def test_imports_flow_down_the_layers():
    wrong = [f"{a} ({LAYERS[_layer(a)] or 'top level'}) imports {b} ({LAYERS[_layer(b)] or 'top level'})"
             for a, targets in _graph().items() for b in targets
             if _layer(b) > _layer(a) and not (a.split(".")[0] == b.split(".")[0] == "")]
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [node, nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_huggingface_hub_api_outside_the_local_hub():
    """The client's private parts change without notice: the product uses its public API only."""
    private = []
    for name, path in _modules().items():
        if name.startswith("testing"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                    "huggingface_hub", "hf_xet"):
                bad = [p for p in node.module.split(".")[1:] if p.startswith("_")] + \
                      [a.name for a in node.names if a.name.startswith("_")]
                if bad:
                    private.append(f"{name}: from {node.module} import {', '.join(a.name for a in node.names)}")
    assert not private, "private huggingface_hub API:\n" + "\n".join(private)
