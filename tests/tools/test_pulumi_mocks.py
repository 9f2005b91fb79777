"""The mock runtime runs the program as the engine does: from the program folder (main: infra/)."""

from __future__ import annotations

import os
from pathlib import Path

from tools.pulumi_mocks import PROGRAM_DIR

REPO = Path(__file__).resolve().parents[2]


def test_the_program_folder_is_pulumi_yamls_main() -> None:
    import yaml

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert (REPO / project["main"]).resolve() == PROGRAM_DIR
    assert (PROGRAM_DIR / "__main__.py").is_file()


def test_the_lambda_archive_resolves_from_the_project_not_the_working_directory(dev) -> None:
    # The engine runs infra/__main__.py from infra/: a relative archive path would point into it.
    code = dev.one("aws:lambda/function:Function", "fraud-mlops-dev-score").inputs["code"]
    assert Path(code.path) == REPO / "dist" / "lambda.zip"
    assert os.getcwd() != str(PROGRAM_DIR)  # the run restored the caller's working directory


def test_infra_holds_only_what_pulumi_up_runs() -> None:
    support = {p.name for p in PROGRAM_DIR.glob("*.py")} & {"mock_runtime.py", "stack_files.py"}
    assert not support, f"test support inside the program folder: {support}"
