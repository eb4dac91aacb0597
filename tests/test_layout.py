"""The package layout the architecture promises: stand-ins under curate/testing, short modules."""

import importlib
import re
from pathlib import Path

import pytest

CURATE = Path(__file__).resolve().parents[1] / "curate"


@pytest.mark.parametrize("old", ["localserver.py", "llm/testserver.py", "export/hub_standin.py", "rm/tiny.py",
                                 "annotate/argilla_standin.py", "testing.py"])
def test_stand_ins_left_the_library_packages(old):
    # a file check, not find_spec: an editable install elsewhere could still answer for the old name
    assert not (CURATE / old).exists(), f"curate/{old} should live under curate/testing/"


@pytest.mark.parametrize("mod", ["curate.testing.llm_server", "curate.testing.argilla_standin",
                                 "curate.testing.argilla_state", "curate.testing.hub_standin",
                                 "curate.testing.localserver", "curate.testing.tiny_rm"])
def test_stand_ins_import_from_curate_testing(mod):
    importlib.import_module(mod)


def test_fakes_exported_beside_their_backends_and_by_curate_testing():
    from curate.embed import FakeEmbedder
    from curate.llm import FakeLLM
    from curate.testing import FakeEmbedder as TE
    from curate.testing import FakeLLM as TL
    from curate.testing import make_pairs

    assert (TE, TL) == (FakeEmbedder, FakeLLM)
    assert make_pairs(3).height == 3


def test_library_code_does_not_import_the_stand_ins():
    pattern = re.compile(r"^\s*(from|import)\s+curate\.testing", re.M)
    offenders = [str(p.relative_to(CURATE)) for p in CURATE.rglob("*.py")
                 if "testing" not in p.relative_to(CURATE).parts and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(CURATE)): n for p in CURATE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_every_registering_module_is_in_the_catalog():
    from curate.catalog import MODULES

    pattern = re.compile(r"@(STEPS|FORMATS|LLMS|EMBEDDERS|INDEXES|STORES)\.register\(")
    registering = {".".join(p.relative_to(CURATE.parent).with_suffix("").parts) for p in CURATE.rglob("*.py")
                   if pattern.search(p.read_text(encoding="utf-8"))}
    assert registering - set(MODULES) == set(), "add these to curate/catalog.py MODULES"


def _module_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Module name → the package's modules it imports at module level (not inside functions)."""
    import ast

    mods = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = p
    graph: dict[str, set[str]] = {}
    for name, p in mods.items():
        deps = set()
        for node in ast.parse(p.read_text(encoding="utf-8")).body:  # top level only
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in mods and t != name and t.startswith(package)}
        graph[name] = deps
    return graph


@pytest.mark.parametrize("package", ["curate", "annotation_ui"])
def test_no_import_circle(package):
    graph = _module_imports(CURATE.parent / package, package)
    # a package's __init__ re-exporting its children is not a circle; skip edges child → own parent package
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            visit(d)
        stack.pop()

    for n in sorted(graph):
        visit(n)
    assert cycles == [], " ; ".join(" → ".join(c) for c in cycles[:5])
