"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis + hypothesis).

For every operation, schemathesis generates valid requests (positive mode: they must be
answered 200) and invalid ones (negative mode: wrong types, missing fields, out-of-range
numbers, unknown fields — they must be refused with a 4xx), and every response is checked against
the documented schema. Zero 5xx. Schemathesis' pytest plugin does not run under this pytest, so
each operation's strategy is driven by hypothesis directly.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Derandomized by default so CI is reproducible; FUZZ_RANDOM=1 explores new inputs on each run
# (that is how the id range bug was found), FUZZ_SCALE=10 sends ten times as many requests.
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
# Request counts below are the long run's (`make fuzz`, hypothesis profile "fuzz"); `make test`
# (profile "ci", tests/conftest.py) sends the same share of each: a tenth.
LONG_RUN_EXAMPLES = 1000


def requests_for(n: int) -> int:
    """How many of a test's ``n`` requests the loaded hypothesis profile sends (at least 10)."""
    share = settings.default.max_examples / LONG_RUN_EXAMPLES
    return max(10, round(n * min(1.0, share))) * SCALE


@pytest.fixture(scope="module")
def api_schema(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder
    from lambda_api.logs import configure_logging

    configure_logging("WARNING")  # thousands of request lines would drown the test output
    cache = tmp_path_factory.mktemp("cache")
    # A small batch limit keeps generated bodies small (the fuzz stays near a minute) and lets
    # it cross the limit often, exercising the 413 path.
    env = {"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(cache), "MAX_BATCH_SIZE": "8"}
    holder = ModelHolder.load(env)
    assert holder.loaded, holder.reason
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(holder))


def _repeats_an_id(body: Any) -> bool:
    ids = [c.get("claim_id") for c in body["claims"]] if isinstance(body, dict) else []
    return len(set(ids)) < len(ids)


def fuzz(api_schema: Any, path: str, method: str, mode: GenerationMode, n: int) -> Counter:
    """Send ``n`` generated requests; fail on a 5xx or an undocumented response."""
    statuses: Counter = Counter()

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call()
        status = response.status_code
        statuses[status] += 1
        seen = f"{repr(case.body)[:300]} -> {status} {response.text[:300]}"
        assert status < 500, seen
        excluded = None
        if mode is POSITIVE:
            if status == 422 and _repeats_an_id(case.body):
                excluded = [positive_data_acceptance]
                # Valid for the schema (JSON Schema cannot say "unique by key"), refused by
                # the documented rule that ids in one batch are unique.
                assert {e["type"] for e in response.json()["errors"]} == {"duplicate_id"}, seen
            else:
                assert status == 200, seen
        elif case.body is not None and path == "/v1/score":
            assert 400 <= status < 500, seen
        # schemathesis' own list of refusal codes lacks 413 (our answer to too many claims)
        if status == 413:
            excluded = [negative_data_rejection]
        case.validate_response(response, excluded_checks=excluded)

    run()
    return statuses


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "n"), [(POSITIVE, 1000), (NEGATIVE, 1500)])
def test_score_never_fails_on_generated_claims(api_schema: Any, mode: Any, n: int) -> None:
    n = requests_for(n)
    statuses = fuzz(api_schema, "/v1/score", "POST", mode, n)
    print(f"POST /v1/score {mode.value}: {dict(statuses)}")
    assert sum(statuses.values()) >= n // 2  # hypothesis really generated that many requests


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/health", "/model"])
def test_get_routes_never_fail(api_schema: Any, path: str) -> None:
    statuses = fuzz(api_schema, path, "GET", POSITIVE, requests_for(50))
    assert set(statuses) == {200}
