"""The layers of README "How it is built", checked from the source so they stay true.

Every `import` in src/streamproc (top level, inside functions and under TYPE_CHECKING alike) is
read with `ast`; nothing is imported. A package may import only packages of a lower layer, so
the package graph has no cycle, the domain stays pure and the worker never pulls in tooling.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "streamproc"

# Lower layers first. A unit (a package, or a module at the root of streamproc) may import
# units of a strictly lower layer, and itself.
LAYERS: list[set[str]] = [
    {"__init__", "errors"},  # the version, the error base
    {"domain"},  # the contract: receipts, program, money, time, results; no I/O
    {"engine", "observability"},  # the calculation (reference and compiled); metrics, probes
    {"config"},  # the worker's settings (from the environment)
    {"state"},  # where state lives: memory, Redis
    {"processing"},  # faust-free batch pipeline: messages -> Redis -> records
    {"stream", "replay", "quote"},  # the worker, replays, the quote API
    {"tools"},  # developer tooling: never imported by what the worker runs
    {"commands"},  # the CLI's sub-commands
    {"cli"},
    {"__main__"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
PART_OF = {"_fastcalc": "engine"}  # the compiled engine (a .pyx at the package root)

# Third-party packages that belong to one adapter only.
ONLY_IN = {
    "faust": {"stream"},
    "mode": {"stream"},  # faust's service library
    # state/ wraps its errors (state.errors); tools run stacks; a command may open the client
    # it hands to state (the CLI is the top: nothing is above it to leak to)
    "redis": {"state", "tools", "commands"},
}


def _unit(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else Path(rel[0]).stem


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("").parts
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(("streamproc", *rel))


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`; `from streamproc import x`
    gives `streamproc.x` when `x` is a module or package, else `streamproc`."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # the package a relative import starts from
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            for a in node.names:
                sub = f"{mod}.{a.name}"
                is_module = (SRC.parent / sub.replace(".", "/")).with_suffix(".py").exists() \
                    or (SRC.parent / sub.replace(".", "/")).is_dir() \
                    or (mod == "streamproc" and a.name == "_fastcalc")
                out.append((node.lineno, sub if is_module else mod))
    return out


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _unit_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "streamproc":
        return None
    unit = parts[1] if len(parts) > 1 else "__init__"
    return PART_OF.get(unit, unit)


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in _sources()}
    assert units - RANK.keys() == set(), "give the new package a layer in LAYERS"


def test_imports_go_down_the_layers_only() -> None:
    bad = []
    for path in _sources():
        unit = _unit(path)
        for line, mod in _imports(path):
            target = _unit_of(mod)
            if target is None or target == unit:
                continue
            if RANK[target] >= RANK[unit]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {unit} imports {mod}")
    assert bad == [], "imports from a layer up or sideways:\n" + "\n".join(bad)


def test_adapters_own_their_libraries() -> None:
    bad = []
    for path in _sources():
        unit = _unit(path)
        for line, mod in _imports(path):
            lib = mod.split(".")[0]
            if lib in ONLY_IN and unit not in ONLY_IN[lib]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {unit} imports {mod}")
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("unit", "forbidden"),
    [
        ("domain", {"engine", "state", "processing", "stream", "replay", "quote", "commands",
                    "tools", "observability", "config", "cli"}),
        ("engine", {"state", "processing", "stream", "replay", "quote", "observability",
                    "commands", "tools", "config"}),
        ("processing", {"stream", "replay", "quote", "commands", "tools"}),
        ("state", {"processing", "stream", "replay", "quote", "commands", "tools"}),
        ("observability", {"engine", "state", "processing", "stream", "replay", "quote",
                           "commands", "tools"}),
    ],
)
def test_the_named_rules(unit: str, forbidden: set[str]) -> None:
    """The rules as the README states them (also implied by the layers, named for clarity)."""
    bad = [f"{p.relative_to(SRC)}:{line}: {mod}" for p in _sources() if _unit(p) == unit
           for line, mod in _imports(p) if _unit_of(mod) in forbidden]
    assert bad == []


def test_only_tools_and_commands_import_tools() -> None:
    bad = [f"{p.relative_to(SRC)}:{line}: {mod}" for p in _sources()
           if _unit(p) not in {"tools", "commands"}
           for line, mod in _imports(p) if _unit_of(mod) == "tools"]
    assert bad == []


def test_no_import_cycle_between_modules() -> None:
    """No cycle among modules either (a lazy import inside a function counts too)."""
    modules = {_module(p): p for p in _sources()}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for _, mod in _imports(path):
            while mod and mod not in modules:  # `from pkg.mod import name` -> pkg.mod
                mod = mod.rpartition(".")[0]
            if mod and mod != name and not name.startswith(mod + "."):
                graph[name].add(mod)  # (a package's own __init__ is not a cycle)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [])
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports() -> None:
    """The checks above would pass on nothing: make sure they read real imports."""
    engine_imports = {mod for p in _sources() if _unit(p) == "engine" for _, mod in _imports(p)}
    assert "streamproc.domain.program" in engine_imports
    stream_libs = {mod.split(".")[0] for p in _sources() if _unit(p) == "stream"
                   for _, mod in _imports(p)}
    assert "faust" in stream_libs
