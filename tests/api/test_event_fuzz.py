"""Property-based fuzzing of the Lambda handler with mutated real events (hypothesis).

Each example takes one of the canned events in tests/events and changes it: a key deleted, or
its value replaced by a random JSON value (null, numbers, strings, lists, objects), at the top
level, in ``requestContext`` (and its ``http``), or in ``headers``. Whatever comes in, the
handler must answer with a dict holding an integer ``statusCode`` below 500 (the warm-up
document included), a ``body`` string, headers when it is an HTTP answer, and never raise.
"""

from __future__ import annotations

import copy
import io
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import EVENTS
from tests.api.test_lambda_events import FakeLambdaContext, lambda_app  # noqa: F401

SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
NAMES = sorted(p.name for p in EVENTS.glob("*.json"))
BASE = {name: json.loads((EVENTS / name).read_text()) for name in NAMES}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
WHERE = st.sampled_from(["top", "requestContext", "http", "headers"])


@st.composite
def mutated_events(draw: Any) -> dict[str, Any]:
    event = copy.deepcopy(BASE[draw(st.sampled_from(NAMES))])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(WHERE)
        target: Any = event
        if where != "top":
            context = event.get("requestContext")
            if where == "requestContext":
                target = context
            elif where == "http":
                target = context.get("http") if isinstance(context, dict) else None
            else:
                target = event.get("headers")
        if not isinstance(target, dict) or not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    return event


@pytest.mark.slow
def test_mutated_events_always_get_a_well_formed_answer(
    lambda_app: ModuleType,  # noqa: F811
) -> None:
    from lambda_api import telemetry
    from lambda_api.logs import configure_logging

    configure_logging("WARNING", io.StringIO())  # thousands of request lines otherwise
    telemetry.metrics.stream = io.StringIO()
    seen: dict[int, int] = {}

    @settings(
        max_examples=600 * SCALE,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(event=mutated_events())
    def run(event: dict[str, Any]) -> None:
        answer = lambda_app.handler(copy.deepcopy(event), FakeLambdaContext())
        shown = f"{json.dumps(event)[:600]} -> {str(answer)[:300]}"
        assert isinstance(answer, dict), shown
        status = answer["statusCode"]
        assert isinstance(status, int) and 200 <= status < 500, shown
        assert isinstance(answer["body"], str), shown
        if not answer.get("warmup"):
            assert "headers" in answer or "multiValueHeaders" in answer, shown
        seen[status] = seen.get(status, 0) + 1

    run()
    print(f"mutated events: {dict(sorted(seen.items()))}")
    assert len(seen) >= 3  # the mutations reached scoring, refusals and warm-ups alike


def test_the_fuzz_starts_from_every_canned_event() -> None:
    assert set(NAMES) == {p.name for p in Path(EVENTS).glob("*.json")} and len(NAMES) >= 30
