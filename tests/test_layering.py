"""The architecture's rules that code review alone would let slip: the CLI is a layer
on top (nothing below imports it), and each parser exists once."""

from __future__ import annotations

import ast
from pathlib import Path

import tensorgame

PACKAGE = Path(tensorgame.__file__).resolve().parent


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def _imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _defined(tree: ast.Module) -> set[str]:
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_nothing_below_the_cli_imports_it():
    offenders = [
        (path, module)
        for path, tree in _modules().items() if not path.startswith("cli/")
        for module in _imported(tree) if module == "tensorgame.cli" or module.startswith("tensorgame.cli.")
    ]
    assert offenders == []


def test_each_parser_exists_once():
    modules = _modules()
    for name, home in (("parse_duration", "durations.py"), ("parse_ring", "tensors/rings.py"),
                       ("parse_target", "tensors/target_names.py"),
                       ("target_from_words", "tensors/target_names.py"),
                       ("resolve_start", "search/flipgraph/session.py"),
                       ("flip_rings", "search/flipgraph/session.py")):
        homes = [path for path, tree in modules.items() if name in _defined(tree)]
        assert homes == [home], (name, homes)
