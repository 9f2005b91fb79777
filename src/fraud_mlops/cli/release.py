"""Release commands: ``gate`` (did a run's model pass?), ``promote`` (serve a version) and
``deploy`` (serve on a target: lambda, sagemaker or k8s).

Both find the lakehouse and model store of a stack through its outputs (``--stack``), or the
environment without one. Exit codes: 0 ok, 1 the gate failed / promotion refused or failed,
2 a usage or configuration mistake.
"""

from __future__ import annotations

import argparse

from fraud_mlops.cli._args import add_stack_args, stack_outputs_arg
from fraud_mlops.progress import say

EXIT_FAILED = 1


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    gate = sub.add_parser(
        "gate",
        help="exit 0 if a training run's model passed its quality gate, 1 if not",
        formatter_class=fmt,
        description="Look up the model version a run published (lakehouse metrics partition) "
        "and the gate\ndecision recorded in its manifest; print the reasons.",
        epilog="examples:\n"
        "  fraud-mlops gate --run-id 1712345678901234\n"
        "  fraud-mlops gate --stack dev --run-id sfn-jenkins-dev-42",
    )
    gate.add_argument("--run-id", required=True, help="the training run (sfn-<name> on AWS)")
    add_stack_args(gate)
    gate.set_defaults(func=_gate)

    promote = sub.add_parser(
        "promote",
        help="serve a model version on a stack (pulumi config + targeted pulumi up); rollback",
        formatter_class=fmt,
        description="Check the version (gate passed, checksums verify), set the stack's "
        "fraud-mlops:modelVersion\nand run `pulumi up` on the serving component only. "
        "Default version: the store's champion.\nAn older --version rolls back the same way "
        "and moves the champion pointer back to it.",
        epilog="examples:\n"
        "  fraud-mlops promote --stack dev\n"
        "  fraud-mlops promote --stack prod --version 20250101T000000Z-sfn-jenkins-prod-7\n"
        "  fraud-mlops promote --stack dev --dry-run\n"
        "  fraud-mlops promote --local --version 20250101T000000Z-1712345678   # laptop serving",
    )
    where = promote.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="Pulumi stack to serve the version on")
    where.add_argument(
        "--local",
        action="store_true",
        help="serve it locally instead: the local store's champion, which `fraud-mlops serve` uses",
    )
    stack_outputs_arg(promote)
    promote.add_argument("--version", help="version to serve (default: the current champion)")
    promote.add_argument(
        "--dry-run", action="store_true", help="check the version and print the commands only"
    )
    promote.set_defaults(func=_promote)

    deploy = sub.add_parser(
        "deploy",
        help="serve on a target (lambda | sagemaker | k8s) through stack config + pulumi up",
        formatter_class=fmt,
        description="Enable the target in the stack config (fraud-mlops:sagemakerEnabled / "
        "k8sEnabled) and run\n`pulumi up` on that serving component only. With --version, "
        "the version is checked\nlike promote (gate passed, checksums verify), set as "
        "fraud-mlops:modelVersion, and every\nenabled target is updated with it. "
        "sagemaker and k8s run the Dockerfile.serving image\n(pushed to the stack's serving "
        "repository at fraud-mlops:servingImageTag).",
        epilog="examples:\n"
        "  fraud-mlops deploy --stack dev --target k8s --dry-run\n"
        "  fraud-mlops deploy --stack prod --target sagemaker --version 20250101T000000Z-sfn-7",
    )
    add_stack_args(deploy, required=True)
    deploy.add_argument("--target", required=True, choices=("lambda", "sagemaker", "k8s"))
    deploy.add_argument("--version", help="also serve this model version (checked like promote)")
    deploy.add_argument(
        "--dry-run", action="store_true", help="read the config and print the commands only"
    )
    deploy.set_defaults(func=_deploy)


def _gate(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud.gate_check import gate_of_run, resolve_locations

    verdict = gate_of_run(resolve_locations(args.stack, args.stack_outputs), args.run_id)
    print("\n".join(verdict.lines()))
    return 0 if verdict.passed else EXIT_FAILED


def _promote(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import promote as p
    from fraud_mlops.cloud.gate_check import resolve_locations

    locations = resolve_locations(args.stack, args.stack_outputs)
    verdict = p.check_version(locations, args.version)
    print(f"{verdict.model_name}/{verdict.version}: gate passed, checksums verified")
    if args.local:
        # Locally the serving config is the store's champion pointer: `fraud-mlops serve` (and
        # the API's default MODEL_URI) serve whatever it names.
        if args.dry_run:
            print(f"dry run; would point the champion of {locations.model_store_uri} at it")
            return 0
        old = p.move_champion(locations, verdict)
        change = (
            "is already the champion"
            if old == verdict.version
            else f"is the champion now (was {old or 'none'})"
        )
        print(
            f"local serving: {verdict.model_name}/{verdict.version} {change} in "
            f"{locations.model_store_uri}; `fraud-mlops serve` serves it"
        )
        return 0
    previous = None if args.dry_run else p.current_version(args.stack)
    plan = p.plan_promotion(args.stack, verdict, previous)
    if args.dry_run:
        print("dry run; would run:")
        print("\n".join("  " + " ".join(cmd) for cmd in plan.commands))
        return 0
    if previous == verdict.version:
        say(f"stack {args.stack} already serves {verdict.version}; re-applying serving")
    kind = "rollback" if plan.is_rollback else "promotion"
    say(f"{kind} on {args.stack}: {previous or p.DEFAULT_SERVED_VERSION} -> {verdict.version}")
    p.apply_promotion(plan)
    print(
        f"stack {args.stack} serves {verdict.model_name}/{verdict.version} "
        f"(was {previous or p.DEFAULT_SERVED_VERSION})"
    )
    old = p.move_champion(locations, verdict)
    if old != verdict.version:
        print(f"champion pointer: {old or 'none'} -> {verdict.version}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import deploy as d
    from fraud_mlops.cloud import promote as p

    target = d.parse_target(args.target)
    if args.version is not None:
        from fraud_mlops.cloud.gate_check import resolve_locations

        locations = resolve_locations(args.stack, args.stack_outputs)
        verdict = p.check_version(locations, args.version)
        print(f"{verdict.model_name}/{verdict.version}: gate passed, checksums verified")
    plan = d.plan_deploy(args.stack, target, args.version)
    if args.dry_run:
        print("dry run; would run:")
        print("\n".join("  " + " ".join(cmd) for cmd in plan.commands))
        return 0
    say(f"deploying {target.name} on {args.stack}")
    d.apply_deploy(plan)
    served = f", serving {args.version}" if args.version else " (model version unchanged)"
    print(f"stack {args.stack}: {target.name} deployed{served}")
    return 0
