"""The shared poller: stops at a final status, keeps its deadline, reports every poll."""

from __future__ import annotations

from fraud_mlops.cloud.polling import poll_until


class FakeTime:
    """A clock that only moves when the poller sleeps, so the test is exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_it_stops_at_the_first_final_status_and_reports_each_poll() -> None:
    statuses = iter(["PENDING", "RUNNING", "RUNNING", "SUCCEEDED", "never read"])
    time, seen = FakeTime(), []
    polled = poll_until(
        lambda: {"status": next(statuses)},
        lambda r: r["status"],
        {"SUCCEEDED", "FAILED"},
        timeout=60,
        interval=5,
        on_poll=lambda status, elapsed: seen.append((status, elapsed)),
        clock=time.clock,
        sleep=time.sleep,
    )
    assert (polled.status, polled.timed_out, polled.response) == (
        "SUCCEEDED",
        False,
        {"status": "SUCCEEDED"},
    )
    assert seen == [("PENDING", 0), ("RUNNING", 5), ("RUNNING", 10), ("SUCCEEDED", 15)]
    assert time.sleeps == [5, 5, 5]


def test_it_gives_up_at_the_deadline_with_the_last_status_and_a_short_last_sleep() -> None:
    time = FakeTime()
    polled = poll_until(
        lambda: "RUNNING",
        str,
        {"DONE"},
        timeout=12,
        interval=5,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert (polled.status, polled.timed_out) == ("RUNNING", True)
    assert time.sleeps == [5, 5, 2]  # never past the deadline
    assert time.now == 12
