"""Mann-Whitney U test, two-sided, as Google Benchmark's compare.py runs it (there via scipy).

Written out here so that the scripts need only numpy-free standard Python: the exact
distribution of U when there are no ties and a sample is small (scipy's own rule),
the normal approximation with tie and continuity corrections otherwise.
"""
import math


def _ranks(values):
    """Ranks from 1, ties sharing their mean rank; also the sizes of the tied groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks, ties = [0.0] * len(values), []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _exact_cdf(u, n1, n2):
    """P(U <= u) under the null: counts of U are the coefficients of the Gaussian binomial [n1+n2, n1]_q."""
    size = n1 * n2 + 1
    counts = [1] + [0] * (size - 1)
    for i in range(1, n1 + 1):
        for k in range(size - 1, n2 + i - 1, -1):   # multiply by (1 - q^(n2+i))
            counts[k] -= counts[k - n2 - i]
        for k in range(i, size):                     # divide by (1 - q^i): exact, a running sum
            counts[k] += counts[k - i]
    return sum(counts[:int(u) + 1]) / math.comb(n1 + n2, n1)


def mann_whitney_u(a, b):
    """(U of a, two-sided p) for samples a and b; p is None when a sample is empty."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return None, None
    ranks, ties = _ranks(list(a) + list(b))
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    small = min(u, n1 * n2 - u)
    if not ties and min(n1, n2) < 8:
        return u, min(1.0, 2 * _exact_cdf(small, n1, n2))
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
    if sigma == 0:
        return u, 1.0  # every value equal: nothing tells the samples apart
    z = max(0.0, abs(u - n1 * n2 / 2) - 0.5) / sigma
    return u, min(1.0, math.erfc(z / math.sqrt(2)))


def ratio_interval(a, b, alpha):
    """B over A as a ratio, from the repeats alone: (estimate, low, high, coverage).

    The estimate is the Hodges-Lehmann shift on the log scale: the median of every
    log(b_j / a_i). The interval is the one that belongs to the U test: the k-th
    smallest and k-th largest of those pairwise ratios, for the largest k whose
    coverage, 1 - 2 P(U <= k - 1) under the exact null distribution, is at least
    1 - alpha. When even the widest (k = 1: the smallest and largest pairwise ratio)
    falls short, as with 3 repeats a side (90%), the widest is returned with its
    coverage: too few repeats to decide at that level. None when a side is empty or
    holds a value that is not positive.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0 or min(list(a) + list(b)) <= 0:
        return None
    logs = sorted(math.log(y) - math.log(x) for x in a for y in b)
    m = len(logs)
    estimate = math.exp((logs[(m - 1) // 2] + logs[m // 2]) / 2)
    k = 1
    coverage = 1 - 2 * _exact_cdf(0, n1, n2)
    for candidate in range(2, (m + 1) // 2 + 1):
        level = 1 - 2 * _exact_cdf(candidate - 1, n1, n2)
        if level < 1 - alpha:
            break
        k, coverage = candidate, level
    return estimate, math.exp(logs[k - 1]), math.exp(logs[m - k]), max(0.0, coverage)
