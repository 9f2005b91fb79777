"""Train, evaluate, gate and publish the claims-fraud model.

    start ─► prepare ─► train_trial (foreach trial of every family, @retry) ─► select
          ─► evaluate (card) ─► drift (card) ─► publish ─► end

* start     validate every parameter, load claims (synthetic, --input-uri + --schema, or
            --labels outcomes: captured scores labelled by investigators' outcomes), refuse
            claims that cannot train (too few, one class, a split short of frauds) before writing
            the run's raw/claims partition, sample the trials of every family from the search space
* prepare   time-ordered train/validation/test split; fit preprocessing and the drift reference
            on train only; decide whether selection will use time-series CV (< 100 test frauds)
* train_trial  one trial of one family (MLP, TabM: torch, one thread; GBDT: LightGBM, one
            thread), then, when CV is on, the same configuration retrained on each fold; trials
            of all families run side by side
* select    each family's best trial on validation, plus a blend of the best neural and GBDT;
            the champion candidate by validation PR-AUC (or the trials' CV folds on small data)
* evaluate  candidates vs the run's best GBDT vs the current champion on THIS run's test split,
            with paired bootstrap intervals; threshold by cost, capped by the alert budget
* drift     PSI/KS against the champion's training reference (first model: test vs train)
* publish   quality gate on the intervals; artifact to the model store; champion pointer only if
            the gate passed
* end       predictions, metrics, scoring summary and drift to the run's lakehouse partitions;
            prints the run summary (also the `summary` card)

Run locally:  USERNAME=me python flows/fraud_detection_flow.py run --max-workers 2
On AWS:       ... --with batch run, or step-functions create (see docs/training.md)
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from metaflow import (
    FlowSpec,
    IncludeFile,
    Parameter,
    batch,
    card,
    current,
    resources,
    retry,
    secrets,
    step,
)
from metaflow.exception import MetaflowException

import fraud_mlops  # noqa: F401  (ships the library in the code package: METAFLOW_PACKAGE_POLICY)
from fraud_mlops.errors import FraudMlopsError

HERE = os.path.dirname(os.path.abspath(__file__))
# On a stack with Snowflake, `flow deploy` compiles this into every step's environment; `end`
# then fetches the sync user's private key from Secrets Manager (as SNOWFLAKE_PRIVATE_KEY).
# Unset locally and in tests: no secret is fetched and the embedded warehouse is used.
SNOWFLAKE_KEY_SECRET = os.environ.get("SNOWFLAKE_PRIVATE_KEY_SECRET_ARN", "")
# Also from the stack: the Spot-first Batch queue for search trials (other steps use the
# on-demand default queue). Unset locally, where trials stay local processes.
SEARCH_QUEUE = os.environ.get("FRAUD_MLOPS_SEARCH_QUEUE", "")


def on_search_queue(step_function):
    """Send a step to the stack's search queue when deployed; a no-op everywhere else."""
    return batch(queue=SEARCH_QUEUE)(step_function) if SEARCH_QUEUE else step_function


class InvalidInput(MetaflowException):
    """A parameter or the input data is wrong; Metaflow prints the message without a traceback."""

    headline = "Invalid input"


@contextmanager
def user_errors_explained():
    """Turn the library's user-facing errors into a clean Metaflow failure (no stack trace)."""
    try:
        yield
    except FraudMlopsError as exc:
        raise InvalidInput(str(exc)) from None


class FraudDetectionFlow(FlowSpec):
    """Claims -> versioned, gated fraud model, with evidence in cards and the lakehouse."""

    sample_size = Parameter(
        "sample-size", type=int, default=20000, help="synthetic claims to generate (no --input-uri)"
    )
    input_uri = Parameter(
        "input-uri", default="", help="your claims: .csv/.parquet (local, s3://, abfss://)"
    )
    schema = Parameter(
        "schema", default="synthetic", help="schema YAML path or bundled name (fraud_oracle)"
    )
    labels = Parameter(
        "labels",
        default="data",
        help="data: the claims' own labels; outcomes: captured champion scores labelled by "
        "investigators' outcomes (LABEL_MATURITY_DAYS, docs/outcomes.md)",
    )
    trials = Parameter(
        "trials",
        type=int,
        default=4,
        help="trials in total, shared by the families (at least each family's anchor)",
    )
    seed = Parameter("seed", type=int, default=42, help="seed for data, sampling and training")
    search_config = IncludeFile(
        "search-config",
        default=os.path.join(HERE, "config", "search_space.yaml"),
        help="search space YAML (read when the run starts)",
    )
    max_epochs = Parameter(
        "max-epochs", type=int, default=0, help="cap epochs per trial (0 = the search config's)"
    )
    pr_auc_tolerance = Parameter(
        "pr-auc-tolerance",
        type=float,
        default=0.005,
        help="gate: refuse when worse than the champion by more than this, with 95% confidence",
    )
    baseline_margin = Parameter(
        "baseline-margin",
        type=float,
        default=0.01,
        help="gate: refuse when worse than the run's best GBDT by more than this, with confidence",
    )
    alert_budget = Parameter(
        "alert-budget",
        type=float,
        default=0.05,
        help="share of claims investigators can review: caps the flag rate of the threshold",
    )
    investigation_cost = Parameter(
        "investigation-cost", type=float, default=150.0, help="cost of reviewing one claim"
    )
    fraud_loss = Parameter(
        "fraud-loss", type=float, default=4000.0, help="average loss of an undetected fraud"
    )

    @step
    def start(self):
        """Validate parameters, load the claims and record them in the lakehouse."""
        from fraud_mlops.pipeline import load_run_claims, validate_parameters
        from fraud_mlops.settings import Settings

        with user_errors_explained():
            # Built once, here; every later step gets the same validated locations (no secrets).
            self.settings = Settings.from_env()
            params = validate_parameters(
                sample_size=self.sample_size,
                input_uri=self.input_uri,
                trials=self.trials,
                seed=self.seed,
                search_config=self.search_config,
                max_epochs=self.max_epochs,
                pr_auc_tolerance=self.pr_auc_tolerance,
                baseline_margin=self.baseline_margin,
                alert_budget=self.alert_budget,
                investigation_cost=self.investigation_cost,
                fraud_loss=self.fraud_loss,
            )
            loaded = load_run_claims(
                self.input_uri,
                self.schema,
                self.sample_size,
                self.seed,
                current.run_id,
                settings=self.settings,
                labels=self.labels,
            )
        self.claims, self.schema_dict = loaded.frame, loaded.schema_dict
        self.raw_uri, self.data_warnings = loaded.raw_uri, loaded.warnings
        for warning in self.data_warnings:
            print(f"warning: {warning}")
        self.cost, self.policy, self.trial_list = params.cost, params.policy, params.trials
        self.lake_run_id = current.run_id  # a resumed run keeps writing to the same partitions
        self.next(self.prepare)

    @step
    def prepare(self):
        """Time-ordered split; preprocessing and drift reference fitted on train only."""
        from fraud_mlops.candidates import cv_folds_for, longest_first
        from fraud_mlops.pipeline import prepare_data

        with user_errors_explained():
            self.data = prepare_data(self.claims, self.schema_dict, seed=self.seed)
        self.cv_folds = cv_folds_for(self.data, self.trial_list)
        self.trial_queue = longest_first(self.trial_list)  # the slowest trials start first
        self.next(self.train_trial, foreach="trial_queue")

    @retry(times=2, minutes_between_retries=0)
    @resources(cpu=1, memory=4096)
    @on_search_queue
    @step
    def train_trial(self):
        """One trial of one family, one thread (and its CV folds when selection will use CV)."""
        from fraud_mlops.candidates import run_trial

        with user_errors_explained():
            outcome = run_trial(
                self.data, self.input, max_epochs=self.max_epochs, cv_folds=self.cv_folds
            )
        self.trial_summary = outcome.summary
        self.trial_outcome = outcome
        self.next(self.select)

    @step
    def select(self, inputs):
        """Each family's best trial, a blend, and the champion candidate on validation."""
        from fraud_mlops.candidates import select_candidate

        self.trial_summaries = sorted((i.trial_summary for i in inputs), key=lambda t: t["trial"])
        outcomes = [i.trial_outcome for i in inputs]
        self.merge_artifacts(inputs, exclude=["trial_summary", "trial_outcome"])
        with user_errors_explained():
            self.selection = select_candidate(self.data, outcomes)
        self.next(self.evaluate)

    @card(type="blank", id="evaluation")
    @step
    def evaluate(self):
        """Candidates vs the best GBDT vs the champion on this run's test split; the card."""
        from cards import evaluation_card

        from fraud_mlops.pipeline import evaluate_run

        self.evaluation = evaluate_run(self.data, self.selection, self.cost, self.settings)
        for component in evaluation_card(self.evaluation, self.data, self.trial_summaries):
            current.card["evaluation"].append(component)
        self.next(self.drift)

    @card(type="blank", id="drift")
    @step
    def drift(self):
        """Population stability against the champion's training data; the drift card."""
        from cards import drift_card

        from fraud_mlops.pipeline import run_drift

        self.drift_result = run_drift(self.claims, self.data, self.evaluation)
        for component in drift_card(self.drift_result):
            current.card["drift"].append(component)
        self.next(self.publish)

    @step
    def publish(self):
        """Gate, publish the artifact, move the champion pointer if the gate passed."""
        from fraud_mlops.pipeline import publish_model

        self.publication = publish_model(
            self.data, self.selection, self.evaluation, self.policy, current.run_id, self.settings
        )
        self.next(self.end)

    @card(type="blank", id="summary")
    @secrets(sources=[SNOWFLAKE_KEY_SECRET] if SNOWFLAKE_KEY_SECRET else [])
    @step
    def end(self):
        """Lakehouse outputs and the warehouse sync; prints the run summary (and its card)."""
        from cards import summary_card

        from fraud_mlops.pipeline import run_summary_info, write_outputs
        from fraud_mlops.reports import run_summary

        self.outputs = write_outputs(
            self.claims,
            self.data,
            self.evaluation,
            self.drift_result,
            self.publication,
            self.lake_run_id,
            self.settings,
        )
        # Replicate this run's metrics, scoring summary and drift into the warehouse (Snowflake,
        # or the embedded store): one transaction keyed by run, so a resumed run re-syncs safely.
        from fraud_mlops.warehouse.sync import sync_run

        self.warehouse_sync = sync_run(self.lake_run_id).format()
        print(self.warehouse_sync)
        self.summary = run_summary_info(
            flow_name=current.flow_name,
            run_id=self.lake_run_id,
            data=self.data,
            trials=len(self.trial_summaries),
            evaluation=self.evaluation,
            publication=self.publication,
            outputs=self.outputs,
            settings=self.settings,
            data_warnings=self.data_warnings,
        )
        # The same text scripts/demo.py prints: what every run, local or remote, reports.
        text = run_summary(self.summary)
        print(text)
        for component in summary_card(text):
            current.card["summary"].append(component)


if __name__ == "__main__":
    FraudDetectionFlow()
