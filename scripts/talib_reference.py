#!/usr/bin/env python3
"""Compute reference indicator values with TA-Lib (Python `ta-lib` package).

Usage:
    python3 scripts/talib_reference.py --data DIR --symbol SYM --out FILE.csv [--set periods|golden]

Loads DIR/bars/SYM.csv (AlphaVantage daily-adjusted layout, ascending dates),
adjusts it (factor = adjusted_close / close; open, high, low, close multiplied
by factor; volume left as given, as float64) and writes one row per input bar:
`timestamp,<columns>`. A NaN (TA-Lib warm-up) is written as an empty cell; any
other value as repr(float(v)), which round-trips exactly.

Column sets:
  periods (default)  deliberately non-default periods/parameters, to check that
                     an implementation honours its parameters.
  golden             exactly the columns of /work/shared/golden/talib/*.csv
                     (see MANIFEST.json there), with the same parameters.

Each set is a table: column name -> function of the adjusted bars. An
indicator with several outputs (MACD, BBANDS, STOCH, AROON) has one entry whose
key is the tuple of its output column names, so it is computed only once.

Requirements: see requirements-test.txt (numpy, ta-lib==0.8.2).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from typing import Callable, NamedTuple, Sequence, Union

import numpy as np
import talib

BAR_HEADER = [
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "adjusted_close",
    "volume",
    "dividend_amount",
    "split_coefficient",
]


class BarFileError(Exception):
    """The file is missing, unreadable, or not an AlphaVantage bar file."""


class Bars(NamedTuple):
    """Adjusted bars of one symbol as contiguous float64 arrays."""

    timestamp: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


Key = Union[str, tuple[str, ...]]
Indicator = Callable[[Bars], Union[np.ndarray, Sequence[np.ndarray]]]

# ---------------------------------------------------------------------------
# Column sets: name (or tuple of names for multi-output functions) -> function
# ---------------------------------------------------------------------------

PERIODS: dict[Key, Indicator] = {
    "sma_7": lambda b: talib.SMA(b.close, timeperiod=7),
    "sma_33": lambda b: talib.SMA(b.close, timeperiod=33),
    "ema_5": lambda b: talib.EMA(b.close, timeperiod=5),
    "ema_100": lambda b: talib.EMA(b.close, timeperiod=100),
    "wma_9": lambda b: talib.WMA(b.close, timeperiod=9),
    "kama_10": lambda b: talib.KAMA(b.close, timeperiod=10),
    "rsi_5": lambda b: talib.RSI(b.close, timeperiod=5),
    "rsi_21": lambda b: talib.RSI(b.close, timeperiod=21),
    ("macd_5_35_5", "macd_signal_5_35_5", "macd_hist_5_35_5"):
        lambda b: talib.MACD(b.close, fastperiod=5, slowperiod=35, signalperiod=5),
    ("bb_upper_10_1.5_2.5", "bb_middle_10_1.5_2.5", "bb_lower_10_1.5_2.5"):
        lambda b: talib.BBANDS(b.close, timeperiod=10, nbdevup=1.5, nbdevdn=2.5, matype=0),
    "atr_7": lambda b: talib.ATR(b.high, b.low, b.close, timeperiod=7),
    "natr_21": lambda b: talib.NATR(b.high, b.low, b.close, timeperiod=21),
    "adx_9": lambda b: talib.ADX(b.high, b.low, b.close, timeperiod=9),
    "plus_di_9": lambda b: talib.PLUS_DI(b.high, b.low, b.close, timeperiod=9),
    "minus_di_9": lambda b: talib.MINUS_DI(b.high, b.low, b.close, timeperiod=9),
    ("stoch_k_5_3_3", "stoch_d_5_3_3"):
        lambda b: talib.STOCH(b.high, b.low, b.close, fastk_period=5,
                              slowk_period=3, slowk_matype=0,
                              slowd_period=3, slowd_matype=0),
    "cci_10": lambda b: talib.CCI(b.high, b.low, b.close, timeperiod=10),
    "mfi_7": lambda b: talib.MFI(b.high, b.low, b.close, b.volume, timeperiod=7),
    "roc_3": lambda b: talib.ROC(b.close, timeperiod=3),
    "willr_7": lambda b: talib.WILLR(b.high, b.low, b.close, timeperiod=7),
    ("aroon_down_10", "aroon_up_10"):  # talib returns (aroondown, aroonup)
        lambda b: talib.AROON(b.high, b.low, timeperiod=10),
    "sar_0.01_0.1": lambda b: talib.SAR(b.high, b.low, acceleration=0.01, maximum=0.1),
    "obv": lambda b: talib.OBV(b.close, b.volume),
}

GOLDEN: dict[Key, Indicator] = {
    "sma_20": lambda b: talib.SMA(b.close, timeperiod=20),
    "sma_50": lambda b: talib.SMA(b.close, timeperiod=50),
    "sma_200": lambda b: talib.SMA(b.close, timeperiod=200),
    "ema_12": lambda b: talib.EMA(b.close, timeperiod=12),
    "ema_26": lambda b: talib.EMA(b.close, timeperiod=26),
    "ema_50": lambda b: talib.EMA(b.close, timeperiod=50),
    "wma_20": lambda b: talib.WMA(b.close, timeperiod=20),
    "rsi_14": lambda b: talib.RSI(b.close, timeperiod=14),
    ("macd", "macd_signal", "macd_hist"):
        lambda b: talib.MACD(b.close, fastperiod=12, slowperiod=26, signalperiod=9),
    ("bb_upper", "bb_middle", "bb_lower"):
        lambda b: talib.BBANDS(b.close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0),
    "atr_14": lambda b: talib.ATR(b.high, b.low, b.close, timeperiod=14),
    "natr_14": lambda b: talib.NATR(b.high, b.low, b.close, timeperiod=14),
    "adx_14": lambda b: talib.ADX(b.high, b.low, b.close, timeperiod=14),
    "plus_di_14": lambda b: talib.PLUS_DI(b.high, b.low, b.close, timeperiod=14),
    "minus_di_14": lambda b: talib.MINUS_DI(b.high, b.low, b.close, timeperiod=14),
    ("stoch_k", "stoch_d"):
        lambda b: talib.STOCH(b.high, b.low, b.close, fastk_period=14,
                              slowk_period=3, slowk_matype=0,
                              slowd_period=3, slowd_matype=0),
    "cci_20": lambda b: talib.CCI(b.high, b.low, b.close, timeperiod=20),
    "mfi_14": lambda b: talib.MFI(b.high, b.low, b.close, b.volume, timeperiod=14),
    "obv": lambda b: talib.OBV(b.close, b.volume),
    "roc_10": lambda b: talib.ROC(b.close, timeperiod=10),
    "willr_14": lambda b: talib.WILLR(b.high, b.low, b.close, timeperiod=14),
    ("aroon_down_25", "aroon_up_25"):  # talib returns (aroondown, aroonup)
        lambda b: talib.AROON(b.high, b.low, timeperiod=25),
    "sar": lambda b: talib.SAR(b.high, b.low, acceleration=0.02, maximum=0.2),
    "kama_30": lambda b: talib.KAMA(b.close, timeperiod=30),
}

SETS: dict[str, dict[Key, Indicator]] = {"periods": PERIODS, "golden": GOLDEN}


def column_names(table: dict[Key, Indicator]) -> list[str]:
    """Flat list of output column names of a set, in order."""
    names: list[str] = []
    for key in table:
        names.extend((key,) if isinstance(key, str) else key)
    return names


def compute(table: dict[Key, Indicator], bars: Bars) -> dict[str, np.ndarray]:
    """Evaluate every indicator of a set; returns column name -> array."""
    out: dict[str, np.ndarray] = {}
    for key, fn in table.items():
        result = fn(bars)
        if isinstance(key, str):
            out[key] = result
        else:
            if len(result) != len(key):
                raise RuntimeError(f"{key}: expected {len(key)} outputs, got {len(result)}")
            out.update(zip(key, result))
    return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_bars(path: str) -> Bars:
    """Load and adjust one AlphaVantage bar file; raises BarFileError."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError as e:
        raise BarFileError(f"{path}: no such bar file") from e
    except OSError as e:
        raise BarFileError(f"{path}: cannot read: {e.strerror or e}") from e
    if not rows or [c.strip() for c in rows[0]] != BAR_HEADER:
        first = ",".join(rows[0]).strip()[:60] if rows else "<empty file>"
        raise BarFileError(
            f"{path}: not a bar file (expected header {','.join(BAR_HEADER)!r}, found {first!r})"
        )
    data = [r for r in rows[1:] if r and any(c.strip() for c in r)]
    if not data:
        raise BarFileError(f"{path}: bar file has a header but no bars")

    n = len(data)
    ts: list[str] = []
    o = np.empty(n)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    adj = np.empty(n)
    v = np.empty(n)
    for i, r in enumerate(data):
        if len(r) != len(BAR_HEADER):
            raise BarFileError(f"{path}: line {i + 2}: expected {len(BAR_HEADER)} fields, got {len(r)}")
        try:
            o[i], h[i], lo[i], c[i], adj[i], v[i] = (float(x) for x in r[1:7])
        except ValueError as e:
            raise BarFileError(f"{path}: line {i + 2}: {e}") from e
        if ts and r[0] <= ts[-1]:
            raise BarFileError(f"{path}: line {i + 2}: timestamp {r[0]} not after {ts[-1]}")
        ts.append(r[0])

    factor = adj / c
    return Bars(
        timestamp=ts,
        open=np.ascontiguousarray(o * factor),
        high=np.ascontiguousarray(h * factor),
        low=np.ascontiguousarray(lo * factor),
        close=np.ascontiguousarray(c * factor),
        volume=np.ascontiguousarray(v),
    )


def bar_path(data_dir: str, symbol: str) -> str:
    return os.path.join(data_dir, "bars", f"{symbol}.csv")


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def fmt(v: float) -> str:
    v = float(v)
    return "" if math.isnan(v) else repr(v)


def write_csv(path: str, bars: Bars, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    cols = [columns[n] for n in names]
    for name, col in zip(names, cols):
        if len(col) != len(bars.timestamp):
            raise RuntimeError(f"{name}: {len(col)} values for {len(bars.timestamp)} bars")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["timestamp", *names])
        for i, t in enumerate(bars.timestamp):
            w.writerow([t, *(fmt(col[i]) for col in cols)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="data directory containing bars/SYMBOL.csv")
    ap.add_argument("--symbol", required=True, help="symbol, e.g. AAPL")
    ap.add_argument("--out", required=True, help="output CSV path")
    ap.add_argument("--set", choices=sorted(SETS), default="periods",
                    help="column set to write (default: periods)")
    args = ap.parse_args(argv)

    path = bar_path(args.data, args.symbol)
    try:
        bars = load_bars(path)
    except BarFileError as e:
        print(f"talib_reference: error: {e}", file=sys.stderr)
        return 1
    table = SETS[args.set]
    columns = compute(table, bars)
    assert list(columns) == column_names(table)
    write_csv(args.out, bars, columns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
