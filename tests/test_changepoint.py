"""Change points in run histories (runreplay.changepoint): power, calibration, onset ranges, bounds.

The property tests draw hundreds of seeded random histories and assert rates measured on
them, with margin; the rates measured when these tests were written are in each docstring.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from runreplay import changepoint
from runreplay.changepoint import (
    PERMUTATION_MAX_N,
    ChangePoint,
    InvalidSeries,
    best_binary_split,
    best_level_split,
    binary_change_points,
    level_change_points,
)


def _bernoulli(rng: np.random.Generator, *segments: tuple[int, float]) -> np.ndarray:
    """A 0/1 history: for each (runs, failure rate) segment, that many independent runs."""
    return np.concatenate([rng.random(runs) < rate for runs, rate in segments]).astype(np.int8)


def _nearest(changes: list[ChangePoint], index: int) -> ChangePoint:
    return min(changes, key=lambda change: abs(change.index - index))


def test_single_onset_is_found_covered_and_located() -> None:
    """Measured on these 300 histories: found 99.7 %, covered 97.0 %, within 3 runs 90.7 %."""
    rng = np.random.default_rng(2024)
    found = covered = close = 0
    histories = 300
    for _ in range(histories):
        before, after = rng.integers(20, 201, size=2)
        failed = _bernoulli(rng, (before, rng.uniform(0, 0.1)), (after, rng.uniform(0.4, 0.9)))
        changes = binary_change_points(failed)
        if not changes:
            continue
        change = _nearest(changes, before)
        found += 1
        covered += change.earliest <= before <= change.latest
        close += abs(change.index - before) <= 3
    assert found / histories >= 0.95
    assert covered / histories >= 0.95
    assert close / histories >= 0.80


def test_stationary_flaky_histories_are_not_flagged() -> None:
    """Measured: 1.5 % of these 400 histories flagged at alpha = 0.01 (the test's level)."""
    rng = np.random.default_rng(7)
    flagged = 0
    histories = 400
    for _ in range(histories):
        runs = int(np.exp(rng.uniform(np.log(40), np.log(2000))))
        flagged += bool(binary_change_points(_bernoulli(rng, (runs, rng.uniform(0, 0.1)))))
    assert flagged / histories <= 0.03


def test_best_split_p_values_are_uniform_on_stationary_histories() -> None:
    """Neither liberal nor needlessly conservative. Measured: P(p <= 0.05) = 3.6 %, P(p <= 0.2) = 18 %."""
    rng = np.random.default_rng(9)
    p_values = []
    for _ in range(500):
        failed = _bernoulli(rng, (int(rng.integers(40, 400)), rng.uniform(0.02, 0.1)))
        split = best_binary_split(failed, min_size=5)
        p_values.append(1.0 if split is None else split.p_value)
    p_values = np.array(p_values)
    assert np.mean(p_values <= 0.05) <= 0.08
    assert 0.12 <= np.mean(p_values <= 0.2) <= 0.28


def test_two_regressions_and_a_recovery_are_all_found() -> None:
    """Measured on these 200: exactly the three with the right kinds 96 %, all within 5 runs 90 %."""
    rng = np.random.default_rng(11)
    right = close = 0
    histories = 200
    for _ in range(histories):
        failed = _bernoulli(rng, (60, 0.02), (40, 0.7), (60, 0.03), (40, 0.6))
        changes = binary_change_points(failed)
        if [change.increase for change in changes] != [True, False, True]:
            continue
        right += 1
        close += all(abs(c.index - t) <= 5 for c, t in zip(changes, (60, 100, 160), strict=True))
    assert right / histories >= 0.90
    assert close / histories >= 0.80


def test_change_point_counts_are_against_neighbouring_change_points() -> None:
    failed = np.array([0] * 60 + [1, 1, 0, 1] * 10 + [0] * 60 + [1, 0, 1, 1] * 10, dtype=np.int8)
    changes = binary_change_points(failed)
    assert [(c.index, c.increase) for c in changes] == [(60, True), (100, False), (160, True)]
    middle = changes[1]
    assert (middle.n_before, middle.k_before) == (40, 30)
    assert (middle.n_after, middle.k_after) == (60, 0)
    assert (middle.level_before, middle.level_after) == (0.75, 0.0)
    assert changes[0].n_before == 60 and changes[2].n_after == 40
    for change in changes:
        assert change.earliest <= change.index <= change.latest
        assert change.p_value <= 0.01 and change.statistic > 0


@pytest.mark.parametrize("baseline", [0.0, 0.1])
def test_onset_after_a_clean_or_flaky_baseline(baseline: float) -> None:
    """Measured on these 100: found 100 % / 99 %, covered 99 % / 94 % (clean / 10 % baseline)."""
    rng = np.random.default_rng(3)
    found = covered = 0
    for _ in range(100):
        failed = _bernoulli(rng, (80, baseline), (40, 0.6))
        changes = binary_change_points(failed)
        if not changes:
            continue
        change = _nearest(changes, 80)
        found += change.increase
        covered += change.earliest <= 80 <= change.latest
        assert change.k_before == failed[change.index - change.n_before : change.index].sum()
    assert found >= 97 and covered >= 88


def test_weak_evidence_is_not_significant_but_the_best_split_reports_it() -> None:
    """20 clean runs, then 4 failures in 20: exhaustive p = 0.094 (MC measured 0.097)."""
    failed = np.zeros(40, dtype=np.int8)
    failed[[22, 27, 31, 36]] = 1
    assert binary_change_points(failed, alpha=0.01) == []
    split = best_binary_split(failed)
    assert split is not None
    assert 20 <= split.index <= 23 and split.increase
    assert 0.03 <= split.p_value <= 0.2
    assert (split.k_before, split.k_after) == (0, 4)


def _exhaustive_max_g(length: int, failures: int, min_size: int) -> np.ndarray:
    """The maximum G over splits for every arrangement of `failures` among `length` runs."""
    combos = np.array(list(itertools.combinations(range(length), failures)))
    arrangements = np.zeros((len(combos), length), dtype=np.int64)
    np.put_along_axis(arrangements, combos, 1, axis=1)
    t = np.arange(min_size, length - min_size + 1)
    k = np.cumsum(arrangements, axis=1)[:, t - 1]
    xlogx = changepoint._xlogx(length)
    return changepoint._bernoulli_g(np.broadcast_to(t, k.shape), k, length, failures, xlogx).max(1)


@pytest.mark.parametrize("positions", [(22, 27, 31, 36), (20, 25, 30, 35), (26, 29, 33, 38)])
def test_permutation_p_value_matches_exhaustive_enumeration(positions: tuple[int, ...]) -> None:
    failed = np.zeros(40, dtype=np.int8)
    failed[list(positions)] = 1
    split = best_binary_split(failed)
    exact = np.mean(_exhaustive_max_g(40, 4, 1) >= split.statistic - 1e-9)
    assert exact / 1.5 <= split.p_value <= exact * 1.5


@pytest.mark.parametrize("min_size", [1, 3])
def test_exact_union_bound_is_never_below_the_exhaustive_p_value(min_size: int) -> None:
    length = 14
    scan = changepoint._BinaryScan(np.zeros(length, dtype=np.int8))
    for failures in range(1, length):
        maxima = _exhaustive_max_g(length, failures, min_size)
        for observed in np.unique(maxima[maxima > 1e-9]):
            exact = np.mean(maxima >= observed - 1e-9)
            bound = scan._exact_union_bound(length, failures, min_size, float(observed))
            assert bound >= exact * (1 - 1e-9), (failures, observed)


@pytest.mark.parametrize("failures", [3, 30, 600, 6000])
def test_bonferroni_bound_is_conservative_just_above_the_crossover(failures: int) -> None:
    """At the permutation test's 99 % critical value the analytic p-value is at least 1 %."""
    length, min_size = PERMUTATION_MAX_N + 2000, 5
    scan = changepoint._BinaryScan(np.zeros(length, dtype=np.int8))
    maxima = scan._permuted_max(length, failures, min_size, 300, np.random.default_rng(failures))
    critical = float(np.quantile(maxima, 0.99))
    assert changepoint._bonferroni(critical, length - 2 * min_size + 1) >= 0.01


def test_rank_bonferroni_bound_is_conservative_just_above_the_crossover() -> None:
    length, min_size = PERMUTATION_MAX_N + 2000, 5
    scan = changepoint._LevelScan(np.random.default_rng(1).standard_normal(length))
    observed = []
    for seed in range(100):
        shuffled = changepoint._LevelScan(np.random.default_rng(seed).permutation(scan.values))
        _, statistic = shuffled.statistics(0, length, min_size)
        observed.append(statistic.max())
    critical = float(np.quantile(observed, 0.95))
    assert changepoint._bonferroni(critical, length - 2 * min_size + 1) >= 0.05


@pytest.mark.parametrize(
    "series",
    [[], [0], [1], [0, 1], [0] * 50, [1] * 50, [True] * 12],
    ids=["empty", "zero", "one", "pair", "zeros", "ones", "booleans"],
)
def test_constant_or_tiny_series_have_no_change(series: list) -> None:
    assert binary_change_points(series) == []
    assert level_change_points(series) == []
    if len(set(series)) < 2:
        assert best_binary_split(series) is None
        assert best_level_split(series) is None


def test_two_runs_can_still_be_split() -> None:
    split = best_binary_split([0, 1])
    assert (split.index, split.n_before, split.n_after, split.p_value) == (1, 1, 1, 1.0)


def test_large_series_regression_gets_a_tiny_p_value() -> None:
    rng = np.random.default_rng(50)
    failed = _bernoulli(rng, (30_000, 0.03), (20_000, 0.15))
    [change] = binary_change_points(failed)
    assert abs(change.index - 30_000) <= 100
    assert change.earliest <= 30_000 <= change.latest
    assert change.p_value < 1e-100 and change.increase
    assert change.level_before == pytest.approx(0.03, abs=0.005)


def test_large_stationary_series_are_not_flagged() -> None:
    rng = np.random.default_rng(51)
    for _ in range(20):
        failed = _bernoulli(rng, (50_000, rng.uniform(0, 0.1)))
        assert binary_change_points(failed) == []


def test_large_level_series_shift_is_found() -> None:
    rng = np.random.default_rng(52)
    values = 0.9 + 0.01 * rng.standard_normal(30_000)
    values[20_000:] -= 0.002
    [change] = level_change_points(values)
    assert abs(change.index - 20_000) <= 500 and not change.increase
    assert level_change_points(0.9 + 0.01 * rng.standard_normal(30_000)) == []


def test_auc_drop_is_one_level_change_point() -> None:
    """Measured on these 200: exactly one change point, within 2 runs of 60, in 97 %."""
    rng = np.random.default_rng(60)
    right = 0
    histories = 200
    for _ in range(histories):
        auc = np.concatenate(
            [0.92 + 0.01 * rng.standard_normal(60), 0.85 + 0.01 * rng.standard_normal(40)]
        )
        changes = level_change_points(auc)
        if len(changes) != 1 or abs(changes[0].index - 60) > 2:
            continue
        right += 1
        change = changes[0]
        assert change.level_before == pytest.approx(0.92, abs=0.008)
        assert change.level_after == pytest.approx(0.85, abs=0.008)
        assert not change.increase and change.earliest <= 60 <= change.latest
    assert right / histories >= 0.93


@pytest.mark.parametrize("noise", ["gaussian", "heavy-tailed"])
def test_stationary_levels_are_not_flagged(noise: str) -> None:
    """Measured: 0.5 % (gaussian) and 1.0 % (Student t, 2 df) of these 200 flagged."""
    rng = np.random.default_rng(61)
    flagged = 0
    histories = 200
    for _ in range(histories):
        runs = int(rng.integers(30, 500))
        draws = rng.standard_normal(runs) if noise == "gaussian" else rng.standard_t(2, runs)
        flagged += bool(level_change_points(0.9 + 0.01 * draws))
    assert flagged / histories <= 0.04


def test_single_outlier_runs_neither_make_nor_hide_a_level_shift() -> None:
    """Three runs at AUC 0.5 among 100. Measured on these 200: flagged 1 %, shift found 96.5 %."""
    rng = np.random.default_rng(62)
    flagged = found = 0
    histories = 200
    for _ in range(histories):
        auc = 0.92 + 0.01 * rng.standard_normal(100)
        auc[rng.choice(100, 3, replace=False)] = 0.5
        flagged += bool(level_change_points(auc))
        auc[60:] -= 0.03
        found += any(abs(change.index - 60) <= 2 for change in level_change_points(auc))
    assert flagged / histories <= 0.04
    assert found / histories >= 0.93


def test_results_are_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(70)
    failed = _bernoulli(rng, (100, 0.05), (40, 0.3), (100, 0.05))
    values = np.concatenate([rng.standard_normal(80), rng.standard_normal(80) + 0.8])
    for seed in (0, 1):
        assert binary_change_points(failed, seed=seed) == binary_change_points(failed, seed=seed)
        assert best_binary_split(failed, seed=seed) == best_binary_split(failed, seed=seed)
        assert level_change_points(values, seed=seed) == level_change_points(values, seed=seed)
        assert best_level_split(values, seed=seed) == best_level_split(values, seed=seed)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: binary_change_points([0, 1, 2, 0]), "index 2 holds 2"),
        (lambda: binary_change_points([0.0, float("nan")]), "index 1 holds nan"),
        (lambda: binary_change_points(["FAILED", "SUCCEEDED"]), "only 0/1"),
        (lambda: binary_change_points([[0, 1], [1, 0]]), "1-D"),
        (lambda: binary_change_points([0, 1], alpha=1.5), "alpha"),
        (lambda: binary_change_points([0, 1], min_size=0), "min_size"),
        (lambda: best_binary_split([0, 1], seed=-1), "seed"),
        (lambda: level_change_points([0.9, float("inf")]), "index 1 holds inf"),
        (lambda: best_level_split(["a", "b"]), "numbers"),
    ],
)
def test_invalid_input_names_the_problem(call, message: str) -> None:
    with pytest.raises(InvalidSeries, match=message):
        call()


def test_split_statistics_peak_at_the_change_and_match_the_change_point():
    failed = [0] * 30 + [1, 1, 0, 1] * 10
    profile = changepoint.binary_statistics(failed)
    assert len(profile) == len(failed) - 1
    found = changepoint.best_binary_split(failed)
    assert int(profile.argmax()) + 1 == found.index == 30
    assert profile.max() == pytest.approx(found.statistic)
    levels = changepoint.level_statistics([0.92] * 20 + [0.85] * 10)
    assert int(levels.argmax()) + 1 == 20
    assert not changepoint.binary_statistics([0, 0, 0]).any()
