"""``promote --stack`` / ``rollback --stack`` against a moto server: the ``live`` alias' routing
moves by weight, the canary alarms decide, and the config key follows (#14 item 2).

The stand-in ``pulumi up`` publishes a Lambda version on moto as the real program does; the
five-minute canary runs on a fake clock whose sleep can flip an alarm mid-watch.
"""

from __future__ import annotations

import re

import pytest

from fraud_mlops.cloud import canary
from fraud_mlops.cloud.promote import MODEL_VERSION_KEY, SHADOW_VERSION_KEY
from fraud_mlops.store import ModelStore
from tests.support.live_alias import ALARMS, FUNCTION
from tests.support.release_world import MODEL

PHASE = re.compile(r"^\[\d\d:\d\d:\d\dZ \+\s*\d+\.\ds\] ", re.M)


class FakeTime:
    """A clock that only moves when slept on; ``on_sleep`` runs at every sleep (the watch)."""

    def __init__(self, monkeypatch, on_sleep=None):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep
        monkeypatch.setattr(canary, "_clock", lambda: self.now)
        monkeypatch.setattr(canary, "_sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))
        self.now += seconds


def _promote(cli, world, *extra):
    return cli("promote", "--stack", "dev", "--stack-outputs", str(world.outputs_file), *extra)


def test_a_canary_takes_ten_percent_for_five_minutes_then_everything(
    world, pulumi, cli, live_stack, monkeypatch
):
    during = []
    clock = FakeTime(monkeypatch, on_sleep=lambda n: during.append(live_stack.alias()))
    code, out, err = _promote(cli, world, "--canary-poll-seconds", "60")
    assert code == 0, err
    champion = world.version("run2")
    assert live_stack.versions()["2"] == f"{MODEL} {champion}"  # published by `up`
    assert during and all(state == ("1", {"2": 0.1}) for state in during)
    assert sum(clock.sleeps) == pytest.approx(300)  # 5 minutes of watching
    assert live_stack.alias() == ("2", {})
    description = live_stack.lambda_client.get_alias(FunctionName=FUNCTION, Name="live")[
        "Description"
    ]
    assert canary.previous_version(description) == "1"
    phases = PHASE.findall(err)
    assert len(phases) >= 4  # published, canary, watching..., promoted
    assert "canary: live -> version 1 + 10 % on version 2" in err
    assert "promoted: live -> 100 % on version 2" in err
    assert pulumi.config(MODEL_VERSION_KEY) == champion
    assert f"stack dev serves {MODEL}/{champion}" in out


def test_an_alarm_during_the_canary_rolls_back_and_restores_the_config(
    world, pulumi, cli, live_stack, monkeypatch
):
    pulumi.preset(MODEL_VERSION_KEY, world.version("run1"))

    def fire(n: int) -> None:
        if n == 2:
            live_stack.set_alarm(ALARMS[1], "ALARM")  # the new model's 5xx rate

    FakeTime(monkeypatch, on_sleep=fire)
    code, _, err = _promote(cli, world, "--canary-minutes", "5", "--canary-poll-seconds", "30")
    assert code == 1
    assert f"rolled back on {ALARMS[1]}" in err and f"ALARM {ALARMS[1]}" in err
    assert live_stack.alias() == ("1", {})
    assert pulumi.config(MODEL_VERSION_KEY) == world.version("run1")
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == world.version("run2")


def test_a_canary_never_starts_while_an_alarm_fires(world, pulumi, cli, live_stack, monkeypatch):
    FakeTime(monkeypatch)
    live_stack.set_alarm(ALARMS[2], "ALARM")
    code, _, err = _promote(cli, world)
    assert code == 1 and "refusing to start a canary" in err and ALARMS[2] in err
    assert live_stack.alias() == ("1", {})
    assert pulumi.config(MODEL_VERSION_KEY) is None  # the key it set is removed again


def test_no_canary_moves_everything_at_once(world, pulumi, cli, live_stack, monkeypatch):
    clock = FakeTime(monkeypatch)
    code, _, err = _promote(cli, world, "--no-canary")
    assert code == 0, err
    assert live_stack.alias() == ("2", {}) and clock.sleeps == []


def test_rollback_moves_the_alias_back_and_the_config_and_champion_with_it(
    world, pulumi, cli, live_stack, monkeypatch
):
    FakeTime(monkeypatch)
    run1, run2 = world.version("run1"), world.version("run2")
    assert _promote(cli, world, "--canary-minutes", "0")[0] == 0  # version 2: run2, the champion
    assert _promote(cli, world, "--version", run1, "--canary-minutes", "0")[0] == 0  # version 3
    assert live_stack.alias() == ("3", {})
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == run1
    code, out, err = cli("rollback", "--stack", "dev", "--stack-outputs", str(world.outputs_file))
    assert code == 0, err
    assert live_stack.alias() == ("2", {})
    assert "rolled back: live -> 100 % on version 2 (was 3)" in err
    assert pulumi.config(MODEL_VERSION_KEY) == run2
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == run2
    assert f"champion pointer: {run1} -> {run2}" in out
    # The alias now records no previous version: a second rollback must be told where to.
    code, _, err = cli("rollback", "--stack", "dev", "--stack-outputs", str(world.outputs_file))
    assert code == 2 and "--to VERSION" in err
    code, _, _ = cli(
        "rollback", "--stack", "dev", "--stack-outputs", str(world.outputs_file), "--to", "3"
    )
    assert code == 0 and live_stack.alias() == ("3", {})


def test_a_shadow_is_published_and_canaried_without_a_gate(
    world, pulumi, cli, live_stack, monkeypatch
):
    FakeTime(monkeypatch)
    failed_gate = world.version("run3")  # a challenger need not have passed the gate
    code, out, err = _promote(cli, world, "--shadow", failed_gate, "--canary-minutes", "0")
    assert code == 0, err
    assert pulumi.config(SHADOW_VERSION_KEY) == failed_gate
    assert live_stack.alias() == ("2", {})
    env = live_stack.lambda_client.get_function_configuration(FunctionName=FUNCTION, Qualifier="2")
    assert env["Environment"]["Variables"]["SHADOW_MODEL_URI"].endswith(f"/{failed_gate}")
    assert f"shadow: {failed_gate} (was none)" in out
    code, out, _ = _promote(cli, world, "--shadow", "none", "--no-canary")
    assert code == 0 and pulumi.config(SHADOW_VERSION_KEY) is None
    assert (
        "SHADOW_MODEL_URI"
        not in live_stack.lambda_client.get_function_configuration(
            FunctionName=FUNCTION, Qualifier="3"
        )["Environment"]["Variables"]
    )


def test_the_served_model_cannot_be_its_own_shadow(world, pulumi, cli, live_stack):
    pulumi.preset(MODEL_VERSION_KEY, world.version("run2"))
    code, _, err = _promote(cli, world, "--shadow", world.version("run2"))
    assert code == 2 and "a shadow must be another one" in err


def test_a_canary_share_outside_0_100_is_a_usage_error(world, pulumi, cli):
    code, _, err = _promote(cli, world, "--canary-percent", "150")
    assert code == 2 and "--canary-percent 150" in err
    assert pulumi() == []


def test_dry_run_says_how_traffic_would_move(world, pulumi, cli):
    code, out, _ = _promote(cli, world, "--dry-run", "--canary-percent", "25")
    assert code == 0 and "25 % for 5 min watching the canary alarms, then 100 %" in out
    assert pulumi() == []
