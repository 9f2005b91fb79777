"""Monitor the champion in production: drift, score shift, flag rate, realised precision, shadow.

    start ─► monitor (card) ─► publish ─► end

* start    validate the window (--days, or --from/--to) and the threshold overrides, find the
           champion (its reference profile travels in the artifact)
* monitor  one streamed pass over the window's captured scores (lakehouse ``scores/``) and the
           investigators' outcomes (``outcomes/``): PSI/KS per feature, score PSI, flag rate by
           day, realised precision/recall at the alert budget with intervals, shadow vs champion
           (fraud_mlops.monitoring); the card plots them
* publish  lakehouse ``monitoring/{drift,metrics,shadow,alerts}`` for this run, the warehouse
           sync (MONITORING_* and SHADOW_COMPARISON tables), a notification when an alert fired;
           with --retrain-on-alert and an alert, starts the training flow (a local process, or
           the training state machine when this runs on Step Functions)
* end      prints the report

Scheduled daily on Step Functions (``@schedule``: ``fraud-mlops flow deploy --flow monitoring``
creates the EventBridge rule). Locally:  USERNAME=me python flows/monitoring_flow.py run --days 7
"""

from __future__ import annotations

import json
import os

from metaflow import FlowSpec, Parameter, card, current, schedule, secrets, step
from metaflow.exception import MetaflowException

import fraud_mlops  # noqa: F401  (ships the library in the code package: METAFLOW_PACKAGE_POLICY)
from fraud_mlops.errors import FraudMlopsError

HERE = os.path.dirname(os.path.abspath(__file__))
# The flow a local retrain runs (the variable lets a test put a stand-in there).
TRAINING_FLOW = os.environ.get(
    "FRAUD_MLOPS_TRAINING_FLOW_FILE", os.path.join(HERE, "fraud_detection_flow.py")
)
# Compiled into the steps by `flow deploy` on a stack with Snowflake (see the training flow).
SNOWFLAKE_KEY_SECRET = os.environ.get("SNOWFLAKE_PRIVATE_KEY_SECRET_ARN", "")
# Set by `flow deploy --flow monitoring`: the training state machine a retrain starts.
TRAINING_STATE_MACHINE = os.environ.get("FRAUD_MLOPS_TRAINING_STATE_MACHINE", "")


class InvalidInput(MetaflowException):
    """A parameter or the data is wrong; Metaflow prints the message without a traceback."""

    headline = "Invalid input"


def _explained(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except FraudMlopsError as exc:
        raise InvalidInput(str(exc)) from None


@schedule(daily=True)
class MonitoringFlow(FlowSpec):
    """Captured scores + outcomes -> drift, decay, shadow evidence: card, lakehouse, warehouse."""

    days = Parameter("days", type=float, default=30.0, help="window: the days before --to")
    window_from = Parameter(
        "from", default="", help="window start (ISO date/time); overrides --days"
    )
    window_to = Parameter("to", default="", help="window end (ISO date/time; default: now)")
    thresholds = Parameter(
        "thresholds",
        default="{}",
        help="JSON overrides of the MONITOR_* settings, e.g. '{\"MONITOR_PSI_ALERT\": 0.3}'",
    )
    retrain_on_alert = Parameter(
        "retrain-on-alert",
        type=bool,
        default=False,
        help="start the training flow when an alert fires (off by default)",
    )

    @step
    def start(self):
        """Validate the window and thresholds; find the champion."""
        from fraud_mlops.monitoring_config import MonitoringSettings, resolve_window
        from fraud_mlops.settings import Settings

        self.settings = _explained(Settings.from_env)
        try:
            overrides = json.loads(self.thresholds)
            assert isinstance(overrides, dict)
        except (ValueError, AssertionError):
            raise InvalidInput(
                f"--thresholds {self.thresholds!r} is not a JSON object; e.g. "
                "'{\"MONITOR_PSI_ALERT\": 0.3}'"
            ) from None
        unknown = sorted(k for k in overrides if not str(k).startswith("MONITOR_"))
        if unknown:
            raise InvalidInput(
                f"--thresholds: {unknown} are not monitoring settings: use the MONITOR_ names "
                "of the README configuration reference"
            )
        env = {**os.environ, **{k: str(v) for k, v in overrides.items()}}
        self.monitor_settings = _explained(MonitoringSettings.from_env, env)
        self.window = _explained(
            resolve_window, days=self.days, start=self.window_from, end=self.window_to
        )
        self.run_key = current.run_id  # the lakehouse partition and warehouse RUN_ID
        self.next(self.monitor)

    @card(type="blank", id="monitoring")
    @step
    def monitor(self):
        """One streamed pass over the window (fraud_mlops.monitoring.run_monitoring)."""
        from monitoring_cards import monitoring_card

        from fraud_mlops.monitoring import run_monitoring

        s = self.settings
        report = _explained(
            run_monitoring,
            lakehouse_uri=s.lakehouse_uri,
            model_store_uri=s.model_store_uri,
            model_name=s.model_name,
            window=self.window,
            cache_dir=os.path.join(s.home, "cache"),
            settings=self.monitor_settings,
        )
        self.alerting = report.alerting
        self.report = report.to_dict()
        for component in monitoring_card(self.report):
            current.card["monitoring"].append(component)
        self.next(self.publish)

    @secrets(sources=[SNOWFLAKE_KEY_SECRET] if SNOWFLAKE_KEY_SECRET else [])
    @step
    def publish(self):
        """Lakehouse monitoring/*, the warehouse, notifications, and the optional retrain."""
        from fraud_mlops import monitoring_publish as pub
        from fraud_mlops.monitoring_report import report_from_dict

        report = report_from_dict(self.report)
        self.outputs = _explained(
            pub.write_report, report, self.settings.lakehouse_uri, self.run_key
        )
        self.warehouse_sync = _explained(
            pub.sync_warehouse, self.run_key, self.settings.lakehouse_uri
        ).format()
        print(self.warehouse_sync)
        self.notified = [f"{o.channel}: {o.note}" for o in pub.notify_alerts(report, self.run_key)]
        self.retrain = None
        if self.retrain_on_alert and self.alerting:
            on_aws = bool(os.environ.get("AWS_BATCH_JOB_ID"))  # a Batch step of Step Functions
            trigger = _explained(
                pub.start_retraining,
                mode="stepfunctions" if on_aws else "local",
                flow_file=TRAINING_FLOW,
                state_machine=TRAINING_STATE_MACHINE or None,
            )
            self.retrain = {"mode": trigger.mode, "reference": trigger.reference}
            print(f"alert fired: started retraining ({trigger.mode}: {trigger.reference})")
        self.next(self.end)

    @step
    def end(self):
        """Print the report."""
        from fraud_mlops.monitoring_report import format_report

        print(format_report(self.report))
        for line in self.notified:
            print(f"  notify {line}")


if __name__ == "__main__":
    MonitoringFlow()
