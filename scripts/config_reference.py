"""Write the README's configuration tables from the settings models, so they cannot drift.

Each table sits between ``<!-- config:NAME -->`` and ``<!-- /config:NAME -->`` in README.md; the
prose around them is written by hand. The rows come from the fields of every runtime's settings
(library, API, warehouse, notifications) and of the stack configuration's sections: key,
default, allowed values and meaning, each declared once in the code.

Usage: python scripts/config_reference.py [--check]   (make docs writes; make lint checks)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
sys.path[:0] = [str(REPO), str(REPO / "src")]


def _models() -> dict[str, list[type]]:
    from fraud_mlops.cloud.notify import EmailSettings
    from fraud_mlops.labels import LabelSettings
    from fraud_mlops.monitoring_config import MonitoringSettings
    from fraud_mlops.settings import AdlsSettings, Settings
    from fraud_mlops.warehouse.settings import WarehouseSettings
    from infra.config import SECTIONS
    from lambda_api.capture import CaptureSettings
    from lambda_api.outcomes import OutcomeApiSettings
    from lambda_api.settings import ApiSettings
    from lambda_api.shadow import ShadowSettings

    return {
        "library": [Settings, AdlsSettings, LabelSettings],
        "api": [ApiSettings, CaptureSettings, ShadowSettings, OutcomeApiSettings],
        "warehouse": [WarehouseSettings],
        "notify": [EmailSettings],
        "monitoring": [MonitoringSettings],
        "stack": list(SECTIONS),
    }


def _extra(field: Any) -> dict[str, Any]:
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def shown_default(field: Any) -> str:
    """The default as a reader needs it: derived defaults say what they derive from."""
    from pydantic_core import PydanticUndefined

    from fraud_mlops.settings_base import is_secret

    if "shown_default" in _extra(field):
        shown = str(_extra(field)["shown_default"])
        return shown if "`" in shown or shown == "required" else f"`{shown}`"
    if is_secret(field):
        return "secret, no default"
    value = field.default
    if value is PydanticUndefined or value is None or value in ("", ()):
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list):
        return f"`{', '.join(map(str, value))}`"
    return f"`{value}`"


def allowed(field: Any) -> str:
    """Ranges and choices from the field's type and constraints (or its ``allowed`` note)."""
    if "allowed" in _extra(field):
        return str(_extra(field)["allowed"])
    low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    if low is not None or high is not None:
        return f"{'' if low is None else low}..{'' if high is None else high}"
    if get_origin(field.annotation) is Literal:
        return ", ".join(str(a) for a in get_args(field.annotation))
    if field.annotation is bool:
        return "true, false"
    return ""


def table(name: str, models: list[type]) -> str:
    from fraud_mlops.settings_base import field_kind, key_of

    stack = name == "stack"
    head = (
        "| key | type | default | allowed | meaning |"
        if stack
        else ("| variable | default | allowed | meaning |")
    )
    rows = [head, "|" + "---|" * (5 if stack else 4)]
    for model in models:
        for field_name, field in model.model_fields.items():
            if field.validation_alias is None:
                continue  # not read from the environment / stack config
            cells = [f"`{key_of(field, field_name)}`"]
            cells += [field_kind(field)] if stack else []
            cells += [shown_default(field), allowed(field), (field.description or "").strip()]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(text: str) -> str:
    """``text`` (README.md) with every marked table regenerated."""
    for name, models in _models().items():
        pattern = re.compile(rf"(<!-- config:{name} -->\n).*?(<!-- /config:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- config:{name} --> ... markers")
        text = pattern.sub(lambda m, n=name, ms=models: m[1] + table(n, ms) + "\n" + m[2], text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if README.md is not current; write nothing"
    )
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(
                "README.md's configuration reference is out of date: run `make docs`",
                file=sys.stderr,
            )
            return 1
        print("README.md's configuration reference is current")
        return 0
    if wanted != current:
        README.write_text(wanted)
        print("README.md: configuration reference rewritten from the settings models")
    else:
        print("README.md: configuration reference already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
