#!/usr/bin/env python3
"""The starter screens' backtest summaries in the README ("Screens").

Runs `technic backtest` once without a screen and once per starter screen (`--where`), over the
same dates, and compares each date's mean forward return of the names the screen passes with
the mean of the whole universe that date (the `universe_return` of the report's per-date series).

    TECHNIC=target/release/technic python3 scripts/starter_screens.py [DATA] [FROM] [TO] [EVERY]

Defaults: ../shared/data/sp500, 2011-01-01, 2021-04-30 (the standard rating's held-out years),
week. Prints a Markdown table, and each exact command on stderr.
"""

import json
import math
import os
import subprocess
import sys

STARTERS = [
    ("pullback-in-uptrend", "close > sma_200 and sma_50 > sma_200 and rsi_2 < 10"),
    ("breakout-52w", "close >= high_52w[1] and rel_volume > 1.5"),
    ("oversold-bounce", "rsi_14[1] < 30 and rsi_14 >= 30"),
    ("volume-surge", "rel_volume > 2 and change_pct > 0"),
    ("golden-cross", "crosses_above(sma_50, sma_200)"),
]
HORIZONS = [5, 21]


def run(technic, data, start, end, every, where):
    command = [
        technic, "backtest", "--data", data, "--from", start, "--to", end, "--every", every,
        "--horizons", ",".join(map(str, HORIZONS)), "--factor", "tech_rating",
        "--quantiles", "2", "--format", "json", "--quiet",
    ]
    if where:
        command += ["--where", where]
    print(" ".join(f"'{c}'" if " " in c or "(" in c else c for c in command), file=sys.stderr)
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def series(report, horizon):
    """date -> (names, universe mean forward return) at one horizon."""
    factor = report["factors"][0]
    for h in factor["horizons"]:
        if h["horizon"] == horizon:
            return {
                row["date"]: (row["names"], row["universe_return"])
                for row in h["series"]
            }
    raise SystemExit(f"no horizon {horizon} in the report")


def newey_west_t(xs, lags):
    """Mean over its Newey-West (Bartlett) standard error: forward windows longer than the
    spacing of the dates overlap, and a plain t-stat would overstate the evidence."""
    n = len(xs)
    mean = sum(xs) / n
    d = [x - mean for x in xs]
    var = sum(v * v for v in d) / n
    for lag in range(1, min(lags, n - 1) + 1):
        gamma = sum(d[i] * d[i - lag] for i in range(lag, n)) / n
        var += 2 * (1 - lag / (lags + 1)) * gamma
    return mean / math.sqrt(var / n) if var > 0 else None


def summary(screened, universe, dates, lags):
    days = sorted(
        d for d in screened if d in universe and None not in (screened[d][1], universe[d][1])
    )
    excess = [screened[d][1] - universe[d][1] for d in days]
    names = sum(n for n, _ in screened.values()) / dates
    if not excess:
        return names, 0, None, None, None
    mean = sum(excess) / len(excess)
    hit = sum(1 for x in excess if x > 0) / len(excess)
    return names, len(excess), mean, newey_west_t(excess, lags), hit


def main():
    args = sys.argv[1:] + [None] * 4
    data = args[0] or "../shared/data/sp500"
    start = args[1] or "2011-01-01"
    end = args[2] or "2021-04-30"
    every = args[3] or "week"
    technic = os.environ.get("TECHNIC", "technic")
    base = run(technic, data, start, end, every, None)
    dates = len(base["dates"])
    print(f"{dates} dates ({every}) {base['dates'][0]} to {base['dates'][-1]}, {base['symbols']} symbols")
    print()
    head = "| screen | names per date | dates with ≥2 names |"
    for h in HORIZONS:
        head += f" {h}d excess (t) | {h}d hit |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(HORIZONS)))
    for name, where in STARTERS:
        report = run(technic, data, start, end, every, where)
        row = f"| {name} |"
        for i, h in enumerate(HORIZONS):
            spacing = {"day": 1, "week": 5, "month": 21}[every]
            lags = max(0, math.ceil(h / spacing) - 1)
            names, n, mean, t, hit = summary(series(report, h), series(base, h), dates, lags)
            if i == 0:
                row += f" {names:.1f} | {n} |"
            if mean is None:
                row += " – | – |"
            else:
                t_text = f"{t:.1f}" if t is not None else "–"
                row += f" {mean * 100:+.2f}% ({t_text}) | {hit * 100:.0f}% |"
        print(row)


if __name__ == "__main__":
    main()
