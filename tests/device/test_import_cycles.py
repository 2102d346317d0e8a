"""No import cycles among the meter's modules (device/, prepay/, boards/): the pipeline flows
one way, so a module never imports, directly or through others, a module that imports it.
Every import statement counts, also those inside functions (the late imports that hid the
old cycles). Modules are named as the meter imports them: device/ and each board folder at
the flash root, prepay/ as the prepay package."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOARDS = sorted(p.parent.name for p in (REPO / "boards").glob("*/board.py"))


def modules(board):
    """{module name: path} of what a bundle for `board` holds (host_tools/build.py)."""
    roots = [(REPO / "device", ""), (REPO / "boards" / board, ""), (REPO / "prepay", "prepay.")]
    if board.startswith("esp32_"):
        roots.append((REPO / "boards" / "esp32", ""))
    if board == "unix_sim":
        roots.append((REPO / "simulated", "simulated."))
    out = {}
    for base, prefix in roots:
        for p in base.rglob("*.py"):
            if "__pycache__" in p.parts or p.name == "manifest.py":
                continue
            name = prefix + ".".join(p.relative_to(base).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


def imports(path, name, known):
    """The modules among `known` that module `name` (file `path`) imports."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    got = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            got.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[:len(pkg.split(".")) - node.level + 1] if pkg else []
                base = ".".join(up + ([base] if base else []))
            got.add(base)
            got.update(base + "." + a.name for a in node.names)   # from pkg import module
    return {g for g in got if g in known and g != name}


def cycles(graph):
    """Every elementary cycle's smallest rotation, found by depth-first search."""
    found = set()

    def walk(start, node, path):
        for nxt in graph[node]:
            if nxt == start:
                i = path.index(min(path))
                found.add(tuple(path[i:] + path[:i]))
            elif nxt > start and nxt not in path:
                walk(start, nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return sorted(found)


@pytest.mark.parametrize("board", BOARDS)
def test_no_import_cycles(board):
    mods = modules(board)
    graph = {n: sorted(imports(p, n, mods)) for n, p in mods.items()}
    assert cycles(graph) == []


def test_the_check_finds_a_cycle():
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [("a", "b", "c")]
    assert cycles({"a": ["b"], "b": []}) == []
