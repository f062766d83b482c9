"""Contact matching: quality on the synthetic labelled pairs and lookup speed on 100,000 people.

Quality: pairwise precision, recall and F1 for "same" and for "same or review", against a naive
exact-key matcher (the case study's rule) measured in the same run. Speed: best_matches() lookups
per second against an in-memory PersonIndex (median of 5 runs; each run's queries unseen, and once more
with every name cache emptied), against a plain dict lookup by lower-cased e-mail. Exit status 1 when a target is missed.

    .venv/bin/python bench/matching_bench.py [--pairs 5000] [--people 100000] [--queries 2000]
"""

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from b24app.matching import Person, PersonIndex, contacts, names, profile, same_person  # noqa: E402
from tests.matching.synthetic import Generator, LabelledPair, labelled_pairs  # noqa: E402

TARGET_SAME_PRECISION = 0.995
TARGET_REVIEW_RECALL = 0.95
TARGET_LOOKUPS = 5000


def naive_decision(a: Person, b: Person) -> str:
    """The case study's matcher: exact e-mail + surname + name → same; exact e-mail or phone → review."""
    low = [e.strip().lower() for e in a.emails], [e.strip().lower() for e in b.emails]
    email = bool(set(low[0]) & set(low[1]))
    names = (a.first.lower(), a.last.lower()) == (b.first.lower(), b.last.lower())
    if email and names:
        return "same"
    return "review" if email or set(a.phones) & set(b.phones) else "different"


def prf(pairs: list[LabelledPair], predicted: list[bool]) -> tuple[float, float, float]:
    """Pairwise precision, recall, F1 of a positive prediction per pair."""
    tp = sum(p.same and hit for p, hit in zip(pairs, predicted, strict=True))
    fp = sum(not p.same and hit for p, hit in zip(pairs, predicted, strict=True))
    fn = sum(p.same and not hit for p, hit in zip(pairs, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def quality(pairs: list[LabelledPair], decide: Callable[[Person, Person], str]) -> dict:
    """{"same": (P, R, F1), "same_or_review": (P, R, F1)}."""
    decisions = [decide(p.a, p.b) for p in pairs]
    return {
        "same": prf(pairs, [d == "same" for d in decisions]),
        "same_or_review": prf(pairs, [d != "different" for d in decisions]),
    }


def hard_negatives(pairs: list[LabelledPair]) -> dict[str, tuple[int, int, int]]:
    """Per kind of negative pair: (pairs, judged same, judged review)."""
    out: dict[str, list[int]] = {}
    for p in pairs:
        if not p.same:
            decision = same_person(p.a, p.b).decision.value
            row = out.setdefault(p.kind, [0, 0, 0])
            row[0] += 1
            row[1] += decision == "same"
            row[2] += decision == "review"
    return {kind: tuple(row) for kind, row in sorted(out.items())}


def name_caches() -> list:
    """Every memo of the name, e-mail and phone functions (folding, skeletons, NameParts, pair
    outcomes, parsed phones)."""
    return [
        f
        for module in (names, contacts)
        for f in vars(module).values()
        if hasattr(f, "cache_clear") and not isinstance(f, type)
    ]


def per_second(fn: Callable[[Person], object], queries: list[Person], runs: int,
               cold: bool = False) -> float:  # fmt: skip
    """Median over runs of queries answered per second; each run starts with no query profiled, and
    with ``cold`` also with every name cache empty (a worker's first minutes)."""
    rates = []
    for _ in range(runs):
        for cache in [profile, *(name_caches() if cold else [])]:
            cache.cache_clear()  # a repeated query would otherwise skip its normalisation
        start = time.perf_counter()
        for query in queries:
            fn(query)
        rates.append(len(queries) / (time.perf_counter() - start))
    return statistics.median(rates)


def speed(n_people: int, n_queries: int, runs: int, seed: int) -> tuple[float, float, float, float]:
    """(lookups/s of PersonIndex.best_matches warm and cold, of a dict by e-mail, index build seconds)."""
    g = Generator(seed)
    bases = [g.base() for _ in range(n_people)]
    rng = random.Random(seed)
    queries = [g.variant(b)[0] for b in rng.sample(bases, n_queries * 3 // 4)]
    queries += [g.base().person for _ in range(n_queries - len(queries))]
    start = time.perf_counter()
    index = PersonIndex(b.person for b in bases)
    built = time.perf_counter() - start
    by_email = {e.lower(): b.person for b in bases for e in b.person.emails}
    ours = per_second(index.best_matches, queries, runs)
    cold = per_second(index.best_matches, queries, runs, cold=True)
    naive = per_second(lambda q: [by_email.get(e.lower()) for e in q.emails], queries, runs)
    return ours, cold, naive, built


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5000, help="base records for labelled pairs")
    ap.add_argument("--people", type=int, default=100_000, help="people in the index")
    ap.add_argument("--queries", type=int, default=2000, help="lookups per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=24)
    args = ap.parse_args()

    pairs = labelled_pairs(args.pairs, args.seed)
    positives = sum(p.same for p in pairs)
    print(f"labelled pairs: {len(pairs)} ({positives} same, {len(pairs) - positives} different)")
    ours = quality(pairs, lambda a, b: same_person(a, b).decision.value)
    naive = quality(pairs, naive_decision)
    print(f"{'':16}{'matcher P / R / F1':>26}{'naive exact-key P / R / F1':>32}{'F1 ratio':>10}")
    for level in ("same", "same_or_review"):
        o, n = ours[level], naive[level]
        ratio = o[2] / n[2] if n[2] else float("inf")
        print(f"{level:16}{o[0]:>10.4f}{o[1]:>8.4f}{o[2]:>8.4f}"
              f"{n[0]:>16.4f}{n[1]:>8.4f}{n[2]:>8.4f}{ratio:>10.2f}")  # fmt: skip

    negatives = hard_negatives(pairs)
    print(f"{'negative kind':34}{'pairs':>7}{'same':>6}{'review':>8}")
    for kind, (n, same, review) in negatives.items():
        print(f"{kind:34}{n:>7}{same:>6}{review:>8}")

    lookups, cold, dict_lookups, built = speed(args.people, args.queries, args.runs, args.seed)
    print(f"index of {args.people:,} people built in {built:.1f} s")
    print(f"lookups/s (median of {args.runs}): best_matches {lookups:,.0f}, with name caches cleared "
          f"{cold:,.0f}; dict by e-mail {dict_lookups:,.0f}; ratio {lookups / dict_lookups:.3f}")  # fmt: skip

    checks = {
        "no negative pair judged same": not any(row[1] for row in negatives.values()),
        f"same precision ≥ {TARGET_SAME_PRECISION}": ours["same"][0] >= TARGET_SAME_PRECISION,
        f"same-or-review recall ≥ {TARGET_REVIEW_RECALL}": ours["same_or_review"][1]
        >= TARGET_REVIEW_RECALL,
        f"lookups/s ≥ {TARGET_LOOKUPS:,} (caches cleared too)": min(lookups, cold)
        >= TARGET_LOOKUPS,
    }
    for name, ok in checks.items():
        print(f"{'OK  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
