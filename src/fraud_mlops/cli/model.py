"""Model commands: ``models`` lists the store, ``drift`` compares claims with a reference."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_mlops.errors import ConfigError, ModelError
from fraud_mlops.progress import step

if TYPE_CHECKING:
    from fraud_mlops.drift import FeatureDrift, ReferenceProfile
    from fraud_mlops.schema import ClaimsSchema

_CLAIMS_SUFFIXES = (".csv", ".csv.gz", ".txt", ".parquet", ".pq")
_LEVELS = ("moderate", "major")


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    models = sub.add_parser(
        "models",
        help="list model versions in the store, the champion marked",
        formatter_class=fmt,
        description="List the versions of a model in MODEL_STORE_URI, newest last, with their "
        "threshold and\ntest PR-AUC; the champion is marked with '*'.",
        epilog="examples:\n"
        "  fraud-mlops models\n"
        "  MODEL_STORE_URI=s3://my-models fraud-mlops models --model-name claims-fraud --json",
    )
    models.add_argument("--model-name", help="model name in the store (default: $MODEL_NAME)")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(func=_models)

    drift = sub.add_parser(
        "drift",
        help="PSI/KS drift of claims against training data or a model's reference",
        formatter_class=fmt,
        description="Compare the feature distributions of --current claims with a reference: "
        "another claims file,\na model artifact folder (its training reference profile) or "
        "'champion' (the current champion\nin MODEL_STORE_URI). Prints one row per feature, "
        "largest PSI first.\n\nPSI verdicts: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 major.",
        epilog="examples:\n"
        "  fraud-mlops drift --reference champion --current new_claims.parquet\n"
        "  fraud-mlops drift --reference train.csv --current s3://bkt/march.csv --schema my.yaml\n"
        "  fraud-mlops drift --reference ./artifact --current new.csv --fail-on major   # CI gate",
    )
    drift.add_argument(
        "--reference",
        required=True,
        metavar="URI",
        help="claims file (.csv/.parquet, local or s3://), artifact folder, or 'champion'",
    )
    drift.add_argument(
        "--current", required=True, metavar="URI", help="claims file (.csv/.parquet)"
    )
    drift.add_argument(
        "--schema",
        metavar="FILE",
        help="schema YAML or bundled name (default: the schema in the reference model's "
        "manifest; for a claims-file reference, the champion's, else 'synthetic')",
    )
    drift.add_argument(
        "--model-name", help="with --reference champion: model name (default: $MODEL_NAME)"
    )
    drift.add_argument("--json", action="store_true", help="print JSON instead of a table")
    drift.add_argument(
        "--fail-on",
        choices=_LEVELS,
        help="exit with status 1 if any feature drifts this much or more",
    )
    drift.set_defaults(func=_drift)


# -- models ----------------------------------------------------------------------------------
def _models(args: argparse.Namespace) -> int:
    from fraud_mlops.settings import Settings
    from fraud_mlops.store import ModelStore

    settings = Settings.from_env()
    name = args.model_name or settings.model_name
    store = ModelStore(settings.model_store_uri)
    versions = store.versions(name)
    champion = store.champion_version_or_none(name)
    rows = []
    for version in versions:
        manifest = store.manifest(name, version)
        rows.append(
            {
                "version": version,
                "champion": version == champion,
                "created_at": manifest.get("created_at", ""),
                "threshold": manifest.get("threshold"),
                "test_pr_auc": _test_pr_auc(manifest.get("metrics", {})),
                "code_version": manifest.get("code_version", ""),
            }
        )
    if args.json:
        print(json.dumps({"model_name": name, "store": store.uri, "versions": rows}, indent=2))
        return 0
    if not rows:
        print(f"no versions of {name!r} in {store.uri} yet (train one: see `make demo`)")
        return 0
    table = [
        [
            ("* " if r["champion"] else "  ") + r["version"],
            r["created_at"],
            _fmt(r["threshold"]),
            _fmt(r["test_pr_auc"]),
            r["code_version"],
        ]
        for r in rows
    ]
    print(f"{name} in {store.uri}  (* = champion)")
    print(_table(["version", "created_at", "threshold", "test_pr_auc", "code"], table))
    return 0


def _test_pr_auc(metrics: Any) -> float | None:
    """Test PR-AUC wherever the trainer recorded it (``mlp.test`` or ``test``)."""
    for path in (("mlp", "test", "pr_auc"), ("test", "pr_auc")):
        node = metrics
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int | float):
            return float(node)
    return None


# -- drift -----------------------------------------------------------------------------------
def _drift(args: argparse.Namespace) -> int:
    from fraud_mlops.drift import compute_drift

    reference, schema, described, origin = _load_reference(args)
    current = _read_claims(args.current, schema, origin)
    with step(f"computing drift of {len(current):,} claims against {described}"):
        results = compute_drift(reference, current, schema)
    results.sort(key=lambda r: r.psi, reverse=True)
    if args.json:
        payload = [
            {"feature": r.feature, "kind": r.kind, "psi": r.psi, "ks": r.ks, "verdict": r.verdict}
            for r in results
        ]
        print(json.dumps({"reference": described, "current": args.current, "features": payload}))
    else:
        print(_drift_table(results))
    if args.fail_on:
        worst = [r for r in results if _LEVELS.index(args.fail_on) <= _level(r)]
        if worst:
            names = ", ".join(r.feature for r in worst)
            print(f"drift at or above {args.fail_on!r}: {names}")
            return 1
    return 0


def _level(result: FeatureDrift) -> int:
    return {"stable": -1, "moderate": 0, "major": 1}[result.verdict]


def _load_reference(
    args: argparse.Namespace,
) -> tuple[ReferenceProfile, ClaimsSchema, str, str | None]:
    """The reference profile, the schema to read claims with, a description for humans, and
    where the schema came from when --schema was not given (None when it was)."""
    from fraud_mlops.artifact import load_artifact
    from fraud_mlops.drift import build_reference
    from fraud_mlops.schema import load_schema

    ref = args.reference
    artifact_dir: Path | None = None
    if ref == "champion":
        from fraud_mlops.settings import Settings
        from fraud_mlops.store import ModelStore

        settings = Settings.from_env()
        name = args.model_name or settings.model_name
        store = ModelStore(settings.model_store_uri)
        with step(f"fetching the champion of {name} from {store.uri}"):
            artifact_dir = store.fetch(name, "champion", Path(settings.home) / "cache" / "models")
    elif "://" not in ref and Path(ref).is_dir():
        artifact_dir = Path(ref)
    elif args.model_name and args.schema:
        raise ConfigError(
            "--model-name only applies with --reference champion, or without --schema (to take "
            "that model's champion's schema)"
        )

    if artifact_dir is not None:
        artifact = load_artifact(artifact_dir)
        if artifact.reference is None:
            raise ModelError(
                f"model {artifact.model_name}/{artifact.version} has no reference profile "
                "(reference.npz); pass the training claims file as --reference instead."
            )
        described = f"model {artifact.model_name}/{artifact.version}"
        if args.schema:
            return artifact.reference, load_schema(args.schema), described, None
        origin = f"the schema in the manifest of {described}"
        return artifact.reference, artifact.schema, described, origin

    if not ref.lower().endswith(_CLAIMS_SUFFIXES):
        raise ConfigError(
            f"--reference {ref!r} is neither a claims file (.csv/.parquet), a model artifact "
            "folder, nor 'champion'."
        )
    schema, origin = _claims_schema(args)
    claims = _read_claims(ref, schema, origin)
    with step(f"profiling {len(claims):,} reference claims"):
        profile = build_reference(claims, schema)
    return profile, schema, ref, origin


def _claims_schema(args: argparse.Namespace) -> tuple[ClaimsSchema, str | None]:
    """--schema, else the champion's schema (from its manifest), else 'synthetic', said aloud.

    Returns the schema and, when it was not given, where it came from (for error hints).
    """
    from fraud_mlops.progress import say
    from fraud_mlops.schema import load_schema, schema_from_dict
    from fraud_mlops.settings import Settings
    from fraud_mlops.store import ModelStore

    if args.schema:
        return load_schema(args.schema), None
    settings = Settings.from_env()
    name = args.model_name or settings.model_name
    store = ModelStore(settings.model_store_uri)
    version = store.champion_version_or_none(name)
    if version is None:
        schema = load_schema("synthetic")
        origin = f"the bundled 'synthetic' schema (no --schema, and {name!r} has no champion)"
    else:
        origin = f"the schema in the manifest of champion {name}/{version}"
        schema = schema_from_dict(store.manifest(name, version)["schema"], origin)
    say(f"note: no --schema given: reading the claims with {origin}")
    return schema, origin


def _read_claims(uri: str, schema: ClaimsSchema, schema_origin: str | None = None):
    """Validated claims; new claims without labels yet are checked on their features only."""
    from fraud_mlops.errors import DataValidationError
    from fraud_mlops.ingest import CsvDialectError, read_table, validate_claims, validate_features
    from fraud_mlops.progress import say

    hint = f"these claims were read with {schema_origin}: pass --schema for your data"
    try:
        with step(f"reading {uri}"):
            raw = read_table(uri, schema.csv)
        if schema.label_column in raw.columns:
            return validate_claims(raw, schema, source=uri)
        say(f"note: {uri} has no {schema.label_column!r} column: checking feature columns only")
        return validate_features(raw, schema, source=uri)
    except DataValidationError as exc:
        if schema_origin is None:
            raise
        raise DataValidationError(exc.source, [*exc.problems, hint]) from None
    except CsvDialectError as exc:
        if schema_origin is None:
            raise
        raise CsvDialectError(f"{exc}\n{hint}") from None


def _drift_table(results: list[FeatureDrift]) -> str:
    rows = [
        [r.feature, r.kind, f"{r.psi:.4f}", "-" if r.ks is None else f"{r.ks:.4f}", r.verdict]
        for r in results
    ]
    return _table(["feature", "kind", "psi", "ks", "verdict"], rows)


# -- formatting --------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)
