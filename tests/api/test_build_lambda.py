"""scripts/build_lambda.py: the Lambda zip is complete, small, reproducible and really works.

The full build installs the cp312 manylinux wheels from the configured package index, so it is
marked slow; when a CPython 3.12 is on this machine the unzipped package scores a real claim
with nothing but the zip on its path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import EVENTS

REPO = Path(__file__).resolve().parents[2]


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("build_lambda", REPO / "scripts/build_lambda.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


build_lambda = _load_script()


def test_pins_come_from_the_lock() -> None:
    pins = build_lambda.pinned(("numpy", "pyyaml"), REPO / "requirements.lock")
    lock = (REPO / "requirements.lock").read_text()
    assert all(pin.split("==")[1] in lock for pin in pins)
    with pytest.raises(build_lambda.BuildError, match="pins no version"):
        build_lambda.pinned(("no-such-package",), REPO / "requirements.lock")


def test_import_check_refuses_torch_and_missing_modules(tmp_path: Path) -> None:
    (tmp_path / "fraud_mlops").mkdir()
    bad = tmp_path / "fraud_mlops" / "scoring.py"
    bad.write_text("import json\nimport torch\nfrom fraud_mlops.store import ModelStore\n")
    with pytest.raises(build_lambda.BuildError) as err:
        build_lambda.check_imports(tmp_path, [bad])
    assert "imports torch" in str(err.value)
    assert "fraud_mlops.store, which is not in the zip" in str(err.value)


def test_zip_is_reproducible(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\n")
    (root / "b.txt").write_text("b")
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    assert build_lambda.write_zip(root, first)[1] == 7
    os.utime(root / "b.txt", (0, 0))  # timestamps must not leak into the zip
    build_lambda.write_zip(root, second)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_built_zip_is_within_budget_and_scores_on_python_312(
    tmp_path: Path, artifact_dir: Path, sample_claims: list[dict[str, Any]]
) -> None:
    out = tmp_path / "dist" / "lambda.zip"
    result = build_lambda.build(out, tmp_path / "build", 100.0, "3.12", smoke=True)
    assert result["unzipped_bytes"] <= 100e6
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zf.infolist())
        zf.extractall(tmp_path / "unzipped")
    for required in (
        "lambda_api/app.py",
        "lambda_api/fetch.py",
        "fraud_mlops/scoring.py",
        "fraud_mlops/schemas/synthetic_claims.yaml",
        "mangum/adapter.py",
    ):
        assert required in names
    tops = {n.split("/")[0] for n in names}
    assert {"numpy", "pydantic_core", "orjson", "fastapi"} <= tops
    assert not tops & {"torch", "pandas", "pyarrow", "boto3", "scipy", "sklearn"}
    assert "fraud_mlops/store.py" not in names and "fraud_mlops/train.py" not in names

    python = build_lambda.find_python("3.12")
    if python is None:
        pytest.skip("no CPython 3.12 here to run the built package")
    event = json.loads((EVENTS / "function_url_score_base64.json").read_text())
    import base64

    event["body"] = base64.b64encode(json.dumps({"claims": sample_claims[:3]}).encode()).decode()
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from lambda_api.app import handler;"
        "print(json.dumps(handler(json.loads(sys.argv[2]), None)))"
    )
    done = subprocess.run(
        [python, "-S", "-c", script, str(tmp_path / "unzipped"), json.dumps(event)],
        env={"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    results = json.loads(response["body"])["results"]
    assert [r["id"] for r in results] == [c["claim_id"] for c in sample_claims[:3]]
