#!/usr/bin/env python3
"""Independent values for technic-screen's reference tests, computed with pandas.

For each symbol: on every date, crosses_above(sma_50, sma_200), crosses_below(sma_50, sma_200),
the 52-week (252-bar) high and low of adjusted highs and lows, and the two averages themselves.
For the universe: return_126 on the newest 400 bars of each symbol and its percentile rank with
average ties (pandas' rank(pct=True), as scipy.stats.rankdata(method="average") / n), checked here
against scipy's rankdata itself; its z-score (scipy.stats.zscore) and its percentile rank within
the symbol's sector (universe.csv).

"functions": the other functions and derived columns on every date of each symbol, from pandas'
rolling windows: rising, falling, highest, lowest, past values, return_N, avg_volume_N,
rel_volume, gap_pct, pct_from_high_52w.
"""
import argparse
import os

import numpy as np
import pandas as pd
from scipy import stats


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
    scipy_rank = stats.rankdata(frame["return_126"], method="average") / len(frame) * 100
    assert np.allclose(frame["pct_rank"], scipy_rank, rtol=0, atol=1e-12), "pandas and scipy ranks differ"
    frame["zscore"] = stats.zscore(frame["return_126"], ddof=0)
    sectors = pd.read_csv(os.path.join(args.data, "universe.csv")).set_index("symbol")["sector"]
    frame["sector"] = frame["symbol"].map(sectors)
    frame["sector_pct_rank"] = frame.groupby("sector")["return_126"].rank(method="average", pct=True) * 100
    frame.drop(columns=["sector"]).to_csv(args.out, index=False, float_format="%.17g")


def functions(args):
    frames = []
    for symbol in args.symbols.split(","):
        bars = adjusted(os.path.join(args.data, "bars", f"{symbol}.csv"))
        close, high, low, volume = bars["close"], bars["high"], bars["low"], bars["volume"]
        before = close.shift(1)
        avg_20 = volume.rolling(20).mean()
        frames.append(pd.DataFrame({
            "symbol": symbol,
            "date": bars["date"],
            "rising": (close > before.rolling(5).max()).astype(int),
            "falling": (close < before.rolling(5).min()).astype(int),
            "highest": high.rolling(20).max(),
            "lowest": low.rolling(20).min(),
            "close_past": close.shift(3),
            "sma_past": close.rolling(50).mean().shift(5),
            "return_126": (close / close.shift(126) - 1) * 100,
            "avg_volume_20": avg_20,
            "rel_volume": volume / avg_20,
            "gap_pct": (bars["open"] / before - 1) * 100,
            "pct_from_high_52w": (close / high.rolling(252).max() - 1) * 100,
        }))
    pd.concat(frames).to_csv(args.out, index=False, float_format="%.17g")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["events", "ranks", "functions"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--symbols", default="")
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    {"events": events, "ranks": ranks, "functions": functions}[arguments.what](arguments)
