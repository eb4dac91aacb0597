"""The annotation app's modules import in one direction: app -> admin -> pages, never back."""

from __future__ import annotations

import ast

from tests.helpers.annotate import ROOT


def imported(module: str) -> set[str]:
    tree = ast.parse((ROOT / "annotation_ui" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("annotation_ui")}


def test_no_import_circle():
    assert imported("pages") == set()  # the leaf: templates, page(), headers
    assert "annotation_ui.app" not in imported("admin")
    assert "annotation_ui.app" not in imported("security")
    assert {"annotation_ui.admin", "annotation_ui.pages"} <= imported("app")
