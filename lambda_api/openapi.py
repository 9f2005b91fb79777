"""The OpenAPI document: FastAPI's, plus the request schema built from the model's schema.

The scoring route reads its body itself (one ``validate_json`` for the whole batch), so FastAPI
cannot infer the request body; the route declares it through ``openapi_extra`` and the component
schemas it refers to are added here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def install_openapi(app: FastAPI, components: dict[str, Any]) -> None:
    """Make ``app.openapi()`` include ``components`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
