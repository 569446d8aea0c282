"""Change points in run histories: where a series of runs changes regime, and how sure we are.

    >>> failed = [0] * 60 + [1, 0, 1, 1, 1, 0, 1, 1] * 5
    >>> [change.index for change in binary_change_points(failed)]
    [60]
    >>> best_binary_split([0, 0, 0, 1]).p_value > 0.2       # a split exists, it means nothing
    True

Every workflow has a flaky baseline (a few % of runs fail for transient reasons), so "the
first failing run" is the wrong answer to "where did the regression begin". These functions
test, for a series of runs oldest first, whether its level changes, and where.

Statistics
    Binary series (1 = the run is failing): at every split t the Bernoulli log-likelihood
    ratio of "rate before != rate after" against "one rate", as G = 2*LLR, from cumulative
    sums (O(n); 0*log 0 = 0, so a baseline without failures works). Level series (e.g. a
    model's AUC): the same scan over the ranks of the values, Z^2 of the standardised
    Mann-Whitney rank sum of the runs before t (Pettitt's statistic, standardised). Ranks, not a Gaussian
    mean shift, because one bad run (an AUC of 0.5 among 0.92s) must neither hide a shift
    nor make one: a rank moves a sum by at most n, a raw value without bound. The levels
    reported for a level series are segment medians.

Significance (the p-value accounts for the search over every split)
    The null hypothesis is exchangeability: every order of the segment's runs is equally
    likely. The p-value is that of the maximum statistic over the candidate splits.

    - Segments of up to PERMUTATION_MAX_N runs: a Monte Carlo permutation test with
      PERMUTATIONS shuffles (seeded, so deterministic), stopped early after STOP_EXCEEDANCES
      shuffles reach the observed maximum (Besag & Clifford's sequential p-value, still
      exact, so a stationary history costs a few dozen shuffles). A permutation p-value is
      at least 1/(PERMUTATIONS + 1). For a binary segment we first take the union bound
      over splits of each split's exact (hypergeometric) tail; when that bound is already
      below 1/(PERMUTATIONS + 1) no shuffle could say more, and the bound is the p-value.
    - Longer segments: Bonferroni over the candidate splits with the chi-square(1) tail of
      the statistic. Conservative: neighbouring splits are nearly the same test, so the
      union bound overstates the truth by orders of magnitude at these sizes, far more
      than the chi-square tail of a single split can err (tests/test_changepoint.py checks
      it against the permutation test just above the cross-over).

Several change points
    Binary segmentation: test the best split of the whole series; if significant at alpha,
    keep it and test both sides, until segments are shorter than 2*min_size. Then each change
    point is moved to the best split between its neighbours, its counts and p-value are
    recomputed against them, and the least significant one is dropped while any is above
    alpha (a split found in a segment that held two changes can fade once both are known).

Onset range
    [earliest, latest] holds every split whose statistic is within ONSET_DROP of the
    maximum in the segment. For a change in a long series the drop 2*(LLR(best) -
    LLR(true)) behaves like the maximum of two independent Brownian motions with drift, so
    P(drop > x) ~ 1 - (1 - exp(-x/2))**2 and x = 7.35 gives 95 % coverage; the chi-square
    value 3.84 would cover about 73 %.

Limits
    Each segment binary segmentation tests is tested at alpha, so a history with several
    real changes picks up a spurious extra one at about alpha per extra segment. Above
    PERMUTATION_MAX_N the Bonferroni bound needs about twice the statistic a permutation
    test would, and it assumes few ties: a level series of counts or of two values longer
    than that can be flagged for one rare value near an end (use binary_change_points
    for two-valued series). An analytic p-value too small for a float is reported as 0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from runreplay.errors import InvalidSeries

PERMUTATION_MAX_N = 10_000
"""Segments up to this many runs get a permutation test; longer ones the Bonferroni bound."""
PERMUTATIONS = 999
"""Shuffles of a permutation test that does not stop early: p-values resolve to 0.001."""
STOP_EXCEEDANCES = 20
"""A permutation test stops once this many shuffles reach the observed statistic."""
ONSET_DROP = 7.35
"""Splits whose statistic is within this of the best one form the onset range (~95 %)."""
REFINE_PASSES = 5
"""At most this many passes moving change points to the best split between neighbours."""

_BLOCK_CELLS = 1 << 20  # shuffled cells per block: enough to vectorise, few enough for cache
_FIRST_BLOCK = 50  # shuffles in the first block; a stationary history stops within it


@dataclass(frozen=True)
class ChangePoint:
    """Where a series changes regime, with the evidence.

    index: first index (0-based) of the new regime. earliest <= index <= latest: where
    the onset plausibly lies (see ONSET_DROP). n_before / n_after: runs from the previous
    change point (or the start) to index, and from index to the next one (or the end).
    k_before / k_after: failing runs in those (binary series; None for level series).
    level_before / level_after: failure rate k/n (binary) or median value (level).
    statistic: G = 2*LLR (binary) or rank Z^2 (level) at index. p_value: of the maximum
    statistic over all candidate splits of that segment. increase: the level goes up
    (binary: the failure rate rises; level: the values' ranks rise).
    """

    index: int
    earliest: int
    latest: int
    n_before: int
    n_after: int
    k_before: int | None
    k_after: int | None
    level_before: float
    level_after: float
    statistic: float
    p_value: float
    increase: bool


@dataclass(frozen=True)
class _Split:
    """The best split of one segment [start, end): absolute indices."""

    index: int
    statistic: float
    earliest: int
    latest: int


def _tolerance(observed: float) -> float:
    """How close a shuffled statistic must come to count as reaching the observed one."""
    return 1e-8 * max(1.0, observed)


def _bonferroni(observed: float, candidates: int) -> float:
    """Union bound over candidate splits with the chi-square(1) tail of each."""
    return min(1.0, candidates * float(special.chdtrc(1, observed)))


def _monte_carlo_p(
    observed: float, permuted_max: Callable[[int], np.ndarray], length: int
) -> float:
    """Besag-Clifford sequential permutation p-value of the observed maximum statistic."""
    threshold = observed - _tolerance(observed)
    reached, done, block = 0, 0, _FIRST_BLOCK
    largest = max(_FIRST_BLOCK, _BLOCK_CELLS // max(length, 1))
    while done < PERMUTATIONS:
        size = min(block, PERMUTATIONS - done)
        hits = np.cumsum(permuted_max(size) >= threshold)
        if reached + hits[-1] >= STOP_EXCEEDANCES:
            stop = done + int(np.searchsorted(hits, STOP_EXCEEDANCES - reached)) + 1
            return STOP_EXCEEDANCES / stop
        reached += int(hits[-1])
        done += size
        block = min(2 * block, largest)
    return (reached + 1) / (PERMUTATIONS + 1)


def _xlogx(n: int) -> np.ndarray:
    """m*log(m) for m = 0..n, with 0*log(0) = 0."""
    m = np.arange(n + 1, dtype=np.float64)
    return m * np.log(np.maximum(m, 1.0))


def _bernoulli_g(
    t: np.ndarray, k: np.ndarray, length: int, total: int, xlogx: np.ndarray
) -> np.ndarray:
    """G = 2*LLR of two rates vs one, for splits after t of `length` runs with k of `total` before."""
    one_rate = xlogx[total] + xlogx[length - total] - xlogx[length]
    two_rates = (
        xlogx[k]
        + xlogx[t - k]
        - xlogx[t]
        + xlogx[total - k]
        + xlogx[length - t - total + k]
        - xlogx[length - t]
    )
    return np.maximum(2.0 * (two_rates - one_rate), 0.0)


def _nearest_reaching(
    statistic: Callable[[np.ndarray], np.ndarray],
    inner: np.ndarray,
    outer: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per split, the count nearest `inner` towards `outer` whose statistic reaches threshold.

    The statistic grows monotonically from inner to outer (G is convex in the count, least
    at the expected count). Returns the counts and whether `outer` reaches at all.
    """
    reaches = statistic(outer) >= threshold
    at_inner = statistic(inner) >= threshold
    near, far = inner.copy(), outer.copy()  # statistic(far) >= threshold, statistic(near) < it
    while True:
        open_ = reaches & ~at_inner & (np.abs(far - near) > 1)
        if not open_.any():
            break
        middle = (near + far) // 2
        high = statistic(middle) >= threshold
        far = np.where(open_ & high, middle, far)
        near = np.where(open_ & ~high, middle, near)
    return np.where(at_inner, inner, far), reaches


class _BinaryScan:
    """The Bernoulli scan of a 0/1 series: statistics, p-values and change points of segments."""

    def __init__(self, failed: np.ndarray) -> None:
        self.n = len(failed)
        self.cum = np.concatenate(([0], np.cumsum(failed, dtype=np.int64)))
        self.xlogx = _xlogx(self.n)
        self._log_factorial: np.ndarray | None = None

    def failures(self, start: int, end: int) -> int:
        return int(self.cum[end] - self.cum[start])

    def statistics(
        self, start: int, end: int, min_size: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        length, total = end - start, self.failures(start, end)
        if length < 2 * min_size or total in (0, length):
            return None
        t = np.arange(min_size, length - min_size + 1)
        k = self.cum[start + t] - self.cum[start]
        return t, _bernoulli_g(t, k, length, total, self.xlogx)

    def p_value(
        self, start: int, end: int, min_size: int, observed: float, rng: np.random.Generator
    ) -> float:
        length, total = end - start, self.failures(start, end)
        if observed <= _tolerance(0.0):
            return 1.0
        if length > PERMUTATION_MAX_N:
            return _bonferroni(observed, length - 2 * min_size + 1)
        bound = self._exact_union_bound(length, total, min_size, observed)
        if bound < 1.0 / (PERMUTATIONS + 1):
            return bound
        return _monte_carlo_p(
            observed, lambda count: self._permuted_max(length, total, min_size, count, rng), length
        )

    def _exact_union_bound(self, length: int, total: int, min_size: int, observed: float) -> float:
        """Sum over splits of the exact chance (hypergeometric, under shuffling) that the split alone
        reaches `observed`: an upper bound on the permutation p-value."""
        if self._log_factorial is None:
            self._log_factorial = special.gammaln(np.arange(min(self.n, PERMUTATION_MAX_N) + 2))
        log_factorial, xlogx = self._log_factorial[1:], self.xlogx
        t = np.arange(min_size, length - min_size + 1)
        threshold = observed - _tolerance(observed)
        lowest, highest = np.maximum(0, total - (length - t)), np.minimum(t, total)
        centre = t * total / length

        def statistic(k: np.ndarray) -> np.ndarray:
            return _bernoulli_g(t, k, length, total, xlogx)

        def pmf(k: np.ndarray) -> np.ndarray:
            rest = length - t - total + k
            log_p = (
                log_factorial[t]
                - log_factorial[k]
                - log_factorial[t - k]
                + log_factorial[length - t]
                - log_factorial[total - k]
                - log_factorial[rest]
                - log_factorial[length]
                + log_factorial[total]
                + log_factorial[length - total]
            )
            return np.exp(log_p)

        def tail(k: np.ndarray, reaches: np.ndarray, ratio: np.ndarray) -> np.ndarray:
            # The hypergeometric pmf is log-concave, so beyond k the terms shrink at least
            # geometrically with ratio `ratio`; where it is not below 1, bound by 1.
            with np.errstate(divide="ignore", invalid="ignore"):
                bounded = np.where(ratio < 1.0, pmf(k) / (1.0 - ratio), 1.0)
            return np.where(reaches, np.minimum(bounded, 1.0), 0.0)

        up, up_reaches = _nearest_reaching(
            statistic, np.ceil(centre).astype(np.int64), highest, threshold
        )
        up_ratio = (t - up) * (total - up) / ((up + 1.0) * (length - t - total + up + 1.0))
        down, down_reaches = _nearest_reaching(
            statistic, np.floor(centre).astype(np.int64), lowest, threshold
        )
        down_ratio = down * (length - t - total + down) / ((t - down + 1.0) * (total - down + 1.0))
        union = tail(up, up_reaches, up_ratio).sum() + tail(down, down_reaches, down_ratio).sum()
        return min(1.0, float(union))

    def _permuted_max(
        self, length: int, total: int, min_size: int, count: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Maximum G over splits for `count` shuffles of a segment with `total` failures.

        Between two runs of the rarer kind the count before a split is constant and G is
        convex in t, so the maximum lies at a split next to one of them or at the ends of the
        allowed range: 2*min(total, length - total) + 2 splits per shuffle instead of length.
        """
        rare = min(total, length - total)  # G is symmetric in failing and passing
        if length > 500 + 2 * rare:  # drawing positions beats shuffling the whole segment
            draws = [rng.choice(length, rare, replace=False, shuffle=False) for _ in range(count)]
            positions = np.stack(draws)
        else:
            shuffled = rng.permuted(np.broadcast_to(np.arange(length), (count, length)), axis=1)
            positions = shuffled[:, :rare]
        positions.sort(axis=1)
        first, last = min_size, length - min_size
        k_first = (positions < first).sum(axis=1)
        k_last = (positions < last).sum(axis=1)
        rank = np.broadcast_to(np.arange(rare), positions.shape)
        t = np.concatenate((positions, positions + 1), axis=1)
        k = np.concatenate((rank, rank + 1), axis=1)
        inside = (t >= first) & (t <= last)
        t = np.where(inside, t, first)
        k = np.where(inside, k, k_first[:, None])
        best = _bernoulli_g(t, k, length, rare, self.xlogx).max(axis=1)
        ends = np.maximum(
            _bernoulli_g(np.full(count, first), k_first, length, rare, self.xlogx),
            _bernoulli_g(np.full(count, last), k_last, length, rare, self.xlogx),
        )
        return np.maximum(best, ends)

    def change_point(self, start: int, split: _Split, end: int, p_value: float) -> ChangePoint:
        n_before, n_after = split.index - start, end - split.index
        k_before, k_after = self.failures(start, split.index), self.failures(split.index, end)
        return ChangePoint(
            index=split.index,
            earliest=split.earliest,
            latest=split.latest,
            n_before=n_before,
            n_after=n_after,
            k_before=k_before,
            k_after=k_after,
            level_before=k_before / n_before,
            level_after=k_after / n_after,
            statistic=split.statistic,
            p_value=p_value,
            increase=k_after * n_before > k_before * n_after,
        )


class _LevelScan:
    """The rank scan of a numeric series: statistics, p-values and change points of segments."""

    def __init__(self, values: np.ndarray) -> None:
        self.n = len(values)
        self.values = values
        self._ranks: dict[tuple[int, int], tuple[np.ndarray, float]] = {}

    def _centred_ranks(self, start: int, end: int) -> tuple[np.ndarray, float]:
        """Mid-ranks of the segment minus their mean, and their population variance."""
        key = (start, end)
        if key not in self._ranks:
            ranks = stats.rankdata(self.values[start:end])
            centred = ranks - ranks.mean()
            self._ranks[key] = (centred, float(np.mean(centred**2)))
        return self._ranks[key]

    def _scale(self, t: np.ndarray, length: int, variance: float) -> np.ndarray:
        # Var(rank sum of t runs drawn without replacement) = t (L - t) / (L - 1) * variance.
        return (length - 1) / (t * (length - t) * variance)

    def statistics(
        self, start: int, end: int, min_size: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        length = end - start
        if length < 2 * min_size:
            return None
        centred, variance = self._centred_ranks(start, end)
        if variance <= 1e-12:
            return None
        t = np.arange(min_size, length - min_size + 1)
        rank_sum = np.cumsum(centred)[t - 1]
        return t, rank_sum**2 * self._scale(t, length, variance)

    def p_value(
        self, start: int, end: int, min_size: int, observed: float, rng: np.random.Generator
    ) -> float:
        length = end - start
        if observed <= _tolerance(0.0):
            return 1.0
        if length > PERMUTATION_MAX_N:
            return _bonferroni(observed, length - 2 * min_size + 1)
        centred, variance = self._centred_ranks(start, end)
        t = np.arange(min_size, length - min_size + 1)
        scale = self._scale(t, length, variance)

        def permuted_max(count: int) -> np.ndarray:
            shuffled = rng.permuted(np.broadcast_to(centred, (count, length)), axis=1)
            rank_sums = np.cumsum(shuffled, axis=1)[:, min_size - 1 : length - min_size]
            rank_sums *= rank_sums
            rank_sums *= scale
            return rank_sums.max(axis=1)

        return _monte_carlo_p(observed, permuted_max, length)

    def change_point(self, start: int, split: _Split, end: int, p_value: float) -> ChangePoint:
        centred, _ = self._centred_ranks(start, end)
        return ChangePoint(
            index=split.index,
            earliest=split.earliest,
            latest=split.latest,
            n_before=split.index - start,
            n_after=end - split.index,
            k_before=None,
            k_after=None,
            level_before=float(np.median(self.values[start : split.index])),
            level_after=float(np.median(self.values[split.index : end])),
            statistic=split.statistic,
            p_value=p_value,
            increase=bool(centred[: split.index - start].sum() < 0),
        )


_Scan = _BinaryScan | _LevelScan


class _Segments:
    """Best splits and p-values of the segments of one series, each computed once."""

    def __init__(self, scan: _Scan, min_size: int, seed: int) -> None:
        self.scan, self.min_size, self.seed = scan, min_size, seed
        self._splits: dict[tuple[int, int], _Split | None] = {}
        self._p_values: dict[tuple[int, int], float] = {}

    def best(self, start: int, end: int) -> _Split | None:
        """The split of [start, end) with the largest statistic, and its onset range."""
        key = (start, end)
        if key not in self._splits:
            scanned = self.scan.statistics(start, end, self.min_size)
            split = None
            if scanned is not None:
                t, statistic = scanned
                top = int(np.argmax(statistic))
                near = np.flatnonzero(statistic >= statistic[top] - ONSET_DROP)
                split = _Split(
                    index=start + int(t[top]),
                    statistic=float(statistic[top]),
                    earliest=start + int(t[near[0]]),
                    latest=start + int(t[near[-1]]),
                )
            self._splits[key] = split
        return self._splits[key]

    def p_value(self, start: int, end: int) -> float:
        """p-value of the best split of [start, end); 1.0 when there is none."""
        key = (start, end)
        if key not in self._p_values:
            split = self.best(start, end)
            if split is None:
                self._p_values[key] = 1.0
            else:
                # One generator per segment: its p-value does not depend on the search order.
                rng = np.random.default_rng([self.seed, start, end])
                self._p_values[key] = self.scan.p_value(
                    start, end, self.min_size, split.statistic, rng
                )
        return self._p_values[key]

    def change_point(self, start: int, end: int) -> ChangePoint | None:
        split = self.best(start, end)
        if split is None:
            return None
        return self.scan.change_point(start, split, end, self.p_value(start, end))


def _bounds(indices: list[int], n: int) -> list[tuple[int, int]]:
    """For each change point, its neighbours (or the ends of the series)."""
    if not indices:
        return []
    return list(zip([0, *indices[:-1]], [*indices[1:], n], strict=True))


def _change_points(scan: _Scan, alpha: float, min_size: int, seed: int) -> list[ChangePoint]:
    """Binary segmentation, then refinement against neighbours and pruning, oldest first."""
    segments = _Segments(scan, min_size, seed)
    found, pending = [], [(0, scan.n)]
    while pending:
        start, end = pending.pop()
        split = segments.best(start, end)
        if split is None or segments.p_value(start, end) > alpha:
            continue
        found.append(split.index)
        pending += [(start, split.index), (split.index, end)]
    indices = sorted(found)
    while indices:
        for _ in range(REFINE_PASSES):
            moved = False
            for i in range(len(indices)):
                start = indices[i - 1] if i else 0
                end = indices[i + 1] if i + 1 < len(indices) else scan.n
                split = segments.best(start, end)
                if split is not None and split.index != indices[i]:
                    indices[i], moved = split.index, True
            if not moved:
                break
        p_values = [segments.p_value(start, end) for start, end in _bounds(indices, scan.n)]
        weakest = int(np.argmax(p_values))
        if p_values[weakest] <= alpha:
            break
        del indices[weakest]
    changes = [segments.change_point(start, end) for start, end in _bounds(indices, scan.n)]
    return [change for change in changes if change is not None]


def _check_options(alpha: float, min_size: int, seed: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidSeries(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) or min_size < 1:
        raise InvalidSeries(f"min_size must be a positive integer, got {min_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidSeries(f"seed must be a non-negative integer, got {seed!r}")


def _one_dimensional(series: ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(series)
    if array.ndim != 1:
        raise InvalidSeries(f"{what} must be a 1-D sequence, got shape {array.shape}")
    return array


def _binary_series(failed: ArrayLike) -> np.ndarray:
    array = _one_dimensional(failed, "failed")
    if array.dtype == np.bool_:
        return array.astype(np.int8)
    numeric = array.dtype.kind in "iuf"
    valid = ((array == 0) | (array == 1)) if numeric else np.zeros(array.shape, dtype=bool)
    if not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        raise InvalidSeries(
            f"failed must hold only 0/1 (or booleans); index {bad} holds {array[bad].item()!r}: "
            "map each run's status to 1 = failing, 0 = not failing first"
        )
    return array.astype(np.int8)


def _level_series(values: ArrayLike) -> np.ndarray:
    array = _one_dimensional(values, "values")
    if array.size and array.dtype.kind not in "iufb":
        raise InvalidSeries(f"values must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidSeries(
            f"values must be finite; index {bad} holds {array[bad].item()!r}: "
            "drop the runs without a value first"
        )
    return array


def binary_change_points(
    failed: ArrayLike, *, alpha: float = 0.01, min_size: int = 5, seed: int = 0
) -> list[ChangePoint]:
    """Every significant change in the failure rate of a 0/1 series (1 = failing), oldest first.

    Each change point is significant at `alpha` against its neighbours; segments shorter than
    2*min_size are not split. [] when nothing changes. Deterministic for a given `seed`.

        >>> [(c.index, c.increase) for c in binary_change_points([0] * 40 + [1] * 30 + [0] * 40)]
        [(40, True), (70, False)]
    """
    _check_options(alpha, min_size, seed)
    return _change_points(_BinaryScan(_binary_series(failed)), alpha, min_size, seed)


def best_binary_split(failed: ArrayLike, *, min_size: int = 1, seed: int = 0) -> ChangePoint | None:
    """The single most likely split of a 0/1 series, significant or not (its p-value says).

    None when no split is possible: fewer than 2*min_size runs, or every run alike.

        >>> best_binary_split([0] * 20 + [1] * 20).index
        20
    """
    _check_options(0.5, min_size, seed)
    scan = _BinaryScan(_binary_series(failed))
    return _Segments(scan, min_size, seed).change_point(0, scan.n)


def level_change_points(
    values: ArrayLike, *, alpha: float = 0.01, min_size: int = 5, seed: int = 0
) -> list[ChangePoint]:
    """Every significant shift in the level of a numeric series (ranks; medians reported).

    Same procedure as binary_change_points, with the rank statistic; `values` must be finite.

        >>> changes = level_change_points([0.92, 0.93, 0.91] * 20 + [0.85, 0.86, 0.84] * 10)
        >>> [(c.index, c.level_before, c.level_after) for c in changes]
        [(60, 0.92, 0.85)]
    """
    _check_options(alpha, min_size, seed)
    return _change_points(_LevelScan(_level_series(values)), alpha, min_size, seed)


def best_level_split(values: ArrayLike, *, min_size: int = 1, seed: int = 0) -> ChangePoint | None:
    """The single most likely level shift of a numeric series, significant or not.

    None when no split is possible: fewer than 2*min_size values, or every value equal.
    """
    _check_options(0.5, min_size, seed)
    scan = _LevelScan(_level_series(values))
    return _Segments(scan, min_size, seed).change_point(0, scan.n)


def _profile(scan: _BinaryScan | _LevelScan) -> np.ndarray:
    found = scan.statistics(0, scan.n, 1)
    profile = np.zeros(max(scan.n - 1, 0))
    if found is not None:
        t, statistic = found
        profile[t - 1] = statistic
    return profile


def binary_statistics(failed: ArrayLike) -> np.ndarray:
    """G = 2*LLR of every split of a 0/1 series: element i is the split before run i + 1
    (n - 1 values; 0 where the series is constant). How much likelier each onset is than
    another: what moves an onset to the run where an input changed.

        >>> int(binary_statistics([0, 0, 1, 1]).argmax())
        1
    """
    return _profile(_BinaryScan(_binary_series(failed)))


def level_statistics(values: ArrayLike) -> np.ndarray:
    """The rank statistic of every split of a numeric series, as binary_statistics."""
    return _profile(_LevelScan(_level_series(values)))
