"""The import rules of docs/architecture.md, enforced: the library never reaches up or sideways.

``fraud_mlops`` never imports the flows, the Pulumi program, the API, the test or tool
packages, or Metaflow and Pulumi themselves (anywhere: module level or inside a function);
importing every one of its modules leaves none of them in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "src" / "fraud_mlops"
# Top-level packages the library must not import (see docs/architecture.md, "Import rules").
FORBIDDEN = ("flows", "infra", "lambda_api", "tools", "tests", "scripts", "benchmarks", "cards")
FORBIDDEN_THIRD_PARTY = ("metaflow", "pulumi", "pulumi_aws", "pulumi_policy")


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a file, with its line: ``import a.b`` and ``from a.b import c``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_no_library_file_imports_upward_or_metaflow():
    banned = set(FORBIDDEN + FORBIDDEN_THIRD_PARTY)
    offences = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sorted(LIBRARY.rglob("*.py"))
        for line, name in imported_names(path)
        if name.split(".")[0] in banned
    ]
    assert offences == []


def test_the_scan_catches_an_import_inside_a_function(tmp_path):
    """The rule above can fail: a function-level Metaflow import is found."""
    sample = tmp_path / "sample.py"
    sample.write_text("def card():\n    from metaflow.cards import Markdown\n    return Markdown\n")
    assert imported_names(sample) == [(2, "metaflow.cards")]


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import fraud_mlops
names = [m.name for m in pkgutil.walk_packages(fraud_mlops.__path__, "fraud_mlops.")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
roots = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": names, "roots": roots}))
"""


def test_importing_every_library_module_loads_no_metaflow_flows_or_infra():
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=REPO / "src",  # not the repo root: `flows`, `infra` … must not be importable by luck
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (
        "fraud_mlops.pipeline" in found["modules"] and "fraud_mlops.contracts" in found["modules"]
    )
    assert len(found["modules"]) > 30
    loaded = set(found["roots"]) & set(FORBIDDEN + FORBIDDEN_THIRD_PARTY)
    assert loaded == set()


HEAVY = ("torch", "pandas", "pyarrow", "sklearn", "lightgbm", "metaflow")


def test_the_pulumi_program_imports_only_light_parts_of_the_library():
    """infra/ imports no ML stack, no flows and no API, and the library modules it does import
    load none of the heavy packages in a fresh interpreter."""
    banned = set(HEAVY) | {"flows", "lambda_api", "tools", "tests", "scripts", "cards"}
    library: set[str] = set()
    offences = []
    for path in sorted((REPO / "infra").glob("*.py")):
        for line, name in imported_names(path):
            if name.split(".")[0] in banned:
                offences.append(f"{path.relative_to(REPO)}:{line} imports {name}")
            if name.startswith("fraud_mlops"):
                library.add(name)
    assert offences == []
    assert library, "infra/ is expected to use the library's pure specs"
    script = (
        "import importlib, json, sys\n"
        f"for name in {sorted(library)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO / "src",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
