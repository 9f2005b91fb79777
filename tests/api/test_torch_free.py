"""The handler imports and scores with torch, pandas and pyarrow made unimportable.

Lambda's zip holds none of them; this proves the scoring path never reaches for them, in a fresh
interpreter so nothing imported by other tests can hide an import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import EVENTS

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
for name in ("torch", "pandas", "pyarrow", "sklearn", "scipy"):
    sys.modules[name] = None  # `import torch` now raises ImportError
event = json.loads(sys.argv[1])
from lambda_api.app import handler, holder
assert holder.loaded, holder.reason
response = handler(event, None)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "pandas", "pyarrow")
               and sys.modules[m] is not None)
# deferred to where they are used, for the cold start: no YAML, no outcome writer before use
deferred = sorted(m for m in ("yaml", "fraud_mlops.outcome_store") if m in sys.modules)
print(json.dumps({"response": response, "heavy": heavy, "deferred": deferred}))
"""


def _score_in_fresh_interpreter(
    model_uri: str, claims: list[dict[str, Any]], tmp_path: Path
) -> dict[str, Any]:
    event = json.loads((EVENTS / "function_url_score.json").read_text())
    event["body"] = json.dumps({"claims": claims})
    env = {
        **os.environ,
        "MODEL_URI": model_uri,
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(event)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_handler_scores_without_torch_or_pandas(
    artifact_dir: Path, sample_claims: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = _score_in_fresh_interpreter(str(artifact_dir), sample_claims[:2], tmp_path)
    assert out["heavy"] == []
    assert out["deferred"] == []
    assert out["response"]["statusCode"] == 200
    results = json.loads(out["response"]["body"])["results"]
    assert [r["id"] for r in results] == [c["claim_id"] for c in sample_claims[:2]]


@pytest.mark.slow
def test_s3_champion_loads_without_pyarrow(
    artifact_dir: Path, sample_claims: list[dict[str, Any]], tmp_path: Path, s3_bucket: str
) -> None:
    from fraud_mlops.store import ModelStore

    store = ModelStore(f"s3://{s3_bucket}/models")
    version = json.loads((artifact_dir / "manifest.json").read_text())["version"]
    store.publish(artifact_dir, "claims-fraud", version)
    store.set_champion("claims-fraud", version, gate={}, metrics={})
    uri = f"s3://{s3_bucket}/models/claims-fraud/champion"
    out = _score_in_fresh_interpreter(uri, sample_claims[:1], tmp_path)
    assert out["heavy"] == []
    body = json.loads(out["response"]["body"])
    assert body["model_version"] == version and len(body["results"]) == 1
