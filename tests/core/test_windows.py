"""Sliding-window counters in the pure core: the time is passed in, nothing sleeps.

The :class:`Ledger` is the reference every counter store is held to (the contract suite in
``tests/adapters/counters`` runs the same semantics against SQL and Redis).
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.policy import compile_policy, evaluate
from mcpwall.core.windows import (
    UNCHECKED_MESSAGE,
    Budget,
    CounterKey,
    Ledger,
    Refusal,
    budgets_for,
    live,
    log_name,
    retry_after,
    unchecked_denial,
    wait_for,
)

HOUR = 3600.0
POLICY = compile_policy(
    {
        "version": "1",
        "default": "allow",
        "all_tools": {"limits": [{"counter": "all", "max": 8, "window": "hour"}]},
        "tools": {
            "delete_pod": {
                "limits": [
                    {"counter": "deletes", "max": 5, "window": "hour", "scope": "grant",
                     "on_deny": "Pod deletion limit exceeded for this grant."}
                ]
            },
            "delete_deployment": {"limits": [{"counter": "deletes", "max": 2, "window": "hour"}]},
            "scale": {"limits": [{"counter": "scales", "max": 3, "window": "minute", "scope": "upstream"}]},
            "reboot": {"limits": [{"counter": "reboots", "max": 1, "window": "day", "scope": "global"}]},
        },
    }
)  # fmt: skip


def budget(
    maximum: int = 5, window: float = HOUR, counter: str = "c", subject: str = "g1"
) -> Budget:
    return Budget(CounterKey(counter, "grant", subject), maximum, window)


def calls(tool: str, grant: str = "grt_a", upstream: str = "k8s") -> tuple[Budget, ...]:
    return budgets_for(evaluate(POLICY, tool, {}).limits, grant, upstream)


def reserve_all(ledger: Ledger, budgets: tuple[Budget, ...], now: float, times: int) -> int:
    """Reserve ``times`` calls at ``now``; how many were allowed."""
    return sum(ledger.reserve(budgets, now) is None for _ in range(times))


# -- the window ------------------------------------------------------------------------------


def test_a_call_leaves_the_window_exactly_one_window_later() -> None:
    times = [100.0]
    assert live(times, 100.0 + HOUR - 0.001, HOUR) == 0  # still in
    assert live(times, 100.0 + HOUR, HOUR) == 1  # out: the window is (now - window, now]


def test_max_calls_fit_then_the_next_waits_a_whole_window() -> None:
    ledger, one = Ledger(), (budget(),)
    assert reserve_all(ledger, one, 0.0, 5) == 5
    assert ledger.reserve(one, 0.0) == Refusal(0, HOUR)


def test_window_edges_to_the_millisecond() -> None:
    ledger, one = Ledger(), (budget(),)
    reserve_all(ledger, one, 1000.0, 5)
    refusal = ledger.reserve(one, 1000.0 + HOUR - 0.001)
    assert isinstance(refusal, Refusal)
    assert refusal.retry_after_s == pytest.approx(0.001)
    assert ledger.reserve(one, 1000.0 + HOUR) is None
    assert ledger.count(one[0], 1000.0 + HOUR) == 1


def test_the_window_slides_one_call_at_a_time() -> None:
    ledger, one = Ledger(), (budget(maximum=5, window=60.0),)
    for at in (0.0, 10.0, 20.0, 30.0, 40.0):
        assert ledger.reserve(one, at) is None
    assert ledger.reserve(one, 59.0) == Refusal(0, 1.0)  # the call at 0 leaves at 60
    assert ledger.reserve(one, 60.0) is None
    assert ledger.reserve(one, 61.0) == Refusal(0, 9.0)  # next: the call at 10, at 70
    assert ledger.reserve(one, 70.0) is None


def test_no_burst_at_a_window_boundary() -> None:
    """A fixed window would let 2 × max through around its edge; a sliding one never does."""
    ledger, one = Ledger(), (budget(maximum=5, window=60.0),)
    assert reserve_all(ledger, one, 59.9, 5) == 5
    assert reserve_all(ledger, one, 60.1, 5) == 0
    assert reserve_all(ledger, one, 119.9, 5) == 5


def test_max_zero_refuses_and_says_try_after_a_window() -> None:
    assert Ledger().reserve((budget(maximum=0, window=60.0),), 5.0) == Refusal(0, 60.0)
    assert wait_for(None, 5.0, 60.0, 0) == 60.0


def test_retry_after_is_exactly_when_the_next_call_fits() -> None:
    times = [10.0, 20.0, 30.0]
    assert retry_after(times, 35.0, 60.0, 4) is None
    assert retry_after(times, 35.0, 60.0, 3) == 35.0  # the oldest (10) leaves at 70
    assert retry_after(times, 35.0, 60.0, 2) == 45.0  # the second newest (20) leaves at 80


def test_a_time_out_of_order_is_still_counted_in_its_place() -> None:
    """Replicas' clocks differ a little: an older ``now`` arriving late still counts."""
    ledger, one = Ledger(), (budget(maximum=2, window=60.0),)
    assert ledger.reserve(one, 50.0) is None
    assert ledger.reserve(one, 40.0) is None
    assert ledger.reserve(one, 55.0) == Refusal(0, 45.0)  # 40 leaves at 100


# -- which budget a call draws on --------------------------------------------------------------


def test_two_tools_naming_one_counter_share_its_budget() -> None:
    ledger = Ledger()
    assert reserve_all(ledger, calls("delete_deployment"), 0.0, 3) == 2  # its max is 2
    refusal = ledger.reserve(calls("delete_deployment"), 0.0)
    assert refusal == Refusal(0, HOUR)
    assert reserve_all(ledger, calls("delete_pod"), 0.0, 9) == 3  # 5 shared, 2 spent


def test_two_grants_have_budgets_of_their_own() -> None:
    ledger = Ledger()
    assert reserve_all(ledger, calls("delete_pod", grant="grt_a"), 0.0, 20) == 5
    assert reserve_all(ledger, calls("delete_pod", grant="grt_b"), 0.0, 20) == 5
    assert reserve_all(ledger, calls("delete_pod", grant="grt_a"), 1.0, 1) == 0


def test_upstream_scope_is_shared_by_grants_and_split_by_upstream() -> None:
    ledger = Ledger()
    assert reserve_all(ledger, calls("scale", grant="grt_a"), 0.0, 2) == 2
    assert reserve_all(ledger, calls("scale", grant="grt_b"), 0.0, 5) == 1
    assert reserve_all(ledger, calls("scale", grant="grt_b", upstream="other"), 0.0, 5) == 3


def test_global_scope_is_one_budget_for_everyone() -> None:
    ledger = Ledger()
    assert reserve_all(ledger, calls("reboot", grant="grt_a", upstream="u1"), 0.0, 1) == 1
    assert reserve_all(ledger, calls("reboot", grant="grt_b", upstream="u2"), 0.0, 1) == 0


def test_all_tools_limits_apply_to_every_call() -> None:
    ledger = Ledger()
    assert [b.key.counter for b in calls("get_pod_logs")] == ["all"]
    assert reserve_all(ledger, calls("get_pod_logs"), 0.0, 6) == 6
    # delete_pod has room (5) but "all" only 2 more: the first full limit refuses.
    assert reserve_all(ledger, calls("delete_pod"), 0.0, 5) == 2
    assert ledger.reserve(calls("delete_pod"), 0.0) == Refusal(1, HOUR)


def test_keys_name_the_grant_id_never_anything_else() -> None:
    assert calls("delete_pod", grant="grt_a")[0].key == CounterKey("deletes", "grant", "grt_a")
    assert calls("scale")[0].key == CounterKey("scales", "upstream", "k8s")
    assert calls("reboot")[0].key == CounterKey("reboots", "global", "")


def test_log_names_are_readable_and_never_collide() -> None:
    assert calls("delete_pod")[0].log == "3600:grant:grt_a:deletes"
    assert log_name(CounterKey("b:c", "grant", "a"), 60) != log_name(
        CounterKey("c", "grant", "a:b"), 60
    )
    assert log_name(CounterKey("x%3Ay", "grant", "a"), 60) != log_name(
        CounterKey("x:y", "grant", "a"), 60
    )
    assert log_name(CounterKey("c", "global", ""), 0.5) == "0.5:global::c"


# -- all or none, and giving back ---------------------------------------------------------------


def test_a_full_limit_takes_nothing_from_the_others() -> None:
    ledger = Ledger()
    wide, narrow = budget(maximum=5, counter="wide"), budget(maximum=1, counter="narrow")
    assert ledger.reserve((wide, narrow), 0.0) is None
    assert ledger.reserve((wide, narrow), 0.0) == Refusal(1, HOUR)
    assert ledger.count(wide, 0.0) == 1  # the refused call took nothing from "wide"


def test_a_call_drawing_twice_on_one_log_counts_once() -> None:
    ledger, twice = Ledger(), (budget(maximum=2), budget(maximum=2))
    assert reserve_all(ledger, twice, 0.0, 3) == 2


def test_release_gives_the_budget_back() -> None:
    ledger, both = Ledger(), (budget(counter="a"), budget(maximum=1, counter="b"))
    assert ledger.reserve(both, 10.0) is None
    ledger.release(both, 10.0)
    assert ledger.count(both[0], 10.0) == 0
    assert ledger.reserve(both, 11.0) is None  # "b" has room again


def test_release_takes_back_only_its_own_call() -> None:
    ledger, one = Ledger(), (budget(maximum=3),)
    for at in (1.0, 2.0, 3.0):
        ledger.reserve(one, at)
    ledger.release(one, 2.0)
    ledger.release(one, 2.0)  # twice: nothing more to take
    ledger.release((budget(counter="never-used"),), 2.0)
    assert ledger.count(one[0], 3.0) == 2
    assert ledger.reserve(one, 4.0) is None
    assert ledger.reserve(one, 4.0) == Refusal(0, 1.0 + HOUR - 4.0)


# -- denials when the counters can't be checked --------------------------------------------------


def test_unchecked_limits_deny_naming_the_first_limit_whatever_its_message() -> None:
    denial = unchecked_denial(evaluate(POLICY, "delete_pod", {}).limits)
    assert (denial.decision, denial.rule) == ("deny", "/tools/delete_pod/limits/0")
    assert denial.message == UNCHECKED_MESSAGE
    assert denial.message.startswith("Rate limits can't be checked right now")
    assert denial.retry_after_s is None


def test_unchecked_limits_only_would_deny_in_shadow_mode() -> None:
    shadow = compile_policy(
        {"version": "1", "default": "allow", "mode": "shadow",
         "tools": {"t": {"limits": [{"counter": "t", "max": 1, "window": "second"}]}}}
    )  # fmt: skip
    assert unchecked_denial(evaluate(shadow, "t", {}).limits).decision == "would_deny"


# -- the invariant, for any sequence of calls -----------------------------------------------------

steps = st.lists(
    st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=60
)  # (seconds since the previous call, give it back?)


@given(steps, st.integers(0, 4), st.sampled_from([1.0, 7.0, 30.0]))
def test_never_more_than_max_in_any_window_and_never_refused_with_room(
    plan: list[tuple[int, bool]], maximum: int, window: float
) -> None:
    ledger, one = Ledger(), (budget(maximum=maximum, window=window),)
    kept: list[float] = []  # the calls allowed and not given back
    now = 0.0
    for gap, give_back in plan:
        now += gap
        in_window = [t for t in kept if t > now - window]
        refusal = ledger.reserve(one, now)
        if refusal is None:
            assert len(in_window) < maximum
            if give_back:
                ledger.release(one, now)
            else:
                kept.append(now)
        else:
            assert len(in_window) >= maximum  # refused only when full
            assert refusal.retry_after_s > 0
            later = now + refusal.retry_after_s
            assert maximum == 0 or sum(t > later - window for t in kept) < maximum
        for start in kept:  # at most max in any window-long interval
            assert sum(start <= t < start + window for t in kept) <= maximum
