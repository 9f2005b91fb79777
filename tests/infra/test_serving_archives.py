"""Issue #13 item 1: every archive the program hands the engine exists from where the engine runs.

``main: infra/`` in Pulumi.yaml makes the engine run the program with ``infra/`` as its working
directory (pulumi/pulumi#667, #20305), so a relative ``FileArchive("dist/lambda.zip")`` resolves
to ``infra/dist/lambda.zip``. The mock runtime never reads archives, so this test runs the real
entry point (``infra/__main__.py``, reading ``pulumi.Config`` as under ``pulumi up``) from
``infra/`` and checks every FileArchive / FileAsset / AssetArchive path from there.
"""

from __future__ import annotations

import contextlib
import os
import runpy
from pathlib import Path

import pulumi
import pytest

from tools.pulumi_mocks import PROGRAM_DIR, RecordingMocks

FIXTURE_ZIP = "tests/infra/fixtures/lambda.zip"  # relative to the project, like dist/lambda.zip


def _asset_paths(value, where: str):
    """(where, path) of every file-backed asset or archive inside a resource's inputs."""
    if isinstance(value, pulumi.AssetArchive):
        for key, inner in value.assets.items():
            yield from _asset_paths(inner, f"{where}[{key}]")
    elif isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        yield where, value.path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _asset_paths(inner, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            yield from _asset_paths(inner, f"{where}[{i}]")


def run_entry_point(config: dict[str, str]) -> tuple[RecordingMocks, list[tuple[str, str, str]]]:
    """Run infra/__main__.py under the mocks from infra/; return the mocks and every
    (resource, input, path) with the cwd the program had when it registered the resource."""
    mocks = RecordingMocks(config["fraud-mlops:awsRegion"])
    seen: list[tuple[str, str, str]] = []
    record = mocks.new_resource

    def new_resource(args):
        for where, path in _asset_paths(dict(args.inputs), args.name):
            seen.append((os.getcwd(), where, path))
        return record(args)

    mocks.new_resource = new_resource
    pulumi.runtime.set_mocks(mocks, project="fraud-mlops", stack="dev", preview=False)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def _main():
        runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")

    try:
        with contextlib.chdir(PROGRAM_DIR):
            _main()
    finally:
        pulumi.runtime.set_all_config({})
    return mocks, seen


def _missing(seen):
    return [(where, path) for cwd, where, path in seen if not (Path(cwd) / path).exists()]


def test_every_archive_path_exists_from_the_program_folder():
    mocks, seen = run_entry_point(
        {"fraud-mlops:awsRegion": "eu-west-1", "fraud-mlops:lambdaZip": FIXTURE_ZIP}
    )
    assert {cwd for cwd, _, _ in seen} == {str(PROGRAM_DIR)}  # as the engine runs it
    assert [where for _, where, _ in seen] == ["fraud-mlops-dev-score.code"]
    assert _missing(seen) == []
    assert any(r.type == "aws:lambda/function:Function" for r in mocks.resources)


def test_a_project_relative_archive_left_unresolved_would_be_caught(monkeypatch):
    """The check above can fail: the code before the fix checked the package from the project
    folder (so the entry point passed) but handed the engine the raw relative path."""
    import infra.serving

    def before_the_fix(path: str, project: Path | None = None) -> Path:
        return project / path if project else Path(path)

    monkeypatch.setattr(infra.serving, "lambda_zip_path", before_the_fix)
    _, seen = run_entry_point(
        {"fraud-mlops:awsRegion": "eu-west-1", "fraud-mlops:lambdaZip": FIXTURE_ZIP}
    )
    assert _missing(seen) == [("fraud-mlops-dev-score.code", FIXTURE_ZIP)]


def test_the_entry_point_refuses_a_missing_package_before_any_resource(tmp_path):
    from fraud_mlops.errors import ConfigError

    with pytest.raises(ConfigError, match="make build-lambda"):
        run_entry_point(
            {"fraud-mlops:awsRegion": "eu-west-1", "fraud-mlops:lambdaZip": "dist/missing.zip"}
        )
