"""Benchmark: diff_runs against DeepDiff (the peer) and a plain flatten-and-compare (the limit).

    python benchmarks/bench_diff.py --leaves 100000

Two runs whose parameters + output hold `--leaves` leaves (nested objects to depth 6, lists
of objects keyed by "id"); the compare run has about 1 % of the leaves changed: values,
types, keys added and removed, and a few elements inserted into keyed lists. Prints, per
baseline, `name: ours X s, baseline Y s, ratio Y/X` (best of `--repeat`), then checks that
the changed paths agree with DeepDiff's wherever both model the data the same way (keyed
lists with insertions are where they differ by design: DeepDiff compares by position).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runreplay.diff import diff_runs  # noqa: E402
from runreplay.paths import format_path  # noqa: E402

SEED = 20261120
MAX_DEPTH = 6


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.randrange(1_000_000)
    if roll < 0.65:
        return round(rng.random() * 1000, 6)
    if roll < 0.9:
        return f"value-{rng.randrange(100_000)}"
    return rng.random() < 0.5


def _tree(rng: random.Random, budget: int, depth: int, counter: list[int]) -> Any:
    """An object holding about `budget` leaves, nested to MAX_DEPTH."""
    if depth >= MAX_DEPTH - 1 or budget <= 8:
        counter[0] += budget
        return {f"f{index}": _scalar(rng) for index in range(budget)}
    if depth >= 2 and rng.random() < 0.25:
        # a list of objects keyed by "id": 5 leaves each
        size = max(2, budget // 5)
        counter[0] += size * 5
        return [
            {
                "id": index,
                "name": f"item-{index}",
                "score": round(rng.random(), 6),
                "count": rng.randrange(1000),
                "enabled": rng.random() < 0.5,
            }
            for index in range(size)
        ]
    fanout = rng.randint(4, 8)
    shares = [budget // fanout] * fanout
    shares[0] += budget - sum(shares)
    return {
        f"k{index}": _tree(rng, share, depth + 1, counter) for index, share in enumerate(shares)
    }


def make_runs(leaves: int, seed: int = SEED) -> tuple[dict, dict, set[str]]:
    """Base and compare run records, and the list paths that got insertions."""
    rng = random.Random(seed)
    counter = [0]
    parameters = _tree(rng, leaves // 2, 1, counter)
    output = _tree(rng, leaves - leaves // 2, 1, counter)
    base = {
        "runId": "run-base",
        "workflowId": "bench",
        "status": "SUCCEEDED",
        "createdAt": "2026-11-20T01:00:00Z",
        "parameters": parameters,
        "output": output,
    }
    compare = orjson.loads(orjson.dumps(base))
    compare["runId"] = "run-compare"
    inserted = _mutate(rng, compare, leaves)
    return base, compare, inserted


def _locations(value: Any, path: list) -> list[tuple[Any, Any, list]]:
    """(container, key, path) of every scalar leaf inside objects."""
    found = []
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, dict | list):
                    stack.append((child, [*where, key]))
                else:
                    found.append((item, key, [*where, key]))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, [*where, index]))
    return found


def _lists(value: Any, path: list) -> list[tuple[list, list]]:
    found = []
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, [*where, key]) for key, child in item.items())
        elif isinstance(item, list):
            found.append((item, where))
    return found


def _mutate(rng: random.Random, run: dict, leaves: int) -> set[str]:
    sections = {"parameters": run["parameters"], "output": run["output"]}
    locations = [
        location
        for name, section in sections.items()
        for location in _locations(section, [name])
        if not isinstance(location[0].get("id"), int)  # keep list elements' ids stable
    ]
    rng.shuffle(locations)
    for container, key, _ in locations[: leaves // 100]:
        value = container[key]
        roll = rng.random()
        if roll < 0.6:  # a new value of the same type
            container[key] = (
                (not value)
                if isinstance(value, bool)
                else value + 1
                if isinstance(value, int | float)
                else value + "-changed"
            )
        elif roll < 0.75:  # a new type
            container[key] = str(value) if not isinstance(value, str) else len(value)
        elif roll < 0.87:
            del container[key]
        else:
            container[f"{key}_new"] = _scalar(rng)
    inserted = set()
    keyed_lists = [
        (items, where)
        for name, section in sections.items()
        for items, where in _lists(section, [name])
    ]
    for items, where in rng.sample(keyed_lists, min(5, len(keyed_lists))):
        position = rng.randrange(len(items) + 1)
        items.insert(
            position,
            {"id": -1, "name": "inserted", "score": 0.5, "count": 1, "enabled": True},
        )
        inserted.add(format_path(where))
    return inserted


def plain_flatten(value: Any, prefix: str) -> dict[str, Any]:
    """A tight pure-Python flatten: no quoting of odd keys, no keyed lists, scalars
    written while their parent is walked."""
    leaves = {}
    stack = [(prefix, value)]
    pop, push = stack.pop, stack.append
    while stack:
        path, item = pop()
        if type(item) is dict:
            path += "."
            for key, child in item.items():
                kind = type(child)
                if (kind is dict or kind is list) and child:
                    push((path + key, child))
                else:
                    leaves[path + key] = child
        else:
            for index, child in enumerate(item):
                kind = type(child)
                if (kind is dict or kind is list) and child:
                    push((f"{path}[{index}]", child))
                else:
                    leaves[f"{path}[{index}]"] = child
    return leaves


def plain_diff(base: dict, compare: dict) -> set[str]:
    """The limit: flatten both sides, compare the two dicts of leaves (type-strict)."""
    changed = set()
    for section in ("parameters", "output"):
        before = plain_flatten(base[section], section)
        after = plain_flatten(compare[section], section)
        changed |= before.keys() ^ after.keys()
        for path in before.keys() & after.keys():
            old, new = before[path], after[path]
            if type(old) is not type(new) or old != new:
                changed.add(path)
    return changed


def ours(base: dict, compare: dict) -> Any:
    return diff_runs(base, compare).fields


def deepdiff_run(base: dict, compare: dict) -> Any:
    from deepdiff import DeepDiff

    return DeepDiff(
        {"parameters": base["parameters"], "output": base["output"]},
        {"parameters": compare["parameters"], "output": compare["output"]},
        view="tree",
    )


def best_of(repeat: int, call: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def deepdiff_paths(tree: Any) -> set[str]:
    paths = set()
    for report in tree.values():
        for item in report:
            paths.add(format_path(item.path(output_format="list")))
    return paths


def _outside(paths: set[str], lists: set[str]) -> set[str]:
    return {path for path in paths if not any(path.startswith(prefix + "[") for prefix in lists)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (best is kept)")
    parser.add_argument("--deepdiff-repeat", type=int, default=3)
    args = parser.parse_args(argv)

    base, compare, inserted = make_runs(args.leaves)
    leaf_count = sum(len(plain_flatten(base[s], s)) for s in ("parameters", "output"))
    print(
        f"data: {leaf_count:,} leaves in parameters+output, {len(inserted)} keyed-list insertions"
    )

    ours_time, fields = best_of(args.repeat, lambda: ours(base, compare))
    plain_time, plain_paths = best_of(args.repeat, lambda: plain_diff(base, compare))
    deep_time, tree = best_of(args.deepdiff_repeat, lambda: deepdiff_run(base, compare))
    print(
        f"diff_runs vs deepdiff.DeepDiff: ours {ours_time:.3f} s, baseline {deep_time:.3f} s, "
        f"ratio {deep_time / ours_time:.1f} (target >= 25) [{leaf_count:,} leaves]"
    )
    print(
        f"diff_runs vs plain flatten-and-compare: ours {ours_time:.3f} s, baseline "
        f"{plain_time:.3f} s, ratio {plain_time / ours_time:.2f} (target >= 0.5) "
        f"[{leaf_count:,} leaves]"
    )

    our_paths = set()
    for row in fields.itertuples():
        our_paths.add(row.base_path if row.change == "removed" else row.compare_path)
    theirs = deepdiff_paths(tree)
    ours_comparable, theirs_comparable = _outside(our_paths, inserted), _outside(theirs, inserted)
    agree = ours_comparable == theirs_comparable
    print(
        f"changed paths outside the {len(inserted)} lists with insertions: ours "
        f"{len(ours_comparable):,}, DeepDiff {len(theirs_comparable):,}, "
        f"{'identical' if agree else 'DIFFERENT'}"
    )
    if not agree:
        print(f"  only ours: {sorted(ours_comparable - theirs_comparable)[:10]}")
        print(f"  only DeepDiff: {sorted(theirs_comparable - ours_comparable)[:10]}")
    print(
        f"inside those lists: ours {len(our_paths) - len(ours_comparable)} rows (the inserted "
        f"elements' leaves), DeepDiff {len(theirs) - len(theirs_comparable)} (by position)"
    )
    plain_agree = _outside(plain_paths, inserted) == ours_comparable
    print(f"plain flatten-and-compare agrees outside those lists: {plain_agree}")
    return 0 if agree and plain_agree else 1


if __name__ == "__main__":
    sys.exit(main())
