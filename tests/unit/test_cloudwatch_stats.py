"""CloudWatch's extended statistics (services/cloudwatch/stats.py): names
and values, against hand-computed answers and a plain reference."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from cloudlet.services.cloudwatch.stats import Stat, compute, parse, valid

ONE_TO_TEN = [float(v) for v in range(1, 11)]


@pytest.mark.parametrize("name, stat", [
    ("p90", Stat("p", None, 90.0, True)),
    ("p99.9999999999", Stat("p", None, 99.9999999999, True)),
    ("p100.0", Stat("p", None, 100.0, True)),
    ("tm99", Stat("TM", None, 99.0, True)),  # = TM(:99%)
    ("wm98", Stat("WM", None, 98.0, True)),
    ("tc90", Stat("TC", None, 90.0, True)),
    ("ts0.5", Stat("TS", None, 0.5, True)),
    ("IQM", Stat("TM", 25.0, 75.0, True)),
    ("TM(2%:98%)", Stat("TM", 2.0, 98.0, True)),
    ("TM(10%:)", Stat("TM", 10.0, None, True)),
    ("TM(:95%)", Stat("TM", None, 95.0, True)),
    ("WM(10%:90%)", Stat("WM", 10.0, 90.0, True)),
    ("TS(80%:)", Stat("TS", 80.0, None, True)),
    ("TM(150:1000)", Stat("TM", 150.0, 1000.0, False)),
    ("TC(0.005:0.030)", Stat("TC", 0.005, 0.03, False)),
    ("TC(:0.5)", Stat("TC", None, 0.5, False)),
    ("TM(100:)", Stat("TM", 100.0, None, False)),
    ("PR(:300)", Stat("PR", None, 300.0, False)),
    ("PR(100:2000)", Stat("PR", 100.0, 2000.0, False)),
    ("TM(5:5)", Stat("TM", 5.0, 5.0, False)),
])
def test_parse(name, stat):
    assert parse(name) == stat
    assert valid(name)


@pytest.mark.parametrize("name", [
    "tm(10%:90%)", "TM90", "iqm", "Iqm", "TM(:)", "TM()", "TM", "tm", "p", "TM(10%:500)", "TM(10:50%)",
    "PR(10%:20%)", "PR(:5%)", "pr(:3)", "PR3", "TM(90%:10%)", "TM(7:3)", "tm101", "p100.5", "TM(:100.1%)",
    "tm90%", "TM(:1.12345678901)", "tm1.12345678901", "TM( 1:2)", "TM(1 :2)", "TM(-1:2)", "TM(1:2:3)",
    "XX(1:2)", "TM(1:2", "Average ", "average", "P90", "TM(1e3:)",
])
def test_parse_rejects(name):
    assert parse(name) is None
    assert not valid(name)


def test_basic_statistics_are_valid_but_not_extended():
    for name in ("SampleCount", "Average", "Sum", "Minimum", "Maximum"):
        assert valid(name) and parse(name) is None


def value(name, values=ONE_TO_TEN, weights=None):
    total = float(len(values)) if weights is None else sum(weights)
    return compute(parse(name), values, weights, total)


@pytest.mark.parametrize("name, expected", [
    # 1..10, percentages: the part of the sorted values in places [a*N/100, b*N/100]
    ("tm90", 5.0), ("tc90", 9.0), ("ts90", 45.0), ("wm90", 5.4),
    ("tm95", 50.0 / 9.5), ("tc95", 9.5), ("ts95", 50.0), ("wm95", 5.5),
    ("tm1", 1.0), ("tc1", 0.1), ("ts1", 0.1), ("wm1", 1.0),
    ("tm0", None), ("tc0", 0.0), ("ts0", 0.0), ("wm0", None),
    ("tm100", 5.5), ("tc100", 10.0),
    ("IQM", 5.5), ("TC(25%:75%)", 5.0), ("TS(25%:75%)", 27.5), ("WM(25%:75%)", 5.5),
    ("TM(10%:90%)", 5.5), ("TC(10%:90%)", 8.0), ("TS(10%:90%)", 44.0),
    ("WM(20%:70%)", 5.2), ("TM(20%:)", 6.5), ("TS(80%:)", 19.0), ("WM(80%:)", 9.1),
    ("TM(15%:25%)", 2.5), ("TC(15%:25%)", 1.0),  # places [1.5, 2.5]: half of 2, half of 3
    ("TM(12.5%:15%)", 2.0), ("TC(12.5%:15%)", 0.25),  # within one value
    ("TM(50%:50%)", None), ("TC(50%:50%)", 0.0), ("WM(50%:50%)", None),
    # fixed values: lower < v <= upper
    ("TM(3:7)", 5.5), ("TC(3:7)", 4.0), ("TS(3:7)", 22.0), ("WM(3:7)", 5.2),
    ("TM(:4)", 2.5), ("WM(:4)", 3.4), ("TM(8:)", 9.5), ("WM(8:)", 8.3),
    ("TM(:0.5)", None), ("TC(:0.5)", 0.0), ("TS(:0.5)", 0.0), ("WM(:0.5)", 0.5),
    ("TM(10:)", None), ("WM(10:)", 10.0), ("TM(5:5)", None), ("TC(5:5)", 0.0),
    ("PR(:3)", 30.0), ("PR(3:7)", 40.0), ("PR(9:)", 10.0), ("PR(0:10)", 100.0), ("PR(10:20)", 0.0),
    ("PR(:0.5)", 0.0), ("PR(2.5:3)", 10.0),
])
def test_values_one_to_ten(name, expected):
    assert value(name) == expected
    # The same values with explicit weights of 1 take the weighted path: same answers.
    assert value(name, weights=[1.0] * 10) == expected


def test_weighted_values():
    # 1 x2, 2 x5, 3 x3: 1 spans places [0, 2], 2 [2, 7], 3 [7, 10]
    values, weights = [1.0, 2.0, 3.0], [2.0, 5.0, 3.0]
    got = {n: value(n, values, weights) for n in ("tm90", "tc90", "ts90", "IQM", "WM(25%:75%)", "PR(1:2)",
                                                  "TM(1:3)", "WM(1:2)", "TC(2:)", "tm10", "TM(20%:70%)")}
    assert got == {"tm90": 2.0, "tc90": 9.0, "ts90": 18.0, "IQM": 2.1, "WM(25%:75%)": 2.3, "PR(1:2)": 50.0,
                   "TM(1:3)": 2.375, "WM(1:2)": 1.8, "TC(2:)": 3.0, "tm10": 1.0, "TM(20%:70%)": 2.0}
    # Fractional counts are weights like any other.
    assert value("tm50", [1.0, 4.0], [0.5, 1.5]) == 2.5  # places [0, 1]: 0.5 of 1, 0.5 of 4


def test_percentage_places_snap_to_whole_values():
    # 99.9% of 1000 values is 999 places (not 999.0000000000001).
    values = [float(v) for v in range(1, 1001)]
    assert value("tc99.9", values) == 999.0
    assert value("tm99.9", values) == 500.0
    assert value("TC(0.1%:99.9%)", values) == 998.0


def _reference(stat: Stat, pairs: list[tuple[int, int]]):
    """The definitions, literally, in exact fractions over integer values and counts."""
    pairs = sorted(pairs)
    n = sum(c for _, c in pairs)
    if stat.percent:
        lo = Fraction(0) if stat.lower is None else Fraction(stat.lower) * n / 100
        hi = Fraction(n) if stat.upper is None else Fraction(stat.upper) * n / 100
        kept, seen = [], 0
        for v, c in pairs:
            inside = min(hi, seen + c) - max(lo, seen)
            if inside > 0:
                kept.append((v, inside))
            seen += c
        count = sum(w for _, w in kept)
        total = sum(v * w for v, w in kept)
        if stat.kind == "TC":
            return count
        if stat.kind == "TS":
            return total
        if not count:
            return None
        if stat.kind == "TM":
            return total / count
        return (total + lo * kept[0][0] + (n - hi) * kept[-1][0]) / n
    lower = -1 if stat.lower is None else Fraction(stat.lower)
    upper = 10 ** 9 if stat.upper is None else Fraction(stat.upper)
    inside = [(v, c) for v, c in pairs if lower < v <= upper]
    count = sum(c for _, c in inside)
    total = sum(v * c for v, c in inside)
    if stat.kind == "PR":
        return Fraction(100 * count, n)
    if stat.kind == "TC":
        return count
    if stat.kind == "TS":
        return total
    if stat.kind == "TM":
        return Fraction(total, count) if count else None
    clipped = sum(min(max(v, lower if stat.lower is not None else v), upper) * c for v, c in pairs)
    return Fraction(clipped, n)


def test_against_the_reference():
    rng = random.Random(7)
    names = ["tm90", "tm99", "tm10", "wm90", "wm5", "tc75", "ts33", "IQM", "TM(10%:90%)", "WM(5%:95%)",
             "TC(12.5%:87.5%)", "TS(40%:)", "TM(30%:)", "WM(:60%)", "TM(20:60)", "WM(20:60)", "TC(:50)",
             "TS(70:)", "PR(:25)", "PR(10:90)", "PR(50:)", "WM(:30)", "WM(40:)"]
    for _ in range(200):
        pairs = [(rng.randrange(100), rng.choice((1, 1, 1, 2, 5))) for _ in range(rng.randrange(1, 40))]
        weighted = any(c != 1 for _, c in pairs)
        ordered = sorted(pairs)
        values = [float(v) for v, _ in ordered]
        weights = [float(c) for _, c in ordered] if weighted else None
        total = float(sum(c for _, c in pairs))
        for name in names:
            want = _reference(parse(name), pairs)
            got = compute(parse(name), values, weights, total)
            if want is None:
                assert got is None, (name, pairs)
            else:
                assert got == pytest.approx(float(want), rel=1e-12, abs=1e-12), (name, pairs)
