"""Release commands: ``gate`` (did a run's model pass?), ``promote`` (serve a version, canaried
on the ``live`` alias), ``rollback`` (the alias back to its previous version) and ``deploy``
(serve on a target: lambda, sagemaker or k8s).

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
        help="serve a model version on a stack: pulumi up publishes it, a canary on the live "
        "alias releases it",
        formatter_class=fmt,
        description="Check the version (gate passed, checksums verify), set the stack's "
        "fraud-mlops:modelVersion\nand run `pulumi up` on the serving component only (it "
        "publishes a Lambda version). Then\nshift the `live` alias to it: --canary-percent for "
        "--canary-minutes while the canary alarms\nare watched, then 100 %; on ALARM traffic "
        "and the config key go back (exit 1).\nDefault version: the store's champion. An "
        "older --version moves the champion pointer back too.",
        epilog="examples:\n"
        "  fraud-mlops promote --stack dev\n"
        "  fraud-mlops promote --stack prod --version 20250101T000000Z-sfn-jenkins-prod-7\n"
        "  fraud-mlops promote --stack dev --dry-run\n"
        "  fraud-mlops promote --stack prod --canary-percent 5 --canary-minutes 15\n"
        "  fraud-mlops promote --stack dev --shadow 20250301T000000Z-sfn-jenkins-dev-9\n"
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
        "--shadow",
        metavar="VERSION",
        help="instead: score VERSION in shadow beside the champion (fraud-mlops:shadowVersion; "
        "'none' removes it); its files must verify, its gate need not have passed",
    )
    _canary_args(promote)
    promote.add_argument(
        "--dry-run", action="store_true", help="check the version and print the commands only"
    )
    promote.set_defaults(func=_promote)

    rollback = sub.add_parser(
        "rollback",
        help="send 100 %% of the stack's live alias back to the version it served before",
        formatter_class=fmt,
        description="Move the scoring Lambda's `live` alias to the version it served before the "
        "last release\n(recorded in the alias description), or --to a published version; set "
        "fraud-mlops:modelVersion\nto that version's model and point the champion at it.",
        epilog="examples:\n  fraud-mlops rollback --stack prod\n"
        "  fraud-mlops rollback --stack dev --to 7",
    )
    add_stack_args(rollback, required=True)
    rollback.add_argument("--to", metavar="LAMBDA_VERSION", help="published Lambda version")
    rollback.set_defaults(func=_rollback)

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


def _canary_args(parser: argparse.ArgumentParser) -> None:
    canary = parser.add_argument_group("canary (with --stack)")
    canary.add_argument(
        "--canary-percent", type=float, default=10.0, help="share on the new version (10)"
    )
    canary.add_argument(
        "--canary-minutes", type=float, default=5.0, help="minutes at that share (5)"
    )
    canary.add_argument("--canary-poll-seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    canary.add_argument(
        "--no-canary", action="store_true", help="move 100 %% at once (no alarm watch)"
    )


def _policy(args: argparse.Namespace):
    from fraud_mlops.cloud.canary import CanaryPolicy

    if args.no_canary:
        return None
    return CanaryPolicy(args.canary_percent, args.canary_minutes, args.canary_poll_seconds)


def _gate(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud.gate_check import gate_of_run, resolve_locations

    verdict = gate_of_run(resolve_locations(args.stack, args.stack_outputs), args.run_id)
    print("\n".join(verdict.lines()))
    return 0 if verdict.passed else EXIT_FAILED


def _promote(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import promote as p
    from fraud_mlops.cloud.gate_check import resolve_locations

    locations = resolve_locations(args.stack, args.stack_outputs)
    if args.shadow is not None:
        return _promote_shadow(args, locations)
    verdict = p.check_version(locations, args.version)
    print(f"{verdict.model_name}/{verdict.version}: gate passed, checksums verified")
    _print_shadow_evidence(locations.lakehouse_uri, verdict.version)
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
    policy = _policy(args)
    previous = None if args.dry_run else p.current_version(args.stack)
    plan = p.plan_promotion(args.stack, verdict, previous)
    if args.dry_run:
        print("dry run; would run:")
        print("\n".join("  " + " ".join(cmd) for cmd in plan.commands))
        print(f"  then shift the live alias: {_policy_text(policy)}")
        return 0
    if previous == verdict.version:
        say(f"stack {args.stack} already serves {verdict.version}; re-applying serving")
    kind = "rollback" if plan.is_rollback else "promotion"
    say(f"{kind} on {args.stack}: {previous or p.DEFAULT_SERVED_VERSION} -> {verdict.version}")
    p.apply_promotion(plan)
    p.shift_traffic(plan, args.stack_outputs, policy)
    print(
        f"stack {args.stack} serves {verdict.model_name}/{verdict.version} "
        f"(was {previous or p.DEFAULT_SERVED_VERSION})"
    )
    old = p.move_champion(locations, verdict)
    if old != verdict.version:
        print(f"champion pointer: {old or 'none'} -> {verdict.version}")
    return 0


def _print_shadow_evidence(lakehouse_uri: str, version: str) -> None:
    """Cite the monitoring flow's latest shadow comparison of this version, if there is one."""
    from fraud_mlops.monitoring_publish import evidence_lines, latest_shadow_evidence

    evidence = latest_shadow_evidence(lakehouse_uri, version)
    if evidence is not None:
        print("\n".join(evidence_lines(evidence, version)))


def _policy_text(policy) -> str:
    if policy is None:
        return "100 % at once (--no-canary)"
    return (
        f"{policy.percent:g} % for {policy.minutes:g} min watching the canary alarms, "
        "then 100 % (back on ALARM)"
    )


def _promote_shadow(args: argparse.Namespace, locations) -> int:
    from fraud_mlops.cloud import promote as p
    from fraud_mlops.cloud.gate_check import GateVerdict
    from fraud_mlops.errors import ConfigError

    if args.local or args.stack is None:
        raise ConfigError("--shadow needs --stack: the shadow runs in the stack's Lambda")
    if args.version is not None:
        raise ConfigError("--shadow VERSION replaces --version: give one of them")
    clear = args.shadow.lower() == "none"
    if clear:
        verdict = GateVerdict(locations.model_name, "", True, [])
    else:
        verdict = p.check_files(locations, args.shadow)
        print(f"{verdict.model_name}/{verdict.version}: checksums verified (shadow)")
    policy = _policy(args)
    previous = None if args.dry_run else p.config_get(args.stack, p.SHADOW_VERSION_KEY)
    served = None if args.dry_run else p.current_version(args.stack)
    if not clear and served == verdict.version:
        raise ConfigError(f"{verdict.version} is the served model: a shadow must be another one")
    plan = p.plan_promotion(args.stack, verdict, previous, key=p.SHADOW_VERSION_KEY)
    if clear:
        plan.commands[0] = ["pulumi", "config", "rm", p.SHADOW_VERSION_KEY, "--stack", args.stack]
    if args.dry_run:
        print("dry run; would run:")
        print("\n".join("  " + " ".join(cmd) for cmd in plan.commands))
        print(f"  then shift the live alias: {_policy_text(policy)}")
        return 0
    if previous == (verdict.version or None):
        print(f"stack {args.stack}: shadow is already {previous or 'none'}")
        return 0
    say(f"shadow on {args.stack}: {previous or 'none'} -> {verdict.version or 'none'}")
    p.apply_promotion(plan)
    p.shift_traffic(plan, args.stack_outputs, policy)
    print(f"stack {args.stack} shadow: {verdict.version or 'none'} (was {previous or 'none'})")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from fraud_mlops.cloud import canary
    from fraud_mlops.cloud import promote as p
    from fraud_mlops.cloud.gate_check import resolve_locations
    from fraud_mlops.cloud.stack import load_stack_outputs

    outputs = load_stack_outputs(args.stack, args.stack_outputs)
    live = canary.LiveAlias(canary.Target.from_outputs(outputs))
    phases = canary.Phases()
    current, target = canary.rollback(live, phases, args.to)
    model_text = live.description_of(target)
    locations = resolve_locations(args.stack, args.stack_outputs)
    prefix = f"{locations.model_name} "
    model_version = model_text[len(prefix) :] if model_text.startswith(prefix) else None
    print(f"stack {args.stack}: live serves version {target} ({model_text}), was {current}")
    if not model_version or model_version == p.DEFAULT_SERVED_VERSION:
        return 0
    cmd = ["pulumi", "config", "set", p.MODEL_VERSION_KEY, model_version, "--stack", args.stack]
    if p.run_pulumi(cmd).returncode != 0:
        say(f"could not set {p.MODEL_VERSION_KEY}: run `{' '.join(cmd)}`")
        return 1
    phases(f"{p.MODEL_VERSION_KEY} = {model_version}")
    try:
        verdict = p.check_version(locations, model_version)
    except Exception as exc:  # the traffic is back; the pointer is advisory
        say(f"champion pointer left as is: {exc}")
        return 0
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
