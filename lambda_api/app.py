"""The scoring API: routes and the Lambda handler. Wiring only; the work lives beside it.

The model is loaded here, at import, because Lambda runs module-level code once per container
(the init phase) and reuses it for every invocation; under uvicorn the same happens once per
worker. ``lifespan="off"``: Mangum would otherwise run the ASGI lifespan on every invocation.
Routes are ``async``: they only do a few milliseconds of numpy work, and a sync route would pay
for a hop to the thread pool on every request. ``handler`` is
:class:`lambda_api.events.LambdaEntry`: it answers every event Lambda can deliver (HTTP
integrations through Mangum, the rest with a 400 or the warm-up document) and never raises.
"""

from __future__ import annotations

import os
from typing import Any

# Before numpy loads: one BLAS thread. The scorer holds BLAS to one thread for batches anyway
# (fraud_mlops.scoring.SINGLE_THREAD_FROM) and small products never use more, while starting
# OpenBLAS's thread pool costs ~100 ms of every cold start. An explicit setting still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from fraud_mlops import __version__
from lambda_api import outcomes
from lambda_api.events import LambdaEntry
from lambda_api.loader import ModelHolder, register_snapstart
from lambda_api.logs import RequestLogMiddleware, configure_logging
from lambda_api.models import ErrorResponse, Health, ScoreResponse
from lambda_api.openapi import install_openapi, response_doc
from lambda_api.service import ApiError, clip, read_body, require_json
from lambda_api.telemetry import configure_metrics, traced

JSON = "application/json"
# The request body schema when no model is loaded (every score request then answers 503).
_NO_MODEL_SCHEMA = {"type": "object", "description": "no model loaded: see GET /health"}
# Responses documented as plain OpenAPI (lambda_api.openapi.response_doc), their models' schemas
# added to the document when it is first asked for.
_ERRORS = {code: response_doc(ErrorResponse, code) for code in (400, 413, 415, 422, 503)}
_DOC_MODELS = (ErrorResponse, Health, ScoreResponse)
_ROUTES = "GET /health, GET /model, POST /v1/score, POST /v1/outcomes (docs: GET /docs)"
# The scoring routes: served past the router (lambda_api.logs) and, on Lambda, without a turn of
# the event loop (lambda_api.eager). The routes below still declare them, for the docs.
SCORE_ROUTES = (("POST", "/v1/score"), ("POST", "/invocations"))


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def create_app(holder: ModelHolder) -> FastAPI:
    """The FastAPI app serving ``holder``'s model (or answering 503 when it has none)."""
    app = FastAPI(
        title="fraud-mlops scoring API",
        version=__version__,
        description="Scores insurance claims for fraud with the served model (numpy inference "
        "from the torch-free artifact). Request fields come from the model's schema.",
        # The function's telemetry is Powertools' (lambda_api.telemetry: EMF metrics, X-Ray,
        # the log line). FastAPI's own OpenTelemetry looks up the global OTel providers on every
        # request (~12 µs, a tenth of a trivial request) and, with an OTel layer added, would
        # trace and count every request a second time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    direct: dict[tuple[str, str], Any] = {}  # filled below: the scoring routes
    app.add_middleware(RequestLogMiddleware, direct=direct)
    settings = holder.settings
    version = holder.service.model_version if holder.service is not None else None
    configure_metrics(settings.metrics_namespace, version, enabled=not settings.metrics_disabled)
    request_schema: dict = {"$ref": "#/components/schemas/ScoreRequest"}
    if holder.service is not None:
        requests = holder.service.requests
        install_openapi(app, lambda: requests.openapi_components()[1], _DOC_MODELS)
    else:
        request_schema = _NO_MODEL_SCHEMA
        install_openapi(app, dict, _DOC_MODELS)
    app.include_router(outcomes.router())  # POST /v1/outcomes (lambda_api/outcomes.py)

    # Every 4xx in the documented shape, {"detail", "errors"}, also for unknown routes/methods.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        path = clip(request.url.path)
        if exc.status_code == 404:
            detail = f"no route {path!r}: this API serves {_ROUTES}"
            kind = "not_found"
        elif exc.status_code == 405:
            detail = f"{clip(request.method)} is not allowed on {path!r}: this API serves {_ROUTES}"
            kind = "method_not_allowed"
        else:
            detail, kind = clip(str(exc.detail), 300), "http"
        body = ApiError(
            exc.status_code, detail, [{"field": "path", "message": detail, "type": kind}]
        )
        return Response(body.body(), exc.status_code, headers=exc.headers, media_type=JSON)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "field": ".".join(clip(str(p)) for p in e["loc"]),
                "message": clip(e["msg"], 300),
                "type": e["type"],
            }
            for e in exc.errors()[:20]
        ]
        detail = f"{problems[0]['field']}: {problems[0]['message']}" if problems else "bad request"
        return _json(ApiError(422, detail, problems).body(), 422)

    def unavailable() -> Response:
        return _json(ApiError(503, f"no model loaded: {holder.reason}").body(), 503)

    @app.get(
        "/health", responses={200: response_doc(Health, 200)}, summary="liveness and the model"
    )
    async def health() -> Response:
        return _json(orjson.dumps(holder.health()))

    @app.get(
        "/model",
        responses={200: {"description": "manifest summary"}, 503: response_doc(ErrorResponse, 503)},
        summary="the served model: version, metrics, threshold, schema",
    )
    async def model() -> Response:
        return _json(holder.summary) if holder.loaded else unavailable()

    @app.post(
        "/v1/score",
        summary="score 1 to MAX_BATCH_SIZE claims",
        responses={200: response_doc(ScoreResponse, 200), **_ERRORS},
        openapi_extra={
            "requestBody": {"required": True, "content": {JSON: {"schema": request_schema}}}
        },
    )
    async def score(request: Request) -> Response:
        return await _score(request)

    # SageMaker's container contract (the same app behind a SageMaker endpoint, port 8080):
    # GET /ping must answer 200 only when the model can serve; POST /invocations scores.
    @app.get("/ping", include_in_schema=False)
    async def ping() -> Response:
        return _json(b'{"status":"ok"}') if holder.loaded else unavailable()

    @app.post("/invocations", include_in_schema=False)
    async def invocations(request: Request) -> Response:
        return await _score(request)

    async def score_direct(scope: Any, receive: Any, send: Any) -> None:
        """What the router would do for these two routes, without the router (logs.py)."""
        response = await _score(Request(scope, receive))
        await response(scope, receive, send)

    direct.update(dict.fromkeys(SCORE_ROUTES, score_direct))

    async def _score(request: Request) -> Response:
        service = holder.service
        if service is None:
            return unavailable()
        # what RequestLogMiddleware logs: the plain dict behind request.state (no State object)
        state = request.scope.setdefault("state", {})
        try:
            require_json(request.headers.get("content-type"))
            body = await read_body(request, service.max_body_bytes)
            payload, batch_size, flagged = service.score(body, state.get("request_id", ""))
        except ApiError as err:
            return _json(err.body(), err.status)
        state.update(batch_size=batch_size, flagged=flagged, model_version=service.model_version)
        return _json(payload)

    return app


log = configure_logging()
holder = ModelHolder.load()
register_snapstart(holder)  # SnapStart (Lambda): verify before the snapshot, after restore
configure_logging(holder.settings.log_level, service=holder.settings.service_name)
app = create_app(holder)
handler = LambdaEntry(app, eager=SCORE_ROUTES)
if not holder.settings.trace_disabled:
    version = holder.service.model_version if holder.service is not None else None
    handler = traced(handler, version, holder.settings.service_name)
