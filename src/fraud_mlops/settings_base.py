"""The one settings mechanism: pydantic models whose fields name their variable, default and rule.

Every runtime's settings (library, API, warehouse, notifications) subclass :class:`EnvSettings`
(pydantic-settings); the stack configuration's sections (``infra/config.py``) are plain pydantic
models fed from ``pulumi.Config``. Either way a field declares its key (``validation_alias``), its
default and its range once, and ``scripts/config_reference.py`` writes the README's configuration
reference from the same fields.

:func:`config_problems` turns pydantic's ``ValidationError`` into sentences that name the key,
the value (never a secret's) and the fix, so every entry point can report every problem at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import UnionType
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import BeforeValidator, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from fraud_mlops.errors import ConfigError

# The mapping EnvSettings.from_env reads; None means os.environ. A ContextVar, so concurrent
# reads of different mappings (threads, tests) never see each other's values.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("fraud_mlops_environ", default=None)


def environ() -> Mapping[str, str]:
    """The environment being read: the mapping given to ``from_env``, else ``os.environ``."""
    env = _ENVIRON.get()
    return os.environ if env is None else env


class Problems(ValueError):
    """Several rule violations found by one validator; each becomes its own reported problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _blank_is_unset(value: Any) -> Any:
    # A variable set to spaces means the same as an unset one: use the field's default.
    if isinstance(value, str):
        if not value.strip():
            raise PydanticUseDefault()
        return value.strip()
    return value


BLANK_IS_UNSET = BeforeValidator(_blank_is_unset)
"""Strips a string; blank means the field's default (e.g. ``Annotated[int, BLANK_IS_UNSET]``)."""
Text = Annotated[str, BLANK_IS_UNSET]
"""A stripped string; blank (or unset) means the field's default."""


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading :func:`environ` instead of os.environ."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in environ().items() if not (self.env_ignore_empty and v == "")}


class EnvSettings(BaseSettings):
    """Base of every runtime's settings: exact variable names, no .env file, frozen values.

    Build a subclass with :meth:`from_env`; keyword arguments by field name work too (tests).
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,  # MODEL_NAME, never model_name: the names the docs list
        env_ignore_empty=True,  # VAR= means unset, as in a shell
        validate_default=False,  # defaults are trusted; fields that derive theirs opt in
        validate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: Any,
        env_settings: Any,
        dotenv_settings: Any,
        file_secret_settings: Any,
    ) -> tuple[Any, ...]:
        # Keyword arguments, then the environment: no .env files or secret folders are read.
        return init_settings, _EnvironSource(settings_cls)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Validate ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: naming every invalid variable, its value and how to fix it.
        """
        settings, problems = validate_reporting_all(
            cls, dict(os.environ if env is None else env), cls._from_mapping
        )
        if problems:
            raise ConfigError(problem_report(problems))
        return settings

    @classmethod
    def _from_mapping(cls, env: Mapping[str, str]) -> Self:
        token = _ENVIRON.set(env)
        try:
            return cls()
        except SettingsError as exc:  # a value pydantic-settings could not even parse
            raise ConfigError(f"{exc}: check that variable's value") from None
        finally:
            _ENVIRON.reset(token)


def validate_reporting_all(
    model: type, raw: Mapping[str, Any], build: Callable[[Mapping[str, Any]], Any], prefix: str = ""
) -> tuple[Any, list[str]]:
    """``(build(raw), [])``, or ``(None, every problem)`` if ``raw`` does not validate.

    pydantic skips a model's rules between fields when a field is invalid, so after a failure the
    model is built once more without the invalid values (their defaults stand in), and the rules'
    problems are reported in the same run too.
    """
    try:
        return build(raw), []
    except ValidationError as exc:
        problems = config_problems(exc, model, prefix)
        failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    if failed & set(raw):
        try:
            build({k: v for k, v in raw.items() if k not in failed})
        except ValidationError as exc:
            again = config_problems(exc, model, prefix, skip=failed)
            problems += [p for p in again if p not in problems]
    return None, problems


def problem_report(problems: list[str], intro: str = "configuration problems") -> str:
    """One problem as its sentence; several as a counted list."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} {intro}:\n" + "\n".join(f"  - {p}" for p in problems)


def key_of(field: FieldInfo, name: str) -> str:
    """The variable or config key a field is read from."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else name


def is_secret(field: FieldInfo) -> bool:
    """Secret fields: SecretStr values, or fields marked ``json_schema_extra={"secret": True}``."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return bool(extra.get("secret")) or "SecretStr" in str(field.annotation)


def field_kind(field: FieldInfo) -> str:
    """``secret``, ``bool``, ``int``, ``float``, ``list`` or ``str``: how a value is written."""
    if is_secret(field):
        return "secret"
    # `int | None` (an optional number) is written as an int.
    annotation = next((a for a in get_args(field.annotation) if a is not type(None)), None)
    annotation = annotation if get_origin(field.annotation) in (Union, UnionType) else None
    for candidate in (field.annotation, annotation):
        if candidate in (bool, int, float):
            return candidate.__name__
    return "list" if get_origin(field.annotation) is tuple else "str"


def config_problems(
    exc: ValidationError, model: type, prefix: str = "", skip: set[str] | frozenset = frozenset()
) -> list[str]:
    """Every error of ``exc`` as a sentence: ``<prefix><key>=<value>: <what is wrong>; <fix>``.

    Errors of the keys in ``skip`` are left out (they were reported already).
    """
    fields = {key_of(f, n): f for n, f in model.model_fields.items()}
    fields.update(model.model_fields)
    problems: list[str] = []
    for error in exc.errors():
        if error["type"] == "default_factory_not_called":
            continue  # a derived default skipped because another field failed: that one is reported
        where = str(error["loc"][0]) if error["loc"] else ""
        if where in skip:
            continue
        field = fields.get(where)
        key = prefix + (key_of(field, where) if field else where)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            problems += cause.problems
        elif error["type"] in ("value_error", "assertion_error"):
            problems.append(str(cause) if cause else error["msg"])
        else:
            problems.append(_explain(error, key, field))
    return problems


def _explain(error: Any, key: str, field: FieldInfo | None) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    secret = field is not None and is_secret(field)
    shown = key if secret or kind == "missing" else f"{key}={error['input']!r}"
    meaning = f" ({field.description})" if field is not None and field.description else ""
    if kind == "missing":
        return f"{key} is required{meaning}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        bounds = _bounds(field)
        return f"{shown}: expected a whole number" + (f"; set it to {bounds}" if bounds else "")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        name = key.rsplit(":", 1)[-1]  # the stack key without its namespace
        return f"{shown}: {name} must be {_bounds(field)}{meaning}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown}: expected true or false"
    if kind in ("literal_error", "enum"):
        return f"{shown}: use one of {ctx.get('expected')}"
    return f"{shown}: {error['msg']}"


def _bounds(field: FieldInfo | None) -> str:
    """``1..4096``, ``>= 1`` or ``<= 9`` from a field's ge/le constraints."""
    low = high = None
    for rule in field.metadata if field is not None else ():
        low = getattr(rule, "ge", None) if getattr(rule, "ge", None) is not None else low
        high = getattr(rule, "le", None) if getattr(rule, "le", None) is not None else high
    if low is not None and high is not None:
        return f"{low}..{high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}" if high is not None else "in range"


def secret_value(value: SecretStr | None) -> str:
    """The plain text of an optional secret ('' when unset); call it only where it is used."""
    return value.get_secret_value() if value is not None else ""
