"""Seeded synthetic insurance claims with documented fraud mechanisms.

Honest claims are drawn first (policy, customer, provider, incident, amounts...). Each claim then
gets a fraud propensity from five mechanisms, every one visible in the features but none decisive
on its own:

1. **Inflated amount** — fraudulent claims are inflated 1.6–3.5× relative to what the severity
   and the premium would predict (applied after the fraud draw, so the model must learn the ratio).
2. **Early claim** — claims within 30 days of the policy start carry more risk.
3. **Colluding providers** — about 2 % of providers (repair shops, clinics) are in on it.
4. **Night, no police report** — incidents between 23:00 and 05:00 with no police report.
5. **Repeat claimants** — customers with three or more prior claims.

Labels are noisy (10 % of frauds go undetected, 0.2 % of honest claims are wrongly labelled), so
a good model is useful but never perfect; the fraud rate is about 3 %.

``drift`` (0 = none, 1 = strong) moves the claims to a later period and shifts their mix: more
online/app claims, higher amounts (claims inflation), younger customers, more night incidents.
Everything is vectorised numpy: a million claims take a few seconds.

:func:`insurer_export` writes the same claims the way an insurer's spreadsheet export does
(the bundled ``insurer_export`` schema reads it): day-first dates, the policy's bind date
instead of its age in days, ``?`` for unknown, a ``Y``/``N`` label, decimal commas, and
(in :func:`write_insurer_export`) semicolons and a UTF-8 byte-order mark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fraud_mlops.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

INCIDENT_TYPES = np.array(
    ["collision", "theft", "fire", "water_damage", "vandalism", "glass", "liability", "injury"]
)
INCIDENT_P = np.array([0.34, 0.07, 0.03, 0.14, 0.08, 0.16, 0.10, 0.08])
INCIDENT_BASE_COST = np.array([3200, 9000, 22000, 5200, 1400, 650, 4800, 11000], dtype=float)
MOTOR_INCIDENTS = {"collision", "theft", "vandalism", "glass", "injury"}
SEVERITIES = np.array(["minor", "moderate", "major", "total_loss"])
SEVERITY_P = np.array([0.48, 0.32, 0.16, 0.04])
SEVERITY_MULT = np.array([0.35, 1.0, 2.6, 6.0])
REGIONS = np.array(["north", "south", "east", "west", "central"])
REGION_P = np.array([0.18, 0.24, 0.17, 0.21, 0.20])
CHANNELS = np.array(["agent", "phone", "online", "app"])
CHANNEL_P = np.array([0.35, 0.30, 0.25, 0.10])
CHANNEL_P_DRIFTED = np.array([0.20, 0.20, 0.35, 0.25])
DEDUCTIBLES = np.array([250.0, 500.0, 1000.0, 2000.0])

EXPORT_DATE_FORMAT = "%d/%m/%Y"
EXPORT_UNKNOWN_SHARE = 0.08  # police-report answers the export writes as "?"

N_PROVIDERS = 800
COLLUDING_SHARE = 0.02
BASE_START = np.datetime64("2024-01-01T00:00:00")
PERIOD_DAYS = 730

FRAUD_BASE_LOGIT = -5.15
LABEL_MISS_RATE = 0.10
LABEL_FALSE_ALARM_RATE = 0.002


def generate_claims(n_rows: int, seed: int = 42, drift: float = 0.0) -> pd.DataFrame:
    """Return ``n_rows`` synthetic claims matching the bundled ``synthetic`` schema."""
    import pandas as pd

    if not isinstance(n_rows, int | np.integer) or n_rows < 1:
        raise ConfigError(f"rows must be a positive whole number, got {n_rows!r}")
    if not 0.0 <= float(drift) <= 1.0:
        raise ConfigError(f"drift must be between 0 (none) and 1 (strong), got {drift!r}")
    n = int(n_rows)
    rng = np.random.default_rng(seed)
    # Providers are part of the world, not of the sample: the same seed-independent ring colludes
    # in every period, so a drifted sample still meets the same bad actors.
    world = np.random.default_rng(20240101)
    colluding = world.random(N_PROVIDERS) < COLLUDING_SHARE
    provider_weight = world.pareto(1.5, N_PROVIDERS) + 1.0
    provider_weight /= provider_weight.sum()

    # -- when ------------------------------------------------------------------------------
    offset_days = drift * PERIOD_DAYS  # a drifted sample is a later period
    seconds = rng.uniform(0, PERIOD_DAYS * 86400, n) + offset_days * 86400
    claim_date = BASE_START + np.sort(seconds).astype("timedelta64[s]")
    night_boost = 0.10 * drift
    hour_p = np.full(24, 1.0)
    hour_p[7:20] = 3.0
    hour_p[[23, 0, 1, 2, 3, 4]] *= 1.0 + 4 * night_boost
    incident_hour = rng.choice(24, n, p=hour_p / hour_p.sum())

    # -- who and what ----------------------------------------------------------------------
    policy_num = rng.integers(1, 5 * n + 10, n)
    policy_id = np.char.add("P", policy_num.astype(str))
    customer_id = np.char.add("K", (policy_num // 2 + 7).astype(str))
    customer_age = np.clip(rng.normal(47 - 6 * drift, 15, n), 18, 95).astype(np.int64)
    region = rng.choice(len(REGIONS), n, p=REGION_P)
    channel_p = (1 - drift) * CHANNEL_P + drift * CHANNEL_P_DRIFTED
    channel = rng.choice(len(CHANNELS), n, p=channel_p)
    incident = rng.choice(len(INCIDENT_TYPES), n, p=INCIDENT_P)
    severity = rng.choice(len(SEVERITIES), n, p=SEVERITY_P)
    provider = rng.choice(N_PROVIDERS, n, p=provider_weight)
    prior_claims = rng.poisson(0.45, n) + (rng.random(n) < 0.04) * rng.integers(2, 8, n)
    days_since_start = np.minimum(rng.exponential(900, n).astype(np.int64), 15000)
    witnesses = rng.poisson(0.7, n)
    police_p = np.where(severity >= 2, 0.75, 0.30)
    police_report = rng.random(n) < police_p
    is_motor = np.isin(INCIDENT_TYPES[incident], list(MOTOR_INCIDENTS))
    vehicle_age = np.where(is_motor, rng.gamma(2.2, 3.2, n).round(), np.nan)

    # -- money -----------------------------------------------------------------------------
    premium = np.round(rng.lognormal(np.log(900), 0.45, n), 2)
    deductible = DEDUCTIBLES[rng.choice(4, n, p=[0.2, 0.45, 0.25, 0.10])]
    expected = INCIDENT_BASE_COST[incident] * SEVERITY_MULT[severity] * (premium / 900) ** 0.35
    expected *= 1.0 + 0.3 * drift  # claims inflation in a later period
    amount = expected * rng.lognormal(0.0, 0.35, n)

    # -- fraud -----------------------------------------------------------------------------
    night = (incident_hour >= 23) | (incident_hour <= 4)
    logit = (
        FRAUD_BASE_LOGIT
        + 1.7 * (days_since_start < 30)
        + 0.8 * ((days_since_start >= 30) & (days_since_start < 90))
        + 2.4 * colluding[provider]
        + 1.6 * (night & ~police_report)
        + 1.2 * (prior_claims >= 3)
        + 0.35 * (channel >= 2)
        + 0.4 * (witnesses == 0)
        - 0.012 * (customer_age - 45)
        + rng.normal(0.0, 0.5, n)
    )
    # About a third of fraud is "soft fraud": an honest incident with an inflated amount, drawn
    # independently of the other mechanisms.
    hard = rng.random(n) < 1 / (1 + np.exp(-logit))
    soft = rng.random(n) < 0.010
    fraud = hard | soft
    inflate = fraud & (soft | (rng.random(n) < 0.55))
    amount = np.where(inflate, amount * rng.uniform(1.6, 3.5, n), amount)
    amount = np.round(np.maximum(amount, 50.0), 2)

    label = fraud & (rng.random(n) >= LABEL_MISS_RATE)
    label |= ~fraud & (rng.random(n) < LABEL_FALSE_ALARM_RATE)

    ids = np.char.add("C", np.char.zfill((np.arange(n) + 1).astype(str), 9))
    frame = pd.DataFrame(
        {
            "claim_id": ids,
            "policy_id": policy_id,
            "customer_id": customer_id,
            "claim_date": pd.to_datetime(claim_date)
            .tz_localize("UTC")
            .astype("datetime64[us, UTC]"),
            "incident_type": INCIDENT_TYPES[incident],
            "severity": SEVERITIES[severity],
            "region": REGIONS[region],
            "channel": CHANNELS[channel],
            "police_report": np.where(police_report, "yes", "no"),
            "provider_id": np.char.add("PRV", np.char.zfill(provider.astype(str), 4)),
            "claim_amount": amount,
            "policy_premium": premium,
            "deductible": deductible,
            "customer_age": customer_age,
            "days_since_policy_start": days_since_start,
            "incident_hour": incident_hour.astype(np.int64),
            "witnesses": witnesses.astype(np.int64),
            "prior_claims": prior_claims.astype(np.int64),
            "vehicle_age": vehicle_age,
            "is_fraud": label.astype(np.int64),
        }
    )
    return frame


def insurer_export(claims: pd.DataFrame, seed: int = 42) -> pd.DataFrame:
    """``generate_claims`` output as an insurer's export writes it: every value as text."""
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    day = claims["claim_date"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")
    bind = day - pd.to_timedelta(claims["days_since_policy_start"], unit="D")
    police = np.where(claims["police_report"] == "yes", "YES", "NO")
    police = np.where(rng.random(len(claims)) < EXPORT_UNKNOWN_SHARE, "?", police)
    auto_age = claims["vehicle_age"].map(lambda v: "?" if np.isnan(v) else str(int(v)))

    def money(values: pd.Series) -> pd.Series:
        return values.map(lambda v: f"{v:.2f}".replace(".", ","))

    return pd.DataFrame(
        {
            "claim_ref": claims["claim_id"].str.replace("C", "CLM-", regex=False),
            "policy_number": claims["policy_id"],
            "policy_bind_date": bind.dt.strftime(EXPORT_DATE_FORMAT),
            "incident_date": day.dt.strftime(EXPORT_DATE_FORMAT),
            "incident_hour_of_the_day": claims["incident_hour"].astype(str),
            "incident_type": claims["incident_type"].str.replace("_", " ").str.title(),
            "incident_severity": claims["severity"].str.replace("_", " ").str.title(),
            "incident_region": claims["region"].str.title(),
            "claim_channel": claims["channel"].str.title(),
            "police_report_available": police,
            "witnesses": claims["witnesses"].astype(str),
            "total_claim_amount": money(claims["claim_amount"]),
            "policy_annual_premium": money(claims["policy_premium"]),
            "policy_deductable": claims["deductible"].map(lambda v: f"{v:.0f}"),
            "insured_age": claims["customer_age"].astype(str),
            "prior_claims": claims["prior_claims"].astype(str),
            "auto_age": auto_age,
            "repair_shop": claims["provider_id"],
            "fraud_reported": np.where(claims["is_fraud"] == 1, "Y", "N"),
        }
    )


def write_insurer_export(export: pd.DataFrame, path: str) -> int:
    """Write an export as a spreadsheet program saves it (``;``, UTF-8 with BOM); return bytes.

    The file appears whole or not at all (written beside the target, then renamed).
    """
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
            export.to_csv(f, sep=";", index=False, lineterminator="\r\n")
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.unlink(staging)
        raise
    return os.path.getsize(path)
