"""`make monitor-demo`: the loop on a laptop — score a later, drifted period, record outcomes,
run the monitoring flow, show the drift table, realised precision, alerts and warehouse rows.

1. Needs a local champion: reuses `make demo`'s state (``.local/``), or runs its training first.
2. Generates a later period with the synthetic generator's drift knob (``drift=1.0``: more
   online/app claims, claims inflation, younger customers, more night incidents).
3. Scores it through the real scoring app in-process (the ASGI app, as uvicorn serves it) with
   capture on: a salt and a local sink in the lakehouse (``scores/``). If the store holds another
   published version, it is scored in shadow beside the champion.
4. Records synthetic outcomes (the generator's labels) for 60 % of those claims through
   ``POST /v1/outcomes``, and sends one batch again to show that a re-send changes nothing.
5. Runs ``flows/monitoring_flow.py`` over exactly this demo's window on Metaflow's local runtime.
   The outcomes are final the moment they are recorded, so the demo sets the label maturity to 0
   days (the default, 7, would leave out claims scored today).
6. Prints the report and queries the new rows of the embedded warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]  # lambda_api: the app is scored in-process
FLOW = REPO / "flows" / "monitoring_flow.py"
CLAIMS = 6000
LABELLED_SHARE = 0.6
BATCH = 500
SALT = "monitor-demo-salt-not-a-secret"


def _champion(settings) -> str | None:
    from fraud_mlops.store import ModelStore

    return ModelStore(settings.model_store_uri).champion_version_or_none(settings.model_name)


def _shadow_candidate(settings, champion: str) -> str | None:
    """The newest published version other than the champion (scored in shadow), if any."""
    from fraud_mlops.store import ModelStore

    store = ModelStore(settings.model_store_uri)
    others = [v for v in store.versions(settings.model_name) if v != champion]
    return store.version_uri(settings.model_name, sorted(others)[-1]) if others else None


def _claims_json(frame, schema) -> list[dict]:
    cols = [schema.id_column, *(c for c in schema.scoring_columns if c != schema.id_column)]
    return json.loads(frame[cols].to_json(orient="records", date_format="iso"))


def _schema(settings, version: str):
    from fraud_mlops.schema import schema_from_dict
    from fraud_mlops.store import ModelStore

    manifest = ModelStore(settings.model_store_uri).manifest(settings.model_name, version)
    return schema_from_dict(manifest["schema"])


def _post(client, path: str, body: dict) -> dict:
    response = client.post(path, json=body)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text[:2000]}")
    return response.json()


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("FRAUD_MLOPS_HOME") or REPO / ".local")
    os.environ.setdefault("FRAUD_MLOPS_HOME", str(home))
    os.environ.setdefault("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(home / "metaflow"))
    os.environ.setdefault("USERNAME", os.environ.get("USER") or "fraud-mlops")

    from fraud_mlops.settings import Settings

    settings = Settings.from_env()
    champion = _champion(settings)
    if champion is None:
        print("no local champion yet: running `make demo`'s training first (a few minutes)")
        code = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO
        ).returncode
        if code != 0:
            return code
        champion = _champion(settings)
    lake = settings.lakehouse_uri
    print(f"champion: {settings.model_name} {champion}; lakehouse: {lake}")

    # The API reads its settings when the app is built: capture into the lakehouse, with a salt.
    os.environ.update(
        CAPTURE_KEY_SALT=os.environ.get("CAPTURE_KEY_SALT") or SALT,
        CAPTURE_SINK=lake,
        CAPTURE_LOG="false",
        LAKEHOUSE_URI=lake,
        POWERTOOLS_METRICS_DISABLED="true",
        LOG_LEVEL="WARNING",
    )
    shadow = _shadow_candidate(settings, champion)
    if shadow and not os.environ.get("SHADOW_MODEL_URI"):
        os.environ["SHADOW_MODEL_URI"] = shadow
    print(f"shadow: {os.environ.get('SHADOW_MODEL_URI') or 'none (one published version only)'}")

    with warnings.catch_warnings():  # starlette's notice about httpx, not about this demo
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from fraud_mlops.synthetic import generate_claims
    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    holder = ModelHolder.load()
    if holder.service is None:
        raise SystemExit(f"the scoring app could not load the champion: {holder.reason}")
    client = TestClient(create_app(holder))
    schema = _schema(settings, champion)
    # A new seed per run: new claim ids, so a second demo records new outcomes (a re-sent
    # outcome changes nothing). MONITOR_DEMO_SEED fixes it (tests).
    seed = int(os.environ.get("MONITOR_DEMO_SEED") or time.time() % 100_000)
    claims = generate_claims(CLAIMS, seed=seed, drift=1.0)
    started = datetime.now(UTC)
    rows = _claims_json(claims, schema)
    t0 = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        _post(client, "/v1/score", {"claims": rows[i : i + BATCH]})
    print(
        f"\nscored {len(rows):,} drifted claims through POST /v1/score in "
        f"{time.perf_counter() - t0:.1f} s (capture on, sink {lake}/scores/)"
    )

    labelled = claims.iloc[: int(len(claims) * LABELLED_SHARE)]
    decided = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcomes = [
        {"claim_id": c, "outcome": "fraud" if y else "legitimate", "decided_at": decided}
        for c, y in zip(labelled[schema.id_column], labelled["is_fraud"], strict=True)
    ]
    recorded = 0
    for i in range(0, len(outcomes), BATCH):
        recorded += _post(client, "/v1/outcomes", {"outcomes": outcomes[i : i + BATCH]})["recorded"]
    again = _post(client, "/v1/outcomes", {"outcomes": outcomes[:BATCH]})
    frauds = int(labelled["is_fraud"].sum())
    print(
        f"recorded {recorded:,} outcomes through POST /v1/outcomes ({frauds} frauds); "
        f"the first batch sent again: {again['message']}"
    )
    client.close()

    id_file = home / "monitor-demo-run-id"
    id_file.unlink(missing_ok=True)
    command = [
        sys.executable, str(FLOW), "--no-pylint", "run", "--run-id-file", str(id_file),
        "--from", started.strftime("%Y-%m-%dT%H:%M:%SZ"), *argv,
    ]  # fmt: skip
    env = {
        **os.environ,
        "MONITOR_LABEL_MATURITY_DAYS": os.environ.get("MONITOR_LABEL_MATURITY_DAYS", "0"),
    }
    env.pop("SHADOW_MODEL_URI", None)
    print("\n$ " + " ".join(command[1:]), flush=True)
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-4000:] + result.stderr[-4000:], file=sys.stderr)
        print(f"\nthe monitoring flow failed (exit {result.returncode})", file=sys.stderr)
        return result.returncode

    from metaflow import Run, namespace

    from fraud_mlops.cli import main as cli
    from fraud_mlops.monitoring_report import format_report

    namespace(None)
    run_id = id_file.read_text().strip()
    run = Run(f"MonitoringFlow/{run_id}")
    print(f"\n{format_report(run.data.report)}")
    print(f"\nWarehouse sync (embedded store):\n{run.data.warehouse_sync}")
    for line in run.data.notified:
        print(f"notify {line}")
    for sql in (
        "SELECT FEATURE, KIND, ROUND(PSI, 3) AS PSI, ROUND(KS, 3) AS KS, VERDICT "
        f"FROM MONITORING_DRIFT WHERE RUN_ID = '{run_id}' ORDER BY PSI DESC, FEATURE LIMIT 5",
        "SELECT METRIC, SEGMENT, ROUND(VALUE, 4) AS VALUE, ROUND(LOW, 4) AS LOW, "
        f"ROUND(HIGH, 4) AS HIGH, CLAIMS FROM MONITORING_METRICS WHERE RUN_ID = '{run_id}' "
        "AND SEGMENT = '__all__' ORDER BY METRIC",
        "SELECT LEVEL, KIND, SUBJECT, MESSAGE FROM MONITORING_ALERTS "
        f"WHERE RUN_ID = '{run_id}' ORDER BY LEVEL, KIND, SUBJECT",
    ):
        print(f'\n$ fraud-mlops warehouse query "{sql}"', flush=True)
        code = cli(["warehouse", "query", sql])
        if code != 0:
            return code
    root = os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"]
    print(
        f"\ncard: METAFLOW_DATASTORE_SYSROOT_LOCAL={root} python flows/monitoring_flow.py "
        f"card view {run_id}/monitor"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
