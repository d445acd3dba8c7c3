#!/usr/bin/env python3
"""Independent values for technic-screen's reference tests, computed with pandas.

For each symbol: on every date, crosses_above(sma_50, sma_200), crosses_below(sma_50, sma_200),
the 52-week (252-bar) high and low of adjusted highs and lows, and the two averages themselves.
For the universe: return_126 on the newest 400 bars of each symbol and its percentile rank with
average ties (pandas' rank(pct=True), as scipy.stats.rankdata(method="average") / n).
"""
import argparse
import os

import pandas as pd


def adjusted(path):
    frame = pd.read_csv(path)
    frame.columns = [c.lower() for c in frame.columns]
    factor = frame["adjusted_close"] / frame["close"]
    out = pd.DataFrame({"date": frame["timestamp"]})
    for column in ("open", "high", "low", "close"):
        out[column] = frame[column] * factor
    out["volume"] = frame["volume"]
    return out


def events(args):
    rows = []
    for symbol in args.symbols.split(","):
        bars = adjusted(os.path.join(args.data, "bars", f"{symbol}.csv"))
        fast = bars["close"].rolling(50).mean()
        slow = bars["close"].rolling(200).mean()
        above = (fast > slow) & (fast.shift(1) <= slow.shift(1))
        below = (fast < slow) & (fast.shift(1) >= slow.shift(1))
        high = bars["high"].rolling(252).max()
        low = bars["low"].rolling(252).min()
        for i in range(len(bars)):
            rows.append((symbol, bars["date"][i], int(above[i]), int(below[i]), fast[i], slow[i], high[i], low[i]))
    pd.DataFrame(rows, columns=["symbol", "date", "crosses_above", "crosses_below", "sma_50", "sma_200", "high_52w", "low_52w"]).to_csv(args.out, index=False, float_format="%.17g")


def ranks(args):
    rows = []
    for name in sorted(os.listdir(os.path.join(args.data, "bars"))):
        symbol, ext = os.path.splitext(name)
        if ext != ".csv":
            continue
        try:
            bars = adjusted(os.path.join(args.data, "bars", name)).tail(400).reset_index(drop=True)
        except Exception:
            continue
        if len(bars) < 200:
            continue
        close = bars["close"]
        rows.append((symbol, (close.iloc[-1] / close.iloc[-127] - 1) * 100))
    frame = pd.DataFrame(rows, columns=["symbol", "return_126"])
    frame["pct_rank"] = frame["return_126"].rank(method="average", pct=True) * 100
    frame.to_csv(args.out, index=False, float_format="%.17g")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["events", "ranks"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--symbols", default="")
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    (events if arguments.what == "events" else ranks)(arguments)
