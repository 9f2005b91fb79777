"""The warehouse tables and views, declared once.

Pure Python (stdlib only): the Pulumi program in ``infra/`` imports this module to create the
same tables in Snowflake, and :mod:`fraud_mlops.warehouse.ddl` turns the same specs into the DDL
of the embedded store. There is no second copy of a column list anywhere.

Each table mirrors one run-partitioned lakehouse dataset (``dataset``); a column's ``source`` is
its name in the lakehouse frame (default: the column name in lowercase). Every table's ``key``
starts with ``RUN_ID``, so a sync can MERGE one run and delete that run's stale rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMA_NAME_DEFAULT = "FRAUD_MLOPS"


@dataclass(frozen=True)
class Column:
    """One warehouse column.

    Args:
        name: upper-case Snowflake identifier.
        type: Snowflake type, e.g. ``VARCHAR``, ``NUMBER(38,0)``, ``FLOAT``, ``TIMESTAMP_TZ``.
        nullable: whether NULL is allowed.
        comment: shown in Snowflake's catalog and to BI users.
        source: the lakehouse column it is loaded from (default: ``name.lower()``).
    """

    name: str
    type: str
    nullable: bool = True
    comment: str = ""
    source: str = ""

    @property
    def source_column(self) -> str:
        return self.source or self.name.lower()


@dataclass(frozen=True)
class TableSpec:
    """A table fed from one lakehouse dataset; ``key`` is the MERGE key (starts with RUN_ID)."""

    name: str
    comment: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    dataset: str = ""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def value_columns(self) -> tuple[Column, ...]:
        """The columns a MERGE may update (everything outside the key)."""
        return tuple(c for c in self.columns if c.name not in self.key)


@dataclass(frozen=True)
class ViewSpec:
    """A view; ``select`` names the tables unqualified (see :func:`qualified_select`)."""

    name: str
    comment: str
    columns: tuple[str, ...]
    select: str


_RUN_ID = Column("RUN_ID", "VARCHAR", False, "Training run that produced the row (Metaflow run id)")
_CREATED_AT = Column("CREATED_AT", "TIMESTAMP_TZ", False, "When the run computed the value (UTC)")

MODEL_METRICS = TableSpec(
    name="MODEL_METRICS",
    comment="Evaluation metrics per training run, model and split (lakehouse dataset metrics).",
    dataset="metrics",
    columns=(
        _RUN_ID,
        Column("MODEL_NAME", "VARCHAR", False, "Model name in the model store"),
        Column("MODEL_VERSION", "VARCHAR", False, "Model version the metric belongs to"),
        Column("MODEL_KIND", "VARCHAR", False, "mlp (candidate), baseline or champion"),
        Column("SPLIT", "VARCHAR", False, "train, validation or test"),
        Column("METRIC", "VARCHAR", False, "Metric name, e.g. pr_auc, roc_auc, brier"),
        Column("VALUE", "FLOAT", True, "Metric value"),
        _CREATED_AT,
        Column("PARAMETERS", "VARIANT", True, "Hyperparameters of the model (JSON)", "params_json"),
        Column("IS_CHAMPION", "BOOLEAN", False, "The run's model became the champion"),
    ),
    key=("RUN_ID", "MODEL_NAME", "MODEL_VERSION", "MODEL_KIND", "SPLIT", "METRIC"),
)

SCORING_SUMMARY = TableSpec(
    name="SCORING_SUMMARY",
    comment="Scores per run, split and segment (segment columns come from the claims schema).",
    dataset="scoring_summary",
    columns=(
        _RUN_ID,
        Column("MODEL_VERSION", "VARCHAR", False, "Model version that scored the claims"),
        Column("SPLIT", "VARCHAR", False, "train, validation or test"),
        Column("SEGMENT_COLUMN", "VARCHAR", False, "Schema segment column, or __all__"),
        Column("SEGMENT_VALUE", "VARCHAR", False, "Segment value; __all__ for the overall row"),
        Column("CLAIMS", "NUMBER(38,0)", False, "Claims scored"),
        Column("FLAGGED", "NUMBER(38,0)", False, "Claims at or above the model threshold"),
        Column("MEAN_SCORE", "FLOAT", True, "Mean fraud probability"),
        Column("OBSERVED_FRAUD_RATE", "FLOAT", True, "Share labelled fraud (NULL if unlabelled)"),
        _CREATED_AT,
    ),
    key=("RUN_ID", "MODEL_VERSION", "SPLIT", "SEGMENT_COLUMN", "SEGMENT_VALUE"),
)

FEATURE_DRIFT = TableSpec(
    name="FEATURE_DRIFT",
    comment="Drift of each feature against the training reference of the champion, per run.",
    dataset="drift",
    columns=(
        _RUN_ID,
        Column("FEATURE", "VARCHAR", False, "Schema feature"),
        Column("KIND", "VARCHAR", False, "numeric or categorical"),
        Column("PSI", "FLOAT", True, "Population stability index"),
        Column("KS", "FLOAT", True, "Kolmogorov-Smirnov statistic (NULL for categorical)"),
        Column("REFERENCE_VERSION", "VARCHAR", True, "Model version whose reference was used"),
        _CREATED_AT,
    ),
    key=("RUN_ID", "FEATURE"),
)

# -- monitoring (flows/monitoring_flow.py; RUN_ID is the monitoring run) --------------------------
_MON_RUN = Column(
    "RUN_ID", "VARCHAR", False, "Monitoring run that produced the row (Metaflow run id)"
)
_WINDOW = (
    Column("WINDOW_START", "TIMESTAMP_TZ", False, "Start of the monitored window (UTC, inclusive)"),
    Column("WINDOW_END", "TIMESTAMP_TZ", False, "End of the monitored window (UTC, exclusive)"),
)

MONITORING_DRIFT = TableSpec(
    name="MONITORING_DRIFT",
    comment="Production drift of each feature (captured scores) vs the champion training "
    "reference, per monitoring run.",
    dataset="monitoring/drift",
    columns=(
        _MON_RUN,
        Column("FEATURE", "VARCHAR", False, "Schema feature"),
        Column("KIND", "VARCHAR", False, "numeric or categorical"),
        Column("PSI", "FLOAT", True, "Population stability index"),
        Column("KS", "FLOAT", True, "Kolmogorov-Smirnov statistic (NULL for categorical)"),
        Column("VERDICT", "VARCHAR", False, "stable, moderate or major (PSI rule of thumb)"),
        Column("REFERENCE_VERSION", "VARCHAR", False, "Champion version whose reference was used"),
        *_WINDOW,
        _CREATED_AT,
    ),
    key=("RUN_ID", "FEATURE"),
)

MONITORING_METRICS = TableSpec(
    name="MONITORING_METRICS",
    comment="Flag rate (overall and per day), score shift and realised precision/recall at the "
    "alert budget with intervals, per monitoring run.",
    dataset="monitoring/metrics",
    columns=(
        _MON_RUN,
        Column("METRIC", "VARCHAR", False, "e.g. flag_rate, score_psi, precision_at_budget"),
        Column("SEGMENT", "VARCHAR", False, "__all__, or the day (YYYY-MM-DD) for daily rows"),
        Column("VALUE", "FLOAT", True, "Metric value (NULL when insufficient)"),
        Column("LOW", "FLOAT", True, "Lower end of the 95 % bootstrap interval, if any"),
        Column("HIGH", "FLOAT", True, "Upper end of the 95 % bootstrap interval, if any"),
        Column("CLAIMS", "NUMBER(38,0)", False, "Claims the value is computed on"),
        Column("MODEL_VERSION", "VARCHAR", False, "Champion version the window was judged against"),
        *_WINDOW,
        _CREATED_AT,
    ),
    key=("RUN_ID", "METRIC", "SEGMENT"),
)

SHADOW_COMPARISON = TableSpec(
    name="SHADOW_COMPARISON",
    comment="Shadow challenger vs champion on the same labelled claims, paired bootstrap.",
    dataset="monitoring/shadow",
    columns=(
        _MON_RUN,
        Column("CHAMPION_VERSION", "VARCHAR", False, "Champion version"),
        Column("SHADOW_VERSION", "VARCHAR", False, "Shadow version"),
        Column("METRIC", "VARCHAR", False, "pr_auc or precision_at_budget"),
        Column("CHAMPION_VALUE", "FLOAT", True, "Value of the champion (NULL when insufficient)"),
        Column("SHADOW_VALUE", "FLOAT", True, "Value of the shadow"),
        Column("DIFFERENCE", "FLOAT", True, "Shadow minus champion"),
        Column("LOW", "FLOAT", True, "Lower end of the paired 95 % interval of the difference"),
        Column("HIGH", "FLOAT", True, "Upper end of the paired 95 % interval of the difference"),
        Column("CLAIMS", "NUMBER(38,0)", False, "Labelled claims both models scored"),
        Column("FRAUDS", "NUMBER(38,0)", False, "Frauds among them"),
        Column("RESAMPLES", "NUMBER(38,0)", False, "Paired bootstrap resamples (0: insufficient)"),
        Column(
            "STATUS",
            "VARCHAR",
            False,
            "shadow_better, champion_better, no_difference or insufficient",
        ),
        *_WINDOW,
        _CREATED_AT,
    ),
    key=("RUN_ID", "SHADOW_VERSION", "METRIC"),
)

MONITORING_ALERTS = TableSpec(
    name="MONITORING_ALERTS",
    comment="Thresholds a monitoring run crossed (warn or alert; alerts are notified).",
    dataset="monitoring/alerts",
    columns=(
        _MON_RUN,
        Column(
            "KIND", "VARCHAR", False, "feature_drift, score_shift, flag_rate, precision, shadow"
        ),
        Column("SUBJECT", "VARCHAR", False, "The feature, metric or model concerned"),
        Column("LEVEL", "VARCHAR", False, "warn or alert"),
        Column("VALUE", "FLOAT", True, "The value that crossed the threshold"),
        Column("THRESHOLD", "FLOAT", True, "The threshold it crossed"),
        Column("MESSAGE", "VARCHAR", False, "What happened, in words"),
        *_WINDOW,
        _CREATED_AT,
    ),
    key=("RUN_ID", "KIND", "SUBJECT"),
)

TRAINING_TABLES: tuple[TableSpec, ...] = (MODEL_METRICS, SCORING_SUMMARY, FEATURE_DRIFT)
MONITORING_TABLES: tuple[TableSpec, ...] = (
    MONITORING_DRIFT,
    MONITORING_METRICS,
    SHADOW_COMPARISON,
    MONITORING_ALERTS,
)
# Every table (Pulumi and the embedded DDL create them all); each sync merges one group.
TABLES: tuple[TableSpec, ...] = TRAINING_TABLES + MONITORING_TABLES


def _metric(kind: str, split: str, metric: str) -> str:
    return (
        f"MAX(CASE WHEN m.MODEL_KIND = '{kind}' AND m.SPLIT = '{split}' "
        f"AND m.METRIC = '{metric}' THEN m.VALUE END)"
    )


RUN_OVERVIEW = ViewSpec(
    name="RUN_OVERVIEW",
    # The run's published candidate is MODEL_KIND 'mlp' in MODEL_METRICS whatever its family (a
    # legacy value kept for the rows already stored); the view names it the candidate.
    comment="One row per training run with its headline metrics, for BI dashboards.",
    columns=(
        "RUN_ID",
        "MODEL_NAME",
        "MODEL_VERSION",
        "CANDIDATE_FAMILY",
        "CREATED_AT",
        "CANDIDATE_TEST_PR_AUC",
        "CANDIDATE_TEST_ROC_AUC",
        "BASELINE_TEST_PR_AUC",
        "CHAMPION_TEST_PR_AUC",
        "TEST_THRESHOLD",
        "PROMOTED",
        "MAX_PSI",
    ),
    select=(
        "SELECT m.RUN_ID AS RUN_ID,\n"
        "  MAX(CASE WHEN m.MODEL_KIND = 'mlp' THEN m.MODEL_NAME END) AS MODEL_NAME,\n"
        "  MAX(CASE WHEN m.MODEL_KIND = 'mlp' THEN m.MODEL_VERSION END) AS MODEL_VERSION,\n"
        "  MAX(CASE WHEN m.MODEL_KIND = 'mlp' THEN m.PARAMETERS:family::VARCHAR END)"
        " AS CANDIDATE_FAMILY,\n"
        "  MIN(m.CREATED_AT) AS CREATED_AT,\n"
        f"  {_metric('mlp', 'test', 'pr_auc')} AS CANDIDATE_TEST_PR_AUC,\n"
        f"  {_metric('mlp', 'test', 'roc_auc')} AS CANDIDATE_TEST_ROC_AUC,\n"
        f"  {_metric('baseline', 'test', 'pr_auc')} AS BASELINE_TEST_PR_AUC,\n"
        f"  {_metric('champion', 'test', 'pr_auc')} AS CHAMPION_TEST_PR_AUC,\n"
        f"  {_metric('mlp', 'test', 'threshold')} AS TEST_THRESHOLD,\n"
        "  MAX(CASE WHEN m.IS_CHAMPION THEN 1 ELSE 0 END) = 1 AS PROMOTED,\n"
        "  MAX(d.MAX_PSI) AS MAX_PSI\n"
        "FROM MODEL_METRICS m\n"
        "LEFT JOIN (SELECT RUN_ID, MAX(PSI) AS MAX_PSI FROM FEATURE_DRIFT GROUP BY RUN_ID) d\n"
        "  ON d.RUN_ID = m.RUN_ID\n"
        "GROUP BY m.RUN_ID"
    ),
)

VIEWS: tuple[ViewSpec, ...] = (RUN_OVERVIEW,)


def qualified_select(view: ViewSpec, database: str, schema: str = SCHEMA_NAME_DEFAULT) -> str:
    """The view's SELECT with every table of :data:`TABLES` qualified as ``database.schema.T``.

    Only whole-word, unqualified occurrences after FROM/JOIN are rewritten, so column names that
    happen to contain a table name are left alone.
    """
    names = "|".join(re.escape(t.name) for t in TABLES)
    pattern = re.compile(rf"\b(FROM|JOIN)\s+({names})\b", re.IGNORECASE)
    return pattern.sub(lambda m: f"{m.group(1)} {database}.{schema}.{m.group(2)}", view.select)


def sync_privileges() -> dict[str, list[str]]:
    """The minimal privileges the sync role needs, by object kind.

    The sync stages rows in a TEMPORARY table, so it also needs CREATE TABLE on the schema
    (temporary tables count as tables); it never creates permanent objects.
    """
    return {
        "database": ["USAGE"],
        "schema": ["USAGE", "CREATE TABLE"],
        "tables": ["SELECT", "INSERT", "UPDATE", "DELETE"],
        "views": ["SELECT"],
        "warehouse": ["USAGE"],
    }


def reader_privileges() -> dict[str, list[str]]:
    """What a BI / Power BI reader role needs: read the tables and the view, nothing else."""
    return {
        "database": ["USAGE"],
        "schema": ["USAGE"],
        "tables": ["SELECT"],
        "views": ["SELECT"],
        "warehouse": ["USAGE"],
    }
