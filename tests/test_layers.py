"""The package's imports run one way, from the market up to the interfaces, with no cycle.

Layers (docs/architecture.md), lowest first; a module may import from its own layer or below,
never above. Imports sit at a module's top, except where the imported module is genuinely slow
to load or may be missing: the command line imports a command's module (``commands.<name>``)
when that command runs (so that ``--help`` answers at once and rule-based runs never load
torch), and any module may import the torch-backed policy modules, the environments (the
optional ``rl`` extra) and the browser page (the optional ``viz`` extra) on first use; each such
import says why in a ``# reason:`` comment, and the package has at most ``MAX_LAZY`` of them.
Imports under ``if TYPE_CHECKING:`` are for type hints and do not count;
``importlib.import_module("abm_hetero....")`` with a written name counts as an import.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "abm_hetero"
LAYERS = (
    ("foundation", ("errors", "validation", "config_io", "defaults", "distributions", "traits",
                    "output")),
    ("market", ("market",)),
    # statistics of a return series: they need only the market's returns, and training's
    # evaluation reports a few of them
    ("statistics", ("analysis.stylized_facts",)),
    ("learning", ("learning",)),
    ("agents", ("agents",)),
    ("settings", ("settings", "scenarios")),
    ("model", ("model",)),
    ("training", ("training",)),
    ("experiments", ("experiments",)),
    ("analysis", ("analysis",)),
    # ``commands``: what each command of the command line does, one module per command
    ("interfaces", ("cli", "commands", "viz", "envs", "bench", "__init__", "__main__")),
)
#: modules that load torch, and the environments and the browser page (optional extras):
#: anything may import them on first use
SLOW = ("learning", "training.trainer", "agents.learning", "envs", "viz")
#: what else a module may import on first use: the command line, a command's module
LAZY = {"cli": ("commands",)}
#: the most imports inside functions the package may have
MAX_LAZY = 15


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def layer(module: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f"{module} is in no layer: add it to LAYERS"
    return level


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def internal_imports(path: Path):
    """(target module, line, inside a function) for every import of the package's modules."""
    source = module_name(path)
    package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
    if source == "__init__":
        package = []
    found = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    target = ".".join([*base, *(child.module.split(".") if child.module else [])])
                elif child.module and child.module.startswith("abm_hetero"):
                    target = child.module.removeprefix("abm_hetero").lstrip(".")
                else:
                    continue
                for alias in child.names:
                    full = f"{target}.{alias.name}" if target else alias.name
                    sub = PACKAGE.joinpath(*full.split("."))
                    is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                    found.append((full if is_module else target or "__init__", child.lineno,
                                  in_function))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("abm_hetero."):
                        found.append((alias.name.removeprefix("abm_hetero."), child.lineno,
                                      in_function))
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                  and child.func.attr == "import_module" and child.args):
                # importlib.import_module("abm_hetero.a.b") or f"abm_hetero.a.{name}": the
                # module named before any placeholder
                name = child.args[0]
                if isinstance(name, ast.JoinedStr) and name.values:
                    name = name.values[0]
                text = name.value if isinstance(name, ast.Constant) else None
                if isinstance(text, str) and text.startswith("abm_hetero."):
                    found.append((text.removeprefix("abm_hetero.").rstrip("."), child.lineno,
                                  in_function))
            visit(child, nested)

    visit(ast.parse(path.read_text()), False)
    return source, found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_point_down_and_sit_at_the_top(path):
    source, imports = internal_imports(path)
    for target, line, in_function in imports:
        assert layer(target) <= layer(source), (
            f"{source}:{line} imports {target}, a layer above it")
        if in_function:
            lazy = SLOW + LAZY.get(source, ())
            assert any(target == s or target.startswith(s + ".") for s in lazy), (
                f"{source}:{line} imports {target} inside a function; move it to the top")


def has_reason(lines: list[str], number: int) -> bool:
    """Whether the import on line ``number`` says why it is inside a function: a ``# reason:``
    comment on its line, or on the line above it or above the imports just before it."""
    i = number - 1
    if "# reason:" in lines[i]:
        return True
    i -= 1
    while i >= 0 and lines[i].lstrip().startswith(("from ", "import ")):
        if "# reason:" in lines[i]:
            return True
        i -= 1
    return i >= 0 and lines[i].lstrip().startswith("# reason:")


def test_few_imports_inside_functions_each_with_its_reason():
    inside = []
    for path in MODULES:
        source, imports = internal_imports(path)
        lines = path.read_text().splitlines()
        for line in sorted({line for _, line, in_function in imports if in_function}):
            assert has_reason(lines, line), (
                f"{source}:{line} imports inside a function without a '# reason:' comment")
            inside.append(f"{source}:{line}")
    assert len(inside) <= MAX_LAZY, (
        f"{len(inside)} imports inside functions (at most {MAX_LAZY}): {', '.join(inside)}")


def test_no_import_cycle():
    graph = {}
    for path in MODULES:
        source, imports = internal_imports(path)
        graph.setdefault(source, set()).update(t for t, _, f in imports if not f and t != source)
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] if nxt in trail else trail
                raise AssertionError("import cycle: " + " -> ".join([*cycle, nxt]))
            if nxt not in state:
                walk(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])


def test_the_layer_map_knows_every_module():
    for path in MODULES:
        layer(module_name(path))
