"""WindowCounters: the counter rules of ``ses_exporter.counters``, by example and as a property."""

from __future__ import annotations

import doctest
import itertools
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ses_exporter import counters
from ses_exporter.counters import WindowCounters


def run(*polls: dict[str, dict[float, float]], forget_before: float = 0) -> dict[str, float]:
    c: WindowCounters[str] = WindowCounters()
    for observations in polls:
        c.update(observations, forget_before=forget_before)
    return c.totals()


def test_module_example() -> None:
    assert doctest.testmod(counters).failed == 0


def test_first_poll_is_the_baseline() -> None:
    assert run({"Send": {0: 5, 60: 7}, "Bounce": {0: 1}}) == {"Send": 0, "Bounce": 0}


def test_new_point_adds_its_value_and_known_point_its_growth() -> None:
    assert run({"Send": {0: 5}}, {"Send": {0: 8, 60: 3}}, {"Send": {0: 8, 60: 4}}) == {"Send": 7}


def test_downward_revision_adds_nothing_and_growth_counts_from_the_peak() -> None:
    totals = run({"Send": {0: 5}}, {"Send": {60: 4}}, {"Send": {60: 1}}, {"Send": {60: 6}})
    assert totals == {"Send": 6}


def test_point_missing_from_a_poll_is_not_counted_again_when_it_returns() -> None:
    assert run({"Send": {}}, {"Send": {60: 4}}, {"Send": {}}, {"Send": {60: 4}}) == {"Send": 4}


def test_late_point_absent_at_the_first_poll_counts_in_full() -> None:
    # Present means present: a datapoint CloudWatch had not published at the first poll
    # is not baseline, even if it is older than the baseline's datapoints.
    assert run({"Send": {60: 5}}, {"Send": {0: 2, 60: 5}}) == {"Send": 2}


def test_forgotten_points_read_again_do_not_count_twice() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"Send": {0: 1}}, forget_before=0)
    c.update({"Send": {0: 1, 60: 5}}, forget_before=0)
    c.update({"Send": {60: 5, 120: 2}}, forget_before=60)  # 0 leaves the window
    assert c.totals() == {"Send": 7}
    c.update({"Send": {0: 1, 60: 5, 120: 2}}, forget_before=0)  # an older window again
    c.update({"Send": {0: 9, 30: 3, 60: 5, 120: 2}}, forget_before=0)  # 30 is too old too
    assert c.totals() == {"Send": 7}


def test_series_first_seen_after_the_first_poll_shows_0_then_counts_its_new_points() -> None:
    # increase() ignores a series' first sample, so a series born at its total
    # (the first Complaint ever) would never show in a chart or an alert.
    c: WindowCounters[str] = WindowCounters()
    c.update({"Send": {0: 5}}, forget_before=0, current_bucket=120)
    c.update({"Send": {0: 5}, "Complaint": {60: 1, 120: 2, 180: 4}}, forget_before=0)
    assert c.totals() == {"Send": 0, "Complaint": 0}  # exposed at 0 first
    c.update({"Send": {0: 5}, "Complaint": {60: 1, 120: 3, 180: 4}}, forget_before=0)
    # 60 is older than the first poll's bucket: history, not counted; 120 (the bucket the
    # first poll fell in) and 180 are new, and 120's growth since it was first read too.
    assert c.totals() == {"Send": 0, "Complaint": 7}


def test_late_series_points_count_even_if_they_leave_the_window_before_the_next_poll() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"Send": {}}, forget_before=0, current_bucket=0)
    c.update({"Send": {}, "Reject": {60: 3}}, forget_before=0)
    c.update({"Send": {}, "Reject": {}}, forget_before=120)
    assert c.totals() == {"Send": 0, "Reject": 3}


def test_empty_first_poll_is_an_empty_baseline() -> None:
    assert run({}, {"Send": {0: 3}}) == {"Send": 0}  # a late series: 0 first
    assert run({}, {"Send": {0: 3}}, {"Send": {0: 3}}) == {"Send": 3}


def test_series_absent_from_a_poll_keeps_its_total() -> None:
    assert run({"Send": {0: 1}}, {"Send": {0: 4}}, {}) == {"Send": 3}


def test_a_series_that_leaves_and_returns_in_the_window_counts_nothing_twice() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"a": {0: 1}, "b": {0: 1}}, forget_before=0)
    c.update({"a": {0: 2}, "b": {0: 3}}, forget_before=0)
    c.retain(["a", "c"])  # b leaves (a set excluded by a reload): not shown
    assert c.totals() == {"a": 1}
    # b returns while its counted datapoint is still in the window: it goes on from its
    # total, the known datapoint adds only its growth, a new one counts.
    c.update({"a": {0: 2}, "b": {0: 4, 60: 5}}, forget_before=0)
    assert c.totals() == {"a": 1, "b": 8}


def test_a_series_away_longer_than_the_window_continues_and_counts_only_new_points() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"a": {0: 1}, "b": {0: 1}}, forget_before=0, current_bucket=0)
    c.update({"a": {0: 1}, "b": {0: 3}}, forget_before=0, current_bucket=0)
    c.retain(["a"])
    c.update({"a": {600: 1}}, forget_before=600, current_bucket=600)  # b's point forgotten
    assert c.totals() == {"a": 1}
    # b returns: its total goes on; the datapoint at 0 that an answer might still list is
    # older than the window and never counts again, the new one does.
    c.update({"a": {600: 1}, "b": {0: 3, 600: 2}}, forget_before=600, current_bucket=600)
    assert c.totals() == {"a": 1, "b": 4}


def test_a_series_away_longer_than_a_day_returns_as_a_new_series() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"a": {0: 1}, "b": {0: 1}}, forget_before=0, current_bucket=0)
    c.update({"a": {0: 1}, "b": {0: 3}}, forget_before=0, current_bucket=0)
    c.retain(["a"])
    day = 86_400
    c.forget(day + 60)  # the window moved on by more than a day: b is forgotten
    c.update({"a": {}, "b": {0: 3, day + 60: 2}}, forget_before=day + 60, current_bucket=day)
    assert c.totals() == {"a": 0, "b": 0}  # b: a new series, 0 first
    c.update({"a": {}, "b": {0: 3, day + 60: 2}}, forget_before=day + 60, current_bucket=day)
    assert c.totals() == {"a": 0, "b": 2}


def test_a_series_hidden_over_a_day_is_kept_while_its_datapoints_are_in_the_window() -> None:
    """A look-back over a day (up to 15 days are allowed) still holds what a series that
    left counted: it is kept until that is gone, so its return counts nothing twice."""
    c: WindowCounters[str] = WindowCounters()
    day = 86_400
    c.update({"x": {}}, forget_before=0, current_bucket=0)
    c.update({"x": {2 * day: 5}}, forget_before=0, current_bucket=2 * day)
    c.retain([])  # x leaves; the window (two days) reaches back to 0
    c.forget(day + 3600)  # 25 hours on: x's datapoint is still in the window
    c.update({}, forget_before=day + 3600, current_bucket=3 * day)
    for _ in range(2):  # x returns: as the same series, not a new one (0, then 5 again)
        c.update({"x": {2 * day: 5}}, forget_before=day + 3600, current_bucket=3 * day)
        assert c.totals() == {"x": 5}


def test_coarse_datapoints_add_what_the_known_fine_ones_inside_them_do_not_hold() -> None:
    c: WindowCounters[str] = WindowCounters()
    c.update({"a": {0: 0}}, forget_before=0, current_bucket=0)
    c.update({"a": {0: 2, 60: 1}}, forget_before=0, current_bucket=60)  # counted 3
    # a gap; the part older than CloudWatch keeps 1-minute data comes back in 5 minutes:
    # [0, 300) holds 7 of which 3 are known; [300, 600) is all new; nothing unmatched
    assert c.add_coarse({"a": {0: 7, 300: 4}}, 300) == 0.0
    assert c.totals() == {"a": 3 + 4 + 4}
    c.update({"a": {600: 1}}, forget_before=600, current_bucket=600)  # the fine window
    assert c.totals() == {"a": 12}
    # a coarse datapoint starting before what the series remembers cannot be matched
    assert c.add_coarse({"a": {300: 9}}, 300) == 9.0
    assert c.totals() == {"a": 12}


def test_new_series_ignores_points_that_left_the_window() -> None:
    # The first poll declared that everything before 7 has left the window; a later
    # answer that re-lists older data (forget_before=0) must not count its point at 6,
    # whether or not its series existed before. Today Send ignores it, Bounce counts it.
    c: WindowCounters[str] = WindowCounters()
    c.update({"Send": {7: 0}}, forget_before=7)
    c.update({"Send": {6: 1}, "Bounce": {6: 1}}, forget_before=0)
    assert c.totals() == {"Send": 0, "Bounce": 0}


# --- the property ------------------------------------------------------------------------
#
# Ground truth: datapoints (timestamp -> final value, never negative: AWS counts). Each
# poll passes ``forget_before``, the start of the window it read. The window only slides
# forward: a poll may pass an older ``forget_before`` (the send_statistics collector
# passes the oldest bucket of the answer, which lies behind the window when AWS re-lists
# a bucket that had left it), but that is a re-read of old data, not a wider window, so
# the window of a poll starts at the largest ``forget_before`` passed so far. A poll may
# omit points that have not arrived, shows partial values in [0, final] (usually rising
# towards the final value, sometimes lower than an earlier read) and now and then
# re-lists points that have left the window. The last poll shows every point of its
# window at its final value.
#
# What the counter must then hold, per series (the module's rules: "a datapoint counts once, grows
# if revised upward, never makes the counter decrease; datapoints present at the first
# poll are the baseline"):
#
#     sum over points still in the window at the end:  final - baseline
#   + sum over points that left the window earlier:    best  - baseline
#
# where baseline is the value the first poll showed for a point inside its window (0 for
# points not shown then, and for every point of a series first seen later), and best is
# the largest value shown while the point was inside the window. A point that slid out
# before it settled cannot count its final value: no later answer shows it inside the
# window, and a value re-listed outside the window cannot be told from a stale re-read of
# something already counted, so counting it would risk counting twice. Its shortfall is
# the price of a window shorter than the data's lateness. A point never shown inside the
# window adds nothing. Besides, no poll may make a total decrease, nor raise it above the
# truth (the sum of final - baseline over the points shown inside the window so far).

KEYS = ("Send", "Bounce")


@dataclass(frozen=True)
class Poll:
    forget_before: int  # what the caller passes: usually the window's start
    window: int  # the largest forget_before so far: older points have left the window
    shown: dict[str, dict[float, float]]  # series present in this poll -> its points


@dataclass(frozen=True)
class Scenario:
    finals: dict[str, dict[int, int]]
    polls: list[Poll]


@st.composite
def partial_reads(draw: st.DrawFn, final: int, n_polls: int) -> list[int | None]:
    """What each poll shows of one datapoint: None (not arrived, or omitted) or a value."""
    values = draw(st.lists(st.integers(0, final), min_size=n_polls, max_size=n_polls))
    if draw(st.booleans()):
        values.sort()  # the usual case: late data revised upwards
    shown = draw(st.lists(st.booleans(), min_size=n_polls, max_size=n_polls))
    return [v if s else None for v, s in zip(values, shown, strict=True)]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n_points = draw(st.integers(1, 10))
    n_polls = draw(st.integers(1, 6))  # plus the final poll
    size = n_polls + 1
    forwards = sorted(draw(st.lists(st.integers(0, n_points), min_size=size, max_size=size)))
    forgets = [draw(st.sampled_from([w, w, w, 0, w // 2])) for w in forwards]
    finals = {k: {t: draw(st.integers(0, 20)) for t in range(n_points)} for k in KEYS}
    reads = {k: {t: draw(partial_reads(f, n_polls)) for t, f in finals[k].items()} for k in KEYS}
    # Send is there from the first poll, Bounce may first appear later (or only at the end).
    joins = {"Send": 0, "Bounce": draw(st.integers(0, n_polls))}
    windows = list(itertools.accumulate(forgets, max))
    polls = []
    for i in range(size):
        stale = draw(st.booleans())  # does this poll re-list points that left the window?
        shown = {
            key: {
                float(t): float(finals[key][t] if i == n_polls else reads[key][t][i] or 0)
                for t in finals[key]
                if (i == n_polls or reads[key][t][i] is not None) and (t >= windows[i] or stale)
            }
            for key in KEYS
            if joins[key] <= i
        }
        polls.append(Poll(forgets[i], windows[i], shown))
    return Scenario(finals, polls)


def _in_window(poll: Poll, key: str) -> dict[float, float]:
    return {t: v for t, v in poll.shown.get(key, {}).items() if t >= poll.window}


def truth_so_far(scenario: Scenario, polls: int) -> dict[str, float]:
    """What really happened to the points shown inside the window in the first ``polls``."""
    truth = {}
    for key in KEYS:
        baseline = _in_window(scenario.polls[0], key)
        shown = {t for poll in scenario.polls[:polls] for t in _in_window(poll, key)}
        truth[key] = sum(scenario.finals[key][int(t)] - baseline.get(t, 0.0) for t in shown)
    return truth


def expected(scenario: Scenario) -> dict[str, float]:
    """The totals the counter rules ask for, from the ground truth and what the polls showed."""
    first, last = scenario.polls[0], scenario.polls[-1]
    totals = {}
    for key in KEYS:
        baseline = _in_window(first, key)
        best: dict[float, float] = {}
        for poll in scenario.polls:
            for t, v in _in_window(poll, key).items():
                best[t] = max(best.get(t, v), v)
        totals[key] = sum(
            (scenario.finals[key][int(t)] if t >= last.window else best[t]) - baseline.get(t, 0)
            for t in best
        )
        if key not in first.shown and key in last.shown and _born_at(scenario, key) is last:
            # A late series shows 0 at its first poll: that poll itself, not an earlier
            # one that happens to show the same (polls are compared by identity).
            totals[key] = 0.0
    return totals


def _born_at(scenario: Scenario, key: str) -> Poll:
    return next(poll for poll in scenario.polls if key in poll.shown)


# Found by a run next to the scale benchmark: Bounce is born at the second poll, and the
# last poll shows exactly what the second did (the oracle once took it for the birth).
SAME_AS_ITS_BIRTH = Scenario(
    finals={"Send": {0: 0}, "Bounce": {0: 1}},
    polls=[
        Poll(0, 0, {"Send": {}}),
        Poll(0, 0, {"Send": {0.0: 0.0}, "Bounce": {0.0: 1.0}}),
        *[Poll(0, 0, {"Send": {}, "Bounce": {}}) for _ in range(3)],
        Poll(0, 0, {"Send": {0.0: 0.0}, "Bounce": {0.0: 1.0}}),
    ],
)


@settings(max_examples=400, deadline=None)
@given(scenarios())
@example(SAME_AS_ITS_BIRTH)
def test_totals_follow_the_spec_for_any_sequence_of_windows(scenario: Scenario) -> None:
    c: WindowCounters[str] = WindowCounters()
    previous: dict[str, float] = {}
    for done, poll in enumerate(scenario.polls, start=1):
        c.update(poll.shown, forget_before=poll.forget_before)
        totals = c.totals()
        for key, total in previous.items():
            assert totals[key] >= total, "a counter decreased"
        truth = truth_so_far(scenario, done)
        for key, total in totals.items():
            assert total <= truth[key], "counted more than really happened"
        previous = totals
    assert previous == expected(scenario)


def test_rebaseline_counts_only_datapoints_after_what_was_counted() -> None:
    """A new grid (CloudWatch period 300 -> 60): points starting before the end of what
    was counted are a baseline; later ones count; the total is kept."""
    c: WindowCounters[str] = WindowCounters()
    c.update({"Send": {0: 5.0, 300: 5.0}}, forget_before=0)
    c.update({"Send": {0: 5.0, 300: 7.0}}, forget_before=0)  # +2
    c.rebaseline(600.0)
    c.update({"Send": {float(t): 1.0 for t in range(0, 600, 60)}}, forget_before=0)
    assert c.totals() == {"Send": 2.0}
    c.update({"Send": {540.0: 2.0, 600.0: 3.0}}, forget_before=0)
    assert c.totals() == {"Send": 5.0}  # only the point at 600 counts
