"""The OpenAPI document: FastAPI's, plus the request schema built from the model's schema.

The scoring route reads its body itself (one ``validate_json`` for the whole batch), so FastAPI
cannot infer the request body; the route declares it through ``openapi_extra`` and the component
schemas it refers to are added here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI


def response_doc(model: type, code: int) -> dict[str, Any]:
    """An OpenAPI response documented by ``model``'s schema (a component: pass ``model`` to
    :func:`install_openapi` too), for a route's ``responses``.

    Plain OpenAPI instead of FastAPI's ``{"model": ...}``: that one builds a response field per
    route at app creation (and imports pydantic.v1 to ask whether the model is a v1 one), which
    only documentation needs; the document is generated on the first GET /openapi.json.
    """
    description = "Successful Response" if code == 200 else HTTPStatus(code).phrase
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def install_openapi(
    app: FastAPI, components: Callable[[], dict[str, Any]], models: Sequence[type] = ()
) -> None:
    """Make ``app.openapi()`` include ``components()`` and the JSON schemas of ``models``
    (documentation-only response models), all built once, on the first request for the
    document: none of it is needed to serve a score, so a cold start does not pay for it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(
                    ref_template="#/components/schemas/{model}", mode="serialization"
                )
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            schemas.update(components())
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
