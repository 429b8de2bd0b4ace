"""The statistics of a spot-check: a reproducible sample of a report's findings and the exact one-sided
Clopper-Pearson upper bound on the report's error rate. Pure Python."""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence


def rng_for(seed: str, report_digest: str) -> random.Random:
    """A generator fixed by the seed and the report: the same seed on another report draws another sample."""
    return random.Random(hashlib.sha256(f"{seed}\x00{report_digest}".encode()).digest())


def uniform_sample(paths: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """`n` paths drawn uniformly without replacement (all of them when there are fewer), in path order."""
    ordered = sorted(paths)
    return sorted(rng.sample(ordered, min(n, len(ordered))))


def stratified_sample(verdicts: Mapping[str, str], n: int, rng: random.Random) -> list[str]:
    """`n` paths, allocated to verdicts in proportion to their counts (largest remainders), each stratum drawn
    uniformly. Every verdict present gets at least one draw when n allows."""
    strata: dict[str, list[str]] = defaultdict(list)
    for path, verdict in sorted(verdicts.items()):
        strata[verdict].append(path)
    total = len(verdicts)
    n = min(n, total)
    if n == 0:
        return []
    quotas = {v: n * len(ps) / total for v, ps in strata.items()}
    alloc = {v: int(q) for v, q in quotas.items()}
    for v in sorted(strata, key=lambda v: (-(quotas[v] - alloc[v]), v))[: n - sum(alloc.values())]:
        alloc[v] += 1
    for v in strata:  # a verdict with a draw of 0 takes one from the largest stratum
        if alloc[v] == 0 and n >= len(strata):
            donor = max(alloc, key=lambda k: alloc[k])
            alloc[donor] -= 1
            alloc[v] = 1
    out: list[str] = []
    for v in sorted(strata):
        out.extend(rng.sample(strata[v], min(alloc[v], len(strata[v]))))
    return sorted(out)


def clopper_pearson_upper(errors: int, n: int, confidence: float) -> float:
    """Exact one-sided upper confidence bound on a proportion: the p with P(X <= errors | n, p) = 1 - confidence
    (the Beta(errors + 1, n - errors) quantile); 1.0 when every draw is an error or nothing was drawn."""
    if n == 0 or errors >= n:
        return 1.0
    alpha = 1.0 - confidence
    lo, hi = errors / n, 1.0  # the CDF falls from >= alpha at p = errors/n to 0 at p = 1
    for _ in range(200):
        mid = (lo + hi) / 2
        if binomial_cdf(errors, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return hi


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact to float precision for any n)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in terms))
