"""The gate verdict of a finished training run, for CI: did its model pass?

Source of truth: the gate decision the flow wrote into the published model's own manifest
(``manifest["metrics"]["gate"]``, see ``fraud_mlops.pipeline.publish_model``). It travels with
the artifact, so it is the same record whether the run is asked about today or at a rollback a
month later. The run is mapped to its model version through the lakehouse ``metrics`` partition
the flow writes at the end of the run; its ``is_champion`` flag is reported alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fraud_mlops.errors import ConfigError, ModelError


@dataclass(frozen=True)
class Locations:
    """Where a stack's (or the laptop's) runs write: lakehouse, model store, model name."""

    lakehouse_uri: str
    model_store_uri: str
    model_name: str
    source: str = "environment"


@dataclass(frozen=True)
class GateVerdict:
    """One version's recorded gate decision."""

    model_name: str
    version: str
    passed: bool
    reasons: list[str]
    run_id: str | None = None
    is_champion: bool | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        run = f"run {self.run_id}: " if self.run_id else ""
        out = [f"{run}model {self.model_name}/{self.version}"]
        out.append(f"gate: {'PASSED' if self.passed else 'FAILED'}")
        out += [f"  {reason}" for reason in self.reasons]
        if self.is_champion is not None:
            out.append(f"champion after the run: {'yes' if self.is_champion else 'no'}")
        return out


def gate_of_version(manifest: dict[str, Any], model_name: str, version: str) -> GateVerdict:
    """The gate decision recorded in a version's manifest; a version without one has not passed."""
    metrics = manifest.get("metrics") if isinstance(manifest, dict) else None
    gate = metrics.get("gate") if isinstance(metrics, dict) else None
    test = (metrics or {}).get("mlp", {}).get("test", {}) if isinstance(metrics, dict) else {}
    numbers = {k: float(v) for k, v in test.items() if isinstance(v, int | float)}
    if not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        return GateVerdict(
            model_name,
            version,
            passed=False,
            reasons=["FAIL: the manifest holds no gate decision (not published by the flow?)"],
            metrics=numbers,
        )
    reasons = [str(r) for r in gate.get("reasons") or []]
    return GateVerdict(model_name, version, gate["passed"], reasons, metrics=numbers)


def run_version(lakehouse_uri: str, run_id: str) -> tuple[str, str, bool]:
    """``(model_name, model_version, is_champion)`` of the MLP a run trained.

    Raises:
        ConfigError: the run wrote no metrics partition, or it names no trained model.
    """
    from fraud_mlops.lakehouse import METRICS, Lakehouse

    lake = Lakehouse(lakehouse_uri)
    runs = lake.runs(METRICS)
    if run_id not in runs:
        recent = ", ".join(runs[-5:]) or "none"
        raise ConfigError(
            f"run {run_id!r} has no metrics in {lakehouse_uri}/{METRICS} (runs there: {recent}). "
            "Check the run id (on Step Functions it is sfn-<execution name>) and that the run "
            "finished; a run that failed before its end step records no gate."
        )
    rows = [r for r in lake.read(METRICS, run_id).to_pylist() if r.get("model_kind") == "mlp"]
    if not rows:
        raise ConfigError(f"run {run_id!r}: its metrics partition has no mlp rows")
    versions = {(str(r["model_name"]), str(r["model_version"])) for r in rows}
    if len(versions) != 1:
        raise ConfigError(f"run {run_id!r} names several models: {sorted(versions)}")
    (name, version) = versions.pop()
    return name, version, any(bool(r.get("is_champion")) for r in rows)


def gate_of_run(locations: Locations, run_id: str) -> GateVerdict:
    """The gate verdict of ``run_id``: its version from the lakehouse, the decision from the store.

    Raises:
        ConfigError: the run is unknown to the lakehouse.
        ModelError: the version it names is not in the model store.
    """
    from fraud_mlops.store import ModelStore

    name, version, is_champion = run_version(locations.lakehouse_uri, run_id)
    if name != locations.model_name:
        raise ConfigError(
            f"run {run_id!r} trained model {name!r}, but {locations.source} serves "
            f"{locations.model_name!r}: set MODEL_NAME or use the stack the run belongs to"
        )
    store = ModelStore(locations.model_store_uri)
    if version not in store.versions(name):
        raise ModelError(
            f"run {run_id!r} recorded model {name}/{version}, which is not in the model store "
            f"{store.uri}: was the run's publish step interrupted, or is MODEL_STORE_URI wrong?"
        )
    verdict = gate_of_version(store.manifest(name, version), name, version)
    return GateVerdict(
        name,
        version,
        verdict.passed,
        verdict.reasons,
        run_id=run_id,
        is_champion=is_champion,
        metrics=verdict.metrics,
    )


def resolve_locations(stack: str | None, outputs_file: str | None) -> Locations:
    """Lakehouse, store and model name from the stack's ``flow_environment`` output, else env."""
    from fraud_mlops.settings import Settings

    if stack is None:
        if outputs_file:
            raise ConfigError("--stack-outputs needs --stack (the stack it was saved from)")
        s = Settings.from_env()
        return Locations(s.lakehouse_uri, s.model_store_uri, s.model_name)
    from fraud_mlops.cloud.stack import load_stack_outputs

    outputs = load_stack_outputs(stack, outputs_file)
    env = outputs.flow_environment()
    missing = [k for k in ("LAKEHOUSE_URI", "MODEL_STORE_URI") if not env.get(k)]
    if missing:
        raise ConfigError(
            f"stack {stack!r} output flow_environment lacks {', '.join(missing)} "
            f"({outputs.source}): run `pulumi up` for the stack, or pass --stack-outputs FILE"
        )
    return Locations(
        env["LAKEHOUSE_URI"],
        env["MODEL_STORE_URI"],
        env.get("MODEL_NAME") or "claims-fraud",
        source=f"stack {stack}",
    )
