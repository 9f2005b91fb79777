"""Delivery commands: run the flow on Step Functions or Databricks, and notify the team.

``flow deploy``/``flow trigger`` (Step Functions), ``databricks run``/``databricks inspect`` and
``notify``. Each finds what it needs in the Pulumi stack's outputs (``--stack``), so Jenkins and a
laptop run exactly the same commands. Exit codes: 0 success, 1 the run failed, 2 a usage or
configuration mistake, 3 the run did not finish before ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from fraud_mlops.cli._args import add_stack_args, positive_int
from fraud_mlops.errors import ConfigError
from fraud_mlops.progress import say

if TYPE_CHECKING:
    from fraud_mlops.cloud.stack import StackOutputs

EXIT_FAILED = 1
EXIT_TIMEOUT = 3


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    flow = sub.add_parser(
        "flow",
        help="deploy the training flow to Step Functions, start it and wait for the result",
        formatter_class=fmt,
        description="Compile the flow into the stack's Step Functions state machine, or start "
        "it and follow\nthe execution to the end (Metaflow's own trigger only starts it).",
        epilog="examples:\n"
        "  fraud-mlops flow deploy --stack dev\n"
        "  fraud-mlops flow trigger --stack dev --wait --timeout 7200\n"
        "  fraud-mlops flow trigger --state-machine-arn arn:aws:states:...:stateMachine:X "
        "--param trials=4 --wait",
    )
    flow_sub = flow.add_subparsers(dest="flow_command", metavar="<action>", required=True)

    deploy = flow_sub.add_parser(
        "deploy",
        help="create/update the state machine (step-functions create with the stack's config)",
        formatter_class=fmt,
        description="Run `python FLOW --with retry step-functions create` with the stack's "
        "METAFLOW_* outputs\nas environment variables.",
    )
    add_stack_args(deploy, required=True)
    deploy.add_argument(
        "--flow",
        choices=("training", "monitoring"),
        default="training",
        help="which flow: training (default) or monitoring (@schedule daily: also creates "
        "its EventBridge rule)",
    )
    deploy.add_argument("--flow-file", default=None, help="default: the --flow's file under flows/")
    deploy.add_argument(
        "--only-json", action="store_true", help="print the state machine JSON; deploy nothing"
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the command and config keys; run nothing"
    )
    deploy.set_defaults(func=_flow_deploy)

    trigger = flow_sub.add_parser(
        "trigger",
        help="start an execution; with --wait, follow it and print status and metrics",
        formatter_class=fmt,
        description="Start the flow's state machine with a unique execution name. With --wait, "
        "poll it until\nit ends: print the status and the run's headline metrics (from the "
        "lakehouse), and on\nfailure the failed state, error and cause. Exit 1 if it failed, 3 "
        "on timeout.",
    )
    add_stack_args(trigger, required=False)
    trigger.add_argument(
        "--flow",
        choices=("training", "monitoring"),
        default="training",
        help="which flow's state machine to start (default training)",
    )
    trigger.add_argument("--state-machine-arn", help="skip the lookup by name")
    trigger.add_argument(
        "--param",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="flow parameter (repeatable)",
    )
    names = trigger.add_mutually_exclusive_group()
    names.add_argument(
        "--name-prefix", default="fraud", help="prefix of the generated unique execution name"
    )
    names.add_argument(
        "--execution-name",
        help="exact execution name, e.g. jenkins-$BUILD_TAG (must be unique per state machine)",
    )
    trigger.add_argument("--wait", action="store_true", help="wait until the execution ends")
    trigger.add_argument(
        "--timeout",
        type=positive_seconds,
        default=4 * 3600.0,
        help="seconds to wait with --wait (default 14400)",
    )
    trigger.add_argument(
        "--poll-interval",
        type=positive_seconds,
        default=15.0,
        help="seconds between status checks (default 15)",
    )
    trigger.add_argument(
        "--stop-on-timeout",
        action="store_true",
        help="stop the execution when --timeout passes (default: leave it running)",
    )
    trigger.set_defaults(func=_flow_trigger)

    db = sub.add_parser(
        "databricks",
        help="run the stack's Databricks job and wait for it, or inspect a run",
        formatter_class=fmt,
        description="Run the training job on Databricks (databricks-sdk; auth from "
        "DATABRICKS_HOST +\nDATABRICKS_TOKEN or a profile). On failure every task's state, "
        "error and trace are printed.",
        epilog="examples:\n"
        "  fraud-mlops databricks run --stack dev --wait --timeout 7200\n"
        "  fraud-mlops databricks run --job-id 123 --param trials=4\n"
        "  fraud-mlops databricks inspect 456789",
    )
    db_sub = db.add_subparsers(dest="databricks_command", metavar="<action>", required=True)
    run = db_sub.add_parser("run", help="start the job; with --wait, follow it to the end")
    add_stack_args(run, required=False)
    run.add_argument("--job-id", type=positive_int, help="job to run (default: the stack's)")
    run.add_argument(
        "--param",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="job parameter (repeatable)",
    )
    run.add_argument(
        "--idempotency-token",
        help="at most one run per token, so a retried CI step does not start a second run",
    )
    run.add_argument("--wait", action="store_true", help="wait until the run ends")
    run.add_argument(
        "--timeout", type=positive_seconds, default=4 * 3600.0, help="seconds (default 14400)"
    )
    run.add_argument(
        "--poll-interval", type=positive_seconds, default=15.0, help="seconds (default 15)"
    )
    run.add_argument(
        "--cancel-on-timeout", action="store_true", help="cancel the run when --timeout passes"
    )
    run.set_defaults(func=_databricks_run)
    inspect = db_sub.add_parser("inspect", help="print a run's state and its failed tasks' errors")
    inspect.add_argument("run_id", type=positive_int, metavar="RUN_ID")
    inspect.set_defaults(func=_databricks_inspect)

    notify = sub.add_parser(
        "notify",
        help="send the pipeline's status, headline metrics and links to Slack and email",
        formatter_class=fmt,
        description="Post to SLACK_WEBHOOK_URL and/or email through SMTP_HOST (see "
        "docs/delivery.md).\nA failed notification prints a warning and still exits 0: it never "
        "fails the pipeline.",
        epilog="examples:\n"
        "  fraud-mlops notify --status success --run-id sfn-jenkins-42 --link Jenkins=$BUILD_URL\n"
        "  fraud-mlops notify --status failure --title 'fraud-mlops dev' --detail 'stage: Gate'",
    )
    notify.add_argument("--status", required=True, choices=("success", "failure"))
    notify.add_argument("--title", default="fraud-mlops pipeline", help="what ran")
    notify.add_argument("--run-id", help="training run whose headline metrics to include")
    notify.add_argument(
        "--detail", action="append", default=[], metavar="TEXT", help="extra line (repeatable)"
    )
    notify.add_argument(
        "--link", action="append", default=[], metavar="[LABEL=]URL", help="link (repeatable)"
    )
    notify.set_defaults(func=_notify)


def _status_changes() -> Callable[[str, float], None]:
    """A progress callback for a poller that says each new status once, not every poll."""
    last: list[str] = []

    def on_poll(status: str, elapsed: float) -> None:
        if last != [status]:
            say(f"  {status} after {elapsed:.0f} s")
            last[:] = [status]

    return on_poll


def _outputs(args: argparse.Namespace) -> StackOutputs | None:
    from fraud_mlops.cloud.stack import load_stack_outputs

    if args.stack is None:
        if args.stack_outputs:
            raise ConfigError("--stack-outputs needs --stack (the stack it was saved from)")
        return None
    return load_stack_outputs(args.stack, args.stack_outputs)


def _flow_deploy(args: argparse.Namespace) -> int:
    import subprocess

    from fraud_mlops.cloud.stepfunctions import (
        FLOW_NAME,
        FLOWS,
        TRAINING_STATE_MACHINE_VAR,
        deploy_command,
        deploy_environment,
        state_machine_name,
    )

    outputs = _outputs(args)
    assert outputs is not None  # --stack is required
    config = outputs.metaflow_config()
    flow_name, default_file = FLOWS[getattr(args, "flow", "training")]
    flow_file = args.flow_file or default_file
    if not os.path.isfile(flow_file):
        raise ConfigError(f"flow file {flow_file!r} not found: run from the project root")
    # The library's own settings (LAKEHOUSE_URI, …) are compiled into the state machine, so its
    # Batch steps use the stack's buckets rather than a container's embedded defaults.
    flow_env = outputs.flow_environment()
    if flow_name != FLOW_NAME:  # the monitoring flow may start training (--retrain-on-alert)
        flow_env = {**flow_env, TRAINING_STATE_MACHINE_VAR: state_machine_name(config)}
    cmd = deploy_command(flow_file, only_json=args.only_json, step_environment=flow_env)
    env = deploy_environment(config, {**os.environ, **flow_env})
    print(f"state machine: {state_machine_name(config, flow_name)} (stack {outputs.stack})")
    print(f"command: {' '.join(cmd)}")
    print(f"with {len(config)} METAFLOW_* settings from the stack: {', '.join(sorted(config))}")
    if args.dry_run:
        return 0
    proc = subprocess.run(cmd, env=env, check=False)
    if proc.returncode != 0:
        say(f"step-functions create exited with status {proc.returncode} (output above)")
        return EXIT_FAILED
    return 0


def _flow_trigger(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import stepfunctions as sfn
    from fraud_mlops.cloud.stack import AWS_REGION

    outputs = _outputs(args)
    if outputs is None and not args.state_machine_arn:
        raise ConfigError("name the state machine: pass --stack STACK or --state-machine-arn ARN")
    region = outputs.find(AWS_REGION) if outputs else None
    client = sfn.sfn_client(region)
    if args.state_machine_arn:
        arn = args.state_machine_arn
    else:
        assert outputs is not None
        flow_name = sfn.FLOWS[getattr(args, "flow", "training")][0]
        arn = sfn.find_state_machine(
            client, sfn.state_machine_name(outputs.metaflow_config(), flow_name)
        )
    params = dict(args.param)
    execution_arn, name = sfn.start_execution(
        client, arn, params, name=args.execution_name or sfn.unique_execution_name(args.name_prefix)
    )
    print(f"started execution {name}\n  {execution_arn}")
    if not args.wait:
        return 0

    say(f"waiting up to {args.timeout:g} s (polling every {args.poll_interval:g} s)")
    result = sfn.wait_for_execution(
        client,
        execution_arn,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        on_poll=_status_changes(),
    )
    if result.timed_out:
        print(f"status: {result.status}: still running after the {args.timeout:g} s timeout")
        if args.stop_on_timeout:
            sfn.stop_execution(client, execution_arn, f"timeout after {args.timeout:g} s")
            print("  stopped the execution (--stop-on-timeout)")
        else:
            print(
                "  it keeps running on AWS; stop it with --stop-on-timeout next time or "
                f"`aws stepfunctions stop-execution --execution-arn {execution_arn}`"
            )
        return EXIT_TIMEOUT
    print(f"status: {result.status}")
    if not result.succeeded:
        print(f"  failed state: {result.failed_state or 'unknown'}")
        print(f"  error: {result.error or 'none reported'}")
        print(f"  cause: {result.cause or 'none reported'}")
        return EXIT_FAILED
    _print_headline(outputs, [result.metaflow_run_id, result.name])
    return 0


def _databricks_run(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import databricks as dbx
    from fraud_mlops.cloud.stack import DATABRICKS_JOB_ID

    outputs = _outputs(args)
    job_id = args.job_id
    if job_id is None:
        if outputs is None:
            raise ConfigError("name the job: pass --job-id ID or --stack STACK")
        raw = outputs.require(
            DATABRICKS_JOB_ID,
            "Enable it with `pulumi config set databricksEnabled true` and `pulumi up`, "
            "or pass --job-id.",
        )
        try:
            job_id = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"stack output databricks_job_id={raw!r} is not a job id") from None
    client = dbx.workspace_client()
    run_id = dbx.run_job(client, job_id, dict(args.param), args.idempotency_token)
    print(f"started Databricks run {run_id} of job {job_id}")
    if not args.wait:
        return 0
    say(f"waiting up to {args.timeout:g} s (polling every {args.poll_interval:g} s)")
    report = dbx.wait_for_run(
        client,
        run_id,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        on_poll=_status_changes(),
    )
    print("\n".join(report.lines()))
    if report.timed_out:
        print(f"timed out after {args.timeout:g} s; the run is still {report.life_cycle_state}")
        if args.cancel_on_timeout:
            dbx.cancel_run(client, run_id)
            print("  cancelled the run (--cancel-on-timeout)")
        return EXIT_TIMEOUT
    return 0 if report.succeeded else EXIT_FAILED


def _databricks_inspect(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import databricks as dbx

    report = dbx.inspect_run(dbx.workspace_client(), args.run_id)
    print("\n".join(report.lines()))
    if report.life_cycle_state not in dbx.TERMINAL:
        return 0
    return 0 if report.succeeded else EXIT_FAILED


def _notify(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud.headline import try_read_headline
    from fraud_mlops.cloud.notify import Notice, parse_link, send_all
    from fraud_mlops.settings import Settings

    links = [parse_link(link) for link in args.link]
    details = list(args.detail)
    if args.run_id:
        try:
            uri: str | None = Settings.from_env().lakehouse_uri
        except ConfigError as exc:
            uri, details = None, [*details, f"metrics unavailable: {exc}"]
        if uri:
            headline, note = try_read_headline(uri, [args.run_id])
            details += headline.lines() if headline else [f"metrics unavailable: {note}"]
    notice = Notice(args.status, args.title, args.run_id, details, links)
    for outcome in send_all(notice):
        line = f"{outcome.channel}: {outcome.note}"
        if outcome.sent or outcome.note.startswith("skipped"):
            print(line)
        else:
            say(f"warning: {line} (the pipeline continues)")
    return 0


def _print_headline(outputs: StackOutputs | None, run_ids: list[str]) -> None:
    from fraud_mlops.cloud.headline import try_read_headline
    from fraud_mlops.settings import Settings

    uri = (outputs.lakehouse_uri() if outputs else None) or Settings.from_env().lakehouse_uri
    headline, note = try_read_headline(uri, run_ids)
    if headline is None:
        print(f"metrics: unavailable ({note})")
        return
    print(f"run {headline.run_id}")
    print("\n".join(headline.lines()))
