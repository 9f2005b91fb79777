"""Monitoring publish: lakehouse partitions, the embedded warehouse (fakesnow), notifications."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest

from fraud_mlops import monitoring_publish as pub
from fraud_mlops.drift import build_reference
from fraud_mlops.errors import ConfigError, LakehouseError
from fraud_mlops.lakehouse import Lakehouse
from fraud_mlops.monitoring import compute_monitoring
from fraud_mlops.monitoring_config import MonitoringSettings, Window
from fraud_mlops.monitoring_report import MonitoringReport
from fraud_mlops.schema import default_schema
from fraud_mlops.settings import Settings
from fraud_mlops.synthetic import generate_claims
from fraud_mlops.warehouse import specs
from fraud_mlops.warehouse.connection import connect
from fraud_mlops.warehouse.settings import WarehouseSettings
from tests.support.local_servers import WebhookServer
from tests.support.monitoring_frames import END, capture_frame, outcomes_for


@pytest.fixture(scope="module")
def report() -> MonitoringReport:
    schema = default_schema()
    reference = build_reference(generate_claims(4000, seed=1), schema)
    claims = generate_claims(2500, seed=21, drift=1.0)
    start = END - timedelta(days=30)
    champ = capture_frame(claims, start=start, days=12, seed=1, strength=1.0)
    shadow = capture_frame(claims, start=start, days=12, seed=2, role="shadow", version="v2")
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    return compute_monitoring(
        [frame.iloc[:2000], frame.iloc[2000:]],
        reference=reference,
        schema=schema,
        model_name="fraud",
        reference_version="v1",
        window=Window(start, END),
        outcomes=outcomes_for(champ, claims),
        settings=MonitoringSettings(maturity_days=0),
    )


@pytest.fixture
def embedded() -> WarehouseSettings:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    return WarehouseSettings.from_env(env)


def test_specs_declare_the_monitoring_tables_once():
    names = [t.name for t in specs.MONITORING_TABLES]
    assert names == [
        "MONITORING_DRIFT",
        "MONITORING_METRICS",
        "SHADOW_COMPARISON",
        "MONITORING_ALERTS",
    ]
    assert set(specs.MONITORING_TABLES) <= set(specs.TABLES)  # Pulumi and the DDL create them
    for t in specs.MONITORING_TABLES:
        assert t.dataset.startswith("monitoring/") and t.key[0] == "RUN_ID"


def test_write_report_partitions_match_the_report(report):
    uri = Settings.from_env().lakehouse_uri
    written = pub.write_report(report, uri, "mon-1")
    assert list(written)[-1] == "monitoring/metrics"  # written last: marks the run complete
    lake = Lakehouse(uri)
    drift = lake.read_pandas("monitoring/drift", "mon-1")
    assert list(drift["feature"]) == [d["feature"] for d in report.drift]
    assert (drift["reference_version"] == "v1").all()
    metrics = lake.read_pandas("monitoring/metrics", "mon-1").set_index(["metric", "segment"])
    assert metrics.loc[("flag_rate", "__all__"), "value"] == pytest.approx(report.flag_rate["rate"])
    precision = metrics.loc[("precision_at_budget", "__all__")]
    assert precision["value"] == pytest.approx(report.performance["precision_at_budget"]["value"])
    assert precision["low"] <= precision["value"] <= precision["high"]
    days = [s for m, s in metrics.index if m == "flag_rate" and s != "__all__"]
    assert days == [d["date"] for d in report.flag_rate["by_day"]]
    shadow = lake.read_pandas("monitoring/shadow", "mon-1").set_index("metric")
    assert shadow.loc["pr_auc", "difference"] == pytest.approx(
        report.shadow["pr_auc"]["difference"]
    )
    alerts = lake.read_pandas("monitoring/alerts", "mon-1")
    assert len(alerts) == len(report.alerts) and "feature_drift" in set(alerts["kind"])
    pub.write_report(report, uri, "mon-1")  # again: replaced, never duplicated
    assert len(lake.read_pandas("monitoring/drift", "mon-1")) == len(report.drift)


def test_sync_inserts_the_rows_then_changes_nothing(report, embedded):
    uri = Settings.from_env().lakehouse_uri
    pub.write_report(report, uri, "mon-2")
    first = pub.sync_warehouse("mon-2", uri, embedded)
    by_table = {t.table: t for t in first.tables}
    assert [t.table for t in first.tables] == [t.name for t in specs.MONITORING_TABLES]
    assert by_table["MONITORING_DRIFT"].inserted == len(report.drift)
    assert by_table["MONITORING_ALERTS"].inserted == len(report.alerts)
    assert by_table["SHADOW_COMPARISON"].inserted == 2
    again = pub.sync_warehouse("mon-2", uri, embedded)
    assert not again.changed
    with connect(embedded) as wh:
        _, rows = wh.query(
            f"SELECT METRIC, VALUE FROM {wh.qualified('MONITORING_METRICS')} "
            "WHERE RUN_ID = %s AND SEGMENT = '__all__' AND METRIC = 'flag_rate'",
            ("mon-2",),
        )
    assert rows[0][1] == pytest.approx(report.flag_rate["rate"])


def test_sync_of_a_run_without_metrics_says_so(embedded):
    with pytest.raises(LakehouseError, match="mon-none"):
        pub.sync_warehouse("mon-none", Settings.from_env().lakehouse_uri, embedded)


def test_alerts_are_notified_and_warnings_alone_are_not(report):
    with WebhookServer() as hook:
        outcomes = pub.notify_alerts(report, "mon-3", {"SLACK_WEBHOOK_URL": hook.url + "/hook"})
    assert [o.channel for o in outcomes if o.sent] == ["slack"]
    (post,) = hook.posts
    assert "monitoring" in post["json"]["text"] and "mon-3" in post["json"]["text"]
    assert "channel: PSI" in post["json"]["text"]
    quiet = MonitoringReport(**{**report.__dict__, "alerts": []})
    assert pub.notify_alerts(quiet, "mon-4", {}) == []


def test_start_retraining_local_and_stepfunctions(tmp_path):
    started = []

    class FakeProc:
        pid = 4242

    def popen(args, **kwargs):
        started.append(args)
        return FakeProc()

    t = pub.start_retraining(
        mode="local",
        flow_file="flows/fraud_detection_flow.py",
        parameters={"sample_size": 3000},
        popen=popen,
    )
    assert t == pub.RetrainTrigger("local", "4242")
    assert started[0][-3:] == ["run", "--sample-size", "3000"]
    with pytest.raises(ConfigError, match="retrain mode"):
        pub.start_retraining(mode="cron", flow_file="x")


def test_start_retraining_on_step_functions(aws_env):
    import boto3

    client = boto3.client("stepfunctions")
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = client.create_state_machine(
        name="FraudDetectionFlow",
        definition='{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}',
        roleArn=role,
    )["stateMachineArn"]
    t = pub.start_retraining(mode="stepfunctions", flow_file="unused", sfn_client=client)
    assert t.mode == "stepfunctions"
    (execution,) = client.list_executions(stateMachineArn=arn)["executions"]
    assert execution["executionArn"] == t.reference and execution["name"].startswith("retrain-")


def test_monitoring_comments_need_no_quote_escaping():
    # fakesnow's parser cannot read '' inside a COMMENT, so the embedded DDL would fail
    for t in specs.MONITORING_TABLES:
        assert "'" not in t.comment and all("'" not in c.comment for c in t.columns)
