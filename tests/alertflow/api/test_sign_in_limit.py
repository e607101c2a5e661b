"""Failed sign-ins counted per user name and per address, in a sliding window."""

from __future__ import annotations

from alertflow.api.sign_in_limit import SignInLimiter, refusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_name_waits_after_its_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = SignInLimiter(per_name=3, per_address=100, window_s=60, clock=clock)
    for i in range(3):
        assert limiter.wait_s("ana", f"10.0.0.{i}") == 0
        limiter.failed("ana", f"10.0.0.{i}")
        clock.now += 10
    assert limiter.wait_s("ANA", "10.9.9.9") == 30  # from any address; names compare case-blind
    assert limiter.wait_s("bob", "10.0.0.1") == 0
    clock.now += 30
    assert limiter.wait_s("ana", "10.0.0.1") == 0


def test_an_address_waits_after_failures_for_many_names() -> None:
    clock = Clock()
    limiter = SignInLimiter(per_name=100, per_address=4, window_s=60, clock=clock)
    for i in range(4):
        limiter.failed(f"user{i}", "10.0.0.1")
    assert limiter.wait_s("someone-else", "10.0.0.1") == 60
    assert limiter.wait_s("someone-else", "10.0.0.2") == 0


def test_a_success_clears_the_names_count_but_not_the_addresss() -> None:
    limiter = SignInLimiter(per_name=2, per_address=3, window_s=60, clock=Clock())
    limiter.failed("ana", "10.0.0.1")
    limiter.failed("ana", "10.0.0.1")
    assert limiter.wait_s("ana", "10.0.0.2") > 0
    limiter.succeeded("ana")
    assert limiter.wait_s("ana", "10.0.0.2") == 0
    limiter.failed("bob", "10.0.0.1")
    assert limiter.wait_s("carol", "10.0.0.1") > 0


def test_the_refusal_names_no_user_and_rounds_up_to_minutes() -> None:
    assert refusal(61).endswith("try again in 2 minutes.")
    assert refusal(1).endswith("try again in 1 minute.")
