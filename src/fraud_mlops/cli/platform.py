"""Platform commands: ``metaflow-config`` turns a Pulumi stack's outputs into Metaflow's config.

The stack exports ``metaflow_config`` (every ``METAFLOW_*`` key for its S3 datastore, Batch queue,
roles and Step Functions resources). This command reads it from ``pulumi stack output --json``
(or a saved copy, for offline use) and writes it where Metaflow looks:
``$METAFLOW_HOME/config_<profile>.json`` (``METAFLOW_HOME`` defaults to ``~/.metaflowconfig``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from fraud_mlops.cloud.stack import load_stack_outputs
from fraud_mlops.errors import ConfigError

OUTPUT = "metaflow_config"
FLOW_ENV_OUTPUT = "flow_environment"


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "metaflow-config",
        help="write a Pulumi stack's Metaflow configuration where Metaflow reads it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read the `metaflow_config` output of a Pulumi stack (`pulumi stack output "
        "--json`)\nand write it to $METAFLOW_HOME/config_<profile>.json, so `python flow.py "
        "step-functions create`\nuses the stack's datastore, Batch queue and roles.",
        epilog="examples:\n"
        "  fraud-mlops metaflow-config --stack dev           # then: export METAFLOW_PROFILE=dev\n"
        "  pulumi stack output --json -s prod > prod.json && \\\n"
        "    fraud-mlops metaflow-config --stack prod --stack-outputs prod.json\n"
        "  fraud-mlops metaflow-config --stack dev --out ./metaflow_dev.json",
    )
    cmd.add_argument("--stack", required=True, help="Pulumi stack name (dev, prod, ...)")
    cmd.add_argument(
        "--stack-outputs",
        "--from-json",
        dest="from_json",
        metavar="FILE",
        type=Path,
        help="saved `pulumi stack output --json` instead of calling the pulumi CLI",
    )
    cmd.add_argument(
        "--profile",
        default=None,
        help="Metaflow profile to write (default: the stack name); select it with METAFLOW_PROFILE",
    )
    cmd.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        help="write exactly this file instead of $METAFLOW_HOME/config_<profile>.json",
    )
    cmd.set_defaults(func=_metaflow_config)


def stack_outputs(stack: str, from_json: Path | None = None) -> dict:
    """The stack's outputs, from a saved JSON file or ``pulumi stack output --json -s <stack>``."""
    return dict(load_stack_outputs(stack, from_json).values)


def metaflow_settings(outputs: dict, stack: str) -> dict[str, str]:
    """The validated ``metaflow_config`` output: a flat dict of ``METAFLOW_*`` strings."""
    config = outputs.get(OUTPUT)
    if config is None:
        have = ", ".join(sorted(outputs)) or "none"
        raise ConfigError(
            f"stack {stack!r} has no {OUTPUT!r} output (outputs: {have}). "
            f"Run `pulumi up -s {stack}` with this repository's program first."
        )
    if isinstance(config, str) and "[secret]" in config:
        raise ConfigError(f"{OUTPUT!r} is marked secret; it should not be: re-run `pulumi up`")
    bad = [
        k
        for k, v in (config.items() if isinstance(config, dict) else [])
        if not k.startswith("METAFLOW_") or not isinstance(v, str) or not v
    ]
    if not isinstance(config, dict) or bad:
        raise ConfigError(
            f"{OUTPUT!r} must map METAFLOW_* names to non-empty strings; offending keys: {bad}"
        )
    return dict(sorted(config.items()))


def config_path(profile: str, out: Path | None = None) -> Path:
    if out is not None:
        return out
    home = Path(os.environ.get("METAFLOW_HOME") or "~/.metaflowconfig").expanduser()
    return home / f"config_{profile}.json"


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write through a temporary file in the same folder so a reader never sees half a file.

    The file is the owner's only (``mkstemp`` creates 0600): it may hold the service's API key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


AUTH_KEY_OUTPUT = "metaflow_service_auth_key"


def service_auth_key(outputs: dict, stack: str, from_json: Path | None) -> str:
    """The metadata service's API key: from a saved ``--show-secrets`` file, or from Pulumi."""
    value = outputs.get(AUTH_KEY_OUTPUT)
    if isinstance(value, str) and value and value != "[secret]":
        return value
    if from_json is not None:
        raise ConfigError(
            f"{from_json}: {AUTH_KEY_OUTPUT!r} is {'hidden' if value else 'missing'}, and the "
            "stack uses the Metaflow metadata service (METAFLOW_DEFAULT_METADATA=service). Save "
            f"the outputs with `pulumi stack output --json --show-secrets -s {stack}`, or drop "
            "--from-json to read the key from Pulumi."
        )
    from fraud_mlops.cloud.stack import secret_output

    return secret_output(stack, AUTH_KEY_OUTPUT)


def _metaflow_config(args: argparse.Namespace) -> int:
    outputs = stack_outputs(args.stack, args.from_json)
    settings = metaflow_settings(outputs, args.stack)
    secret = settings.get("METAFLOW_DEFAULT_METADATA") == "service"
    if secret:
        settings["METAFLOW_SERVICE_AUTH_KEY"] = service_auth_key(
            outputs, args.stack, args.from_json
        )
    profile = args.profile or args.stack
    path = config_path(profile, args.out)
    write_json_atomic(path, settings)
    print(f"wrote {len(settings)} Metaflow settings of stack {args.stack!r} to {path}")
    if secret:
        print("  METAFLOW_SERVICE_AUTH_KEY = (written, not shown; the file is yours only)")
    for key in (
        "METAFLOW_DATASTORE_SYSROOT_S3",
        "METAFLOW_BATCH_JOB_QUEUE",
        "METAFLOW_SFN_IAM_ROLE",
    ):
        if key in settings:
            print(f"  {key} = {settings[key]}")
    if args.out is None:
        print(f"select it with:  export METAFLOW_PROFILE={profile}")
    env = outputs.get(FLOW_ENV_OUTPUT)
    if isinstance(env, dict) and env:
        print(
            "deploy the flow with its environment:\n"
            "  python flows/fraud_detection_flow.py --with "
            f"'environment:vars={json.dumps(env, separators=(',', ':'))}' step-functions create"
        )
    return 0
