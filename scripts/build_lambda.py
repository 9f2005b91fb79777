"""Build dist/lambda.zip: the scoring API for the Lambda ``python3.12`` x86_64 runtime.

The zip holds ``lambda_api``, the torch-free library modules the scoring path imports, and the
serving dependencies pinned to their versions in requirements.lock, installed for the Lambda
platform (manylinux x86_64 wheels for CPython 3.12, whatever this machine runs). boto3 is not
packed: the Lambda Python runtime provides it, and only an ``s3://`` MODEL_URI uses it.

Steps: pip install --target (wheels only) -> copy our modules -> check their imports stay inside
the zip (no torch/pandas/pyarrow, no library module left behind) -> precompile bytecode with a
CPython 3.12 when one is available (the task root is read-only, so Lambda could never cache
it) -> smoke-import the handler on 3.12 -> zip reproducibly (sorted entries, fixed timestamps)
-> fail if the unzipped size passes the budget.

Usage: python scripts/build_lambda.py [--out dist/lambda.zip] [--max-unzipped-mb 70]
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
# What the API imports; their own dependencies are resolved by pip, constrained by the lock.
# threadpoolctl: the scorer holds BLAS to one thread for batches when it is importable.
# pydantic-settings: every runtime's settings (it brings python-dotenv, pinned by the lock too).
# aws-lambda-powertools: the structured logger, EMF metrics and the X-Ray tracer.
SERVING = (
    "aws-lambda-powertools",
    "fastapi",
    "mangum",
    "orjson",
    "pydantic",
    "pydantic-settings",
    "numpy",
    "PyYAML",
    "threadpoolctl",
)
# X-Ray tracing (POWERTOOLS_TRACE_DISABLED=false) needs the X-Ray SDK; its botocore dependency
# is the runtime's, so these two go in without dependencies.
TRACING = ("aws-xray-sdk", "wrapt")
# The torch-free library modules on the scoring path (store.py is not: it needs pyarrow;
# lambda_api.fetch reads the same store_layout with boto3 instead).
LIBRARY = (
    "__init__.py",
    "errors.py",
    "schema.py",
    "dates.py",
    "settings.py",
    "settings_base.py",
    "store_layout.py",
    "capture_format.py",
    "outcomes.py",
    "outcome_store.py",
    "preprocessing.py",
    "artifact.py",
    "drift.py",
    "scoring.py",
    "neural.py",
    "trees.py",
    "treeshap.py",
)
FORBIDDEN = {"torch", "pandas", "pyarrow", "sklearn", "scipy", "metaflow", "pulumi", "matplotlib"}
# In the Lambda Python runtime (snapshot_restore_py: the SnapStart hooks, in managed runtimes).
RUNTIME_PROVIDED = {"boto3", "botocore", "snapshot_restore_py"}
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
PRUNE_DIRS = {"__pycache__", "tests", "testing"}
# Type stubs, C headers/sources and numpy's Fortran wrapper generator are never used at run time.
PRUNE_GLOBS = ("*.pyi", "*.h", "*.c", "*.pxd")
PRUNE_PATHS = ("numpy/f2py", "numpy/_core/include", "numpy/_pyinstaller", "bin")
# Powertools ships every utility; the API uses its logger, metrics and tracer, which need only
# utilities/typing and jmespath_utils (the smoke test imports the handler from the pruned tree).
POWERTOOLS = "aws_lambda_powertools"
POWERTOOLS_KEEP = {"typing", "jmespath_utils", "__init__.py"}


class BuildError(Exception):
    """The build cannot produce a zip that would work on Lambda."""


def pinned(names: tuple[str, ...], lock: Path) -> list[str]:
    """``name==version`` for each name, from requirements.lock (case/dash-insensitive)."""
    versions = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            versions[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    missing = [n for n in names if re.sub(r"[-_.]+", "-", n.lower()) not in versions]
    if missing:
        raise BuildError(f"{lock} pins no version for {missing}: add them to the lock first")
    return [f"{n}=={versions[re.sub(r'[-_.]+', '-', n.lower())]}" for n in names]


def pip_install(target: Path, python_version: str) -> None:
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--disable-pip-version-check", "--target", str(target),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
        *[arg for p in PLATFORMS for arg in ("--platform", p)],
        "-c", str(LOCK), *pinned(SERVING, LOCK),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode == 0:
        no_deps = [*cmd[: cmd.index("-c")], "--no-deps", *pinned(TRACING, LOCK)]
        done = subprocess.run(no_deps, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(
            "pip could not install the serving dependencies for "
            f"cp{python_version.replace('.', '')} {'/'.join(PLATFORMS)}:\n{done.stderr[-3000:]}"
        )


def prune(root: Path) -> None:
    """Drop what never runs on Lambda: test suites, caches, stubs, headers, console scripts."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS and "dist-info" not in str(path):
            shutil.rmtree(path, ignore_errors=True)
    for pattern in PRUNE_GLOBS:
        for path in root.rglob(pattern):
            path.unlink()
    for rel in PRUNE_PATHS:
        shutil.rmtree(root / rel, ignore_errors=True)
    shutil.rmtree(root / POWERTOOLS / "event_handler", ignore_errors=True)
    utilities = root / POWERTOOLS / "utilities"
    for path in utilities.iterdir() if utilities.is_dir() else ():
        if path.name in POWERTOOLS_KEEP:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def strip_binaries(root: Path) -> bool:
    """``strip --strip-unneeded`` the extension modules (keeps the dynamic symbols).

    Libraries that auditwheel vendored into ``*.libs`` folders are left alone: patchelf has
    rewritten their headers, and stripping them breaks loading ("ELF load command address/offset
    not page-aligned"); the smoke test catches any such breakage.
    """
    strip = shutil.which("strip")
    if strip is None:
        print("note: no `strip` on this machine: shared objects left as they are")
        return False
    for path in sorted(root.rglob("*.so*")):
        if path.is_file() and not path.relative_to(root).parts[0].endswith(".libs"):
            subprocess.run([strip, "--strip-unneeded", str(path)], check=True, capture_output=True)
    return True


def copy_sources(root: Path) -> list[Path]:
    """Copy lambda_api and the library's scoring modules; return the .py files copied."""
    api = root / "lambda_api"
    shutil.copytree(REPO / "lambda_api", api, ignore=shutil.ignore_patterns("__pycache__"))
    lib_src, lib = REPO / "src" / "fraud_mlops", root / "fraud_mlops"
    lib.mkdir()
    for name in LIBRARY:
        shutil.copy2(lib_src / name, lib / name)
    shutil.copytree(lib_src / "schemas", lib / "schemas", ignore=shutil.ignore_patterns("*.pyc"))
    return sorted(api.glob("*.py")) + sorted(lib.glob("*.py"))


def check_imports(root: Path, files: list[Path]) -> None:
    """Every import in our modules must resolve inside the zip, the stdlib or the runtime."""
    problems = []
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                where = f"{file.relative_to(root)}:{node.lineno}"
                if top in FORBIDDEN:
                    problems.append(f"{where} imports {name} (not allowed on the scoring path)")
                elif top in ("fraud_mlops", "lambda_api"):
                    parts = name.split(".")
                    if not (
                        (root.joinpath(*parts).with_suffix(".py")).is_file()
                        or (root.joinpath(*parts) / "__init__.py").is_file()
                        or len(parts) == 1
                    ):
                        problems.append(f"{where} imports {name}, which is not in the zip")
                elif top in sys.stdlib_module_names or top in (*RUNTIME_PROVIDED, "__future__"):
                    continue
                elif not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
                    problems.append(f"{where} imports {name}, which is not installed in the zip")
    if problems:
        raise BuildError("the zip would not import cleanly:\n  " + "\n  ".join(problems))


def find_python(version: str) -> str | None:
    """A CPython ``version`` for bytecode and the smoke test, if this machine has one."""
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python3")))
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return exe
    return None


def compile_bytecode(python: str, root: Path) -> None:
    # unchecked-hash: valid whatever the file timestamps (the zip fixes them) and reproducible.
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         str(root)],
        check=True, capture_output=True,
    )  # fmt: skip


SMOKE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
for name in ("torch", "pandas", "pyarrow"):
    sys.modules[name] = None
import numpy as np
assert float((np.ones((64, 64)) @ np.ones((64, 64)))[0, 0]) == 64.0  # BLAS loads and works
from lambda_api.app import handler, holder
ping = handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
print(json.dumps({"python": sys.version.split()[0], "ping": ping}))
"""


def smoke_test(python: str, root: Path) -> dict:
    """Import the handler from the build folder alone (no site-packages) and answer a ping."""
    env = {"PATH": os.environ.get("PATH", ""), "MODEL_URI": str(root / "no-model-here")}
    done = subprocess.run(
        [python, "-S", "-c", SMOKE, str(root)], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise BuildError(f"the built handler does not import on {python}:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["ping"].get("statusCode") != 200:
        raise BuildError(f"the built handler answered a warm-up ping with {result['ping']}")
    return result


def write_zip(root: Path, out: Path) -> tuple[int, int]:
    """Zip ``root`` reproducibly; return (zip bytes, unzipped bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    total = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_TIME)
            info.external_attr = (0o644 if not os.access(path, os.X_OK) else 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits above are honoured
            data = path.read_bytes()
            total += len(data)
            zf.writestr(info, data, compresslevel=9)
    os.replace(tmp, out)
    return out.stat().st_size, total


def largest(root: Path, n: int = 6) -> list[tuple[str, int]]:
    sizes: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            top = path.relative_to(root).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:n]


def build(out: Path, build_dir: Path, max_mb: float, python_version: str, smoke: bool) -> dict:
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    print(f"installing {', '.join(pinned(SERVING, LOCK))} for cp{python_version} x86_64…")
    pip_install(build_dir, python_version)
    prune(build_dir)
    strip_binaries(build_dir)
    check_imports(build_dir, copy_sources(build_dir))
    python = find_python(python_version)
    result: dict = {"python": None}
    if python:
        compile_bytecode(python, build_dir)
        if smoke:
            result = smoke_test(python, build_dir)
            print(f"smoke test on Python {result['python']}: handler imported, ping answered")
    else:
        print(f"note: no Python {python_version} here: no bytecode precompiled, no smoke test")
    zipped, unzipped = write_zip(build_dir, out)
    mb = unzipped / 1e6
    print(f"{out}: {zipped / 1e6:.1f} MB zipped, {mb:.1f} MB unzipped (budget {max_mb:g} MB)")
    for name, size in largest(build_dir):
        print(f"  {name:<28} {size / 1e6:6.1f} MB")
    if mb > max_mb:
        raise BuildError(
            f"the unzipped package is {mb:.1f} MB, over the {max_mb:g} MB budget: see the largest "
            "entries above and keep heavy dependencies off the scoring path"
        )
    return {"zip_bytes": zipped, "unzipped_bytes": unzipped, "smoke_python": result["python"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "lambda.zip")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build" / "lambda")
    parser.add_argument("--max-unzipped-mb", type=float, default=70.0)
    parser.add_argument("--python-version", default="3.12", help="Lambda runtime (default 3.12)")
    parser.add_argument("--no-smoke", action="store_true", help="skip the 3.12 import test")
    args = parser.parse_args(argv)
    try:
        build(
            args.out, args.build_dir, args.max_unzipped_mb, args.python_version, not args.no_smoke
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
