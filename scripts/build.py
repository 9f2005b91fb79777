"""``make build``: the library wheel and a build record stamped with the git commit.

Writes, under ``dist/``:

* ``fraud_mlops-<version>-py3-none-any.whl`` (``pip wheel --no-deps``; the previous wheel goes),
* ``build-info.json``: commit, dirty flag, wheel and Lambda package with their sha256, and the
  training image tag (``git-<12-char sha>``) that ``docker build -t <ECR repo>:<tag>`` and the
  stack's ``imageTag`` config use, so METAFLOW_BATCH_CONTAINER_IMAGE names this exact build,
* ``VERSION``: ``<package version>+g<short sha>`` on one line, for humans and archive names.

``dist/lambda.zip`` comes from ``make build-lambda`` (the Makefile runs it first); this script
only records it. The package version in pyproject.toml stays as released: the commit is recorded
next to the wheel instead of rewriting the version for every build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_INFO = "build-info.json"
LAMBDA_ZIP = "lambda.zip"


class BuildError(Exception):
    """The build cannot proceed; the message says why and what to do."""


def git_commit(repo: Path = REPO) -> tuple[str, bool]:
    """The full commit SHA of ``repo`` and whether the working tree has uncommitted changes."""
    try:
        sha = _git(repo, "rev-parse", "HEAD")
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(
            f"cannot read the git commit of {repo} ({exc}): build from a git checkout, so the "
            "artifacts can be traced back to their source"
        ) from None
    return sha, dirty


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def image_tag(sha: str, dirty: bool = False) -> str:
    """Training image tag for a commit: ``git-<first 12 hex digits>`` (+ ``-dirty``).

    ECR tags allow ``[A-Za-z0-9_.-]`` up to 128 characters; 12 digits stay unique in practice.
    """
    if len(sha) < 12 or any(c not in "0123456789abcdef" for c in sha.lower()):
        raise BuildError(f"{sha!r} is not a git commit SHA")
    return f"git-{sha[:12].lower()}" + ("-dirty" if dirty else "")


def package_version(repo: Path = REPO) -> str:
    """``[project].version`` from pyproject.toml."""
    import tomllib

    with open(repo / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_wheel(repo: Path, dist: Path) -> Path:
    """Build the library wheel (no dependencies, no network) into ``dist``; return its path.

    Built into a temporary folder first, so a failed build leaves the previous wheel in place.
    """
    # setuptools reuses build/lib across builds and never deletes from it: a module removed from
    # src/ would otherwise still ship in the wheel.
    for stale in [repo / "build" / "lib", *repo.glob("build/bdist.*")]:
        shutil.rmtree(stale, ignore_errors=True)
    dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=dist) as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        cmd += ["--quiet", "--wheel-dir", tmp, str(repo)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"pip wheel failed:\n{proc.stderr or proc.stdout}")
        wheels = list(Path(tmp).glob("fraud_mlops-*.whl"))
        if len(wheels) != 1:
            raise BuildError(f"expected one fraud_mlops wheel, pip wrote {wheels}")
        for old in dist.glob("fraud_mlops-*.whl"):
            old.unlink()
        return Path(shutil.move(str(wheels[0]), dist / wheels[0].name))


def write_build_info(
    dist: Path, wheel: Path, *, sha: str, dirty: bool, version: str, require_lambda: bool = True
) -> dict:
    """Write ``build-info.json`` and ``VERSION`` next to the artifacts; return the record."""
    lambda_zip = dist / LAMBDA_ZIP
    if require_lambda and not lambda_zip.is_file():
        raise BuildError(f"{lambda_zip} is missing: run `make build-lambda` (or `make build`)")
    info = {
        "version": f"{version}+g{sha[:12]}",
        "package_version": version,
        "git_sha": sha,
        "dirty": dirty,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "image_tag": image_tag(sha, dirty),
        "wheel": {"file": wheel.name, "sha256": sha256_of(wheel)},
        "lambda_zip": (
            {"file": LAMBDA_ZIP, "sha256": sha256_of(lambda_zip)} if lambda_zip.is_file() else None
        ),
    }
    staging = dist / f".{BUILD_INFO}.tmp"
    staging.write_text(json.dumps(info, indent=2) + "\n")
    staging.replace(dist / BUILD_INFO)
    (dist / "VERSION").write_text(info["version"] + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument(
        "--no-lambda", action="store_true", help="do not require dist/lambda.zip (wheel only)"
    )
    args = parser.parse_args(argv)
    try:
        sha, dirty = git_commit(REPO)
        wheel = build_wheel(REPO, args.dist)
        info = write_build_info(
            args.dist,
            wheel,
            sha=sha,
            dirty=dirty,
            version=package_version(REPO),
            require_lambda=not args.no_lambda,
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"build {info['version']}{' (uncommitted changes)' if dirty else ''}")
    print(f"  wheel        {wheel}  sha256 {info['wheel']['sha256'][:16]}…")
    if info["lambda_zip"]:
        digest = info["lambda_zip"]["sha256"]
        print(f"  lambda       {args.dist / LAMBDA_ZIP}  sha256 {digest[:16]}…")
    print(f"  image tag    {info['image_tag']}  (docker build -t <ECR repo>:{info['image_tag']} .)")
    print(f"  record       {args.dist / BUILD_INFO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
