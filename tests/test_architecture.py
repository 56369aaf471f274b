"""The dependency rules of the layout (DESIGN.md), enforced by reading every import (function-
level ones included) of every module in ``qabot/`` and ``indexer/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(files: list[Path], *forbidden: str) -> list[str]:
    return [f"{f.relative_to(ROOT)} imports {name}" for f in files
            for name in sorted(imports_of(f)) if under(name, *forbidden)]


def test_the_rules_see_the_imports():
    # guard against a checker that reads nothing: known imports are found
    assert "indexer.store" in imports_of(ROOT / "qabot/retrieval/retriever.py")
    assert "indexer.sync" in imports_of(ROOT / "qabot/app.py")  # inside a function


def test_indexer_never_imports_qabot():
    assert offenders(modules("indexer"), "qabot") == []


@pytest.mark.parametrize("package", ["retrieval", "reader", "intents"])
def test_retrieval_reader_and_intents_never_import_each_other(package):
    others = {"retrieval", "reader", "intents", "dialogue"} - {package}
    files = modules(f"qabot/{package}")
    assert files
    assert offenders(files, *(f"qabot.{o}" for o in others)) == []


def test_faq_matching_imports_no_other_component():
    # the FAQ matcher and its pure twin check (qabot/dialogue/twins.py) are one component
    files = [ROOT / "qabot/dialogue/faq.py", ROOT / "qabot/dialogue/twins.py"]
    assert offenders(files, "qabot", "indexer") == [
        "qabot/dialogue/faq.py imports qabot.dialogue.twins"]


def test_front_ends_go_through_the_engine_and_the_composition_root():
    assert offenders(modules("qabot/frontends"), "qabot.history", "qabot.retrieval",
                     "qabot.reader", "qabot.intents", "indexer") == []


def test_only_front_ends_history_clis_and_the_root_import_service_libraries():
    allowed = ("frontends", "history", "cli")
    files = [f for f in modules("qabot") if f.relative_to(ROOT / "qabot").parts[0] not in allowed
             and f.name != "app.py"]
    assert offenders(files, "telegram", "sqlalchemy", "alembic", "argparse") == []


def test_runtime_code_never_imports_training():
    runtime = ("app.py", "config.py", "errors.py", "dialogue", "retrieval", "reader", "intents",
               "history", "frontends", "curation")
    files = [f for f in modules("qabot") if f.relative_to(ROOT / "qabot").parts[0] in runtime]
    assert offenders(files, "qabot.training") == []
