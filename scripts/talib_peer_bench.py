#!/usr/bin/env python3
"""Peer benchmark: TA-Lib (via the Python `ta-lib` package) on the golden set.

Usage:
    python3 scripts/talib_peer_bench.py --data DIR [--repeat 5]

Loads every DIR/bars/*.csv (files that are not bar files are skipped and
reported on stderr), adjusts them into float64 numpy arrays, then times
(time.perf_counter, loading excluded) computing the golden indicator set -
the same columns as `talib_reference.py --set golden` - over the full history
of every symbol. Repeats --repeat times and prints one JSON line to stdout:

  {"peer": ..., "symbols": N, "bars": total_bars, "indicator_columns": k,
   "seconds_min": ..., "seconds_median": ..., "bars_per_second": ...}

bars_per_second = total_bars / seconds_median.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time

import talib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from talib_reference import GOLDEN, BarFileError, column_names, compute, load_bars  # noqa: E402


def peer_name() -> str:
    ta_version = getattr(talib, "__ta_version__", None)
    if isinstance(ta_version, bytes):
        ta_version = ta_version.decode("utf-8", "replace")
    return f"TA-Lib {ta_version or 'unknown'} via Python ta-lib {talib.__version__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="data directory containing bars/*.csv")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    paths = sorted(glob.glob(os.path.join(args.data, "bars", "*.csv")))
    all_bars = []
    for path in paths:
        try:
            all_bars.append(load_bars(path))
        except BarFileError as e:
            print(f"talib_peer_bench: skipping: {e}", file=sys.stderr)
    if not all_bars:
        print(f"talib_peer_bench: error: no bar files under {os.path.join(args.data, 'bars')}",
              file=sys.stderr)
        return 1

    total_bars = sum(len(b.timestamp) for b in all_bars)
    n_columns = len(column_names(GOLDEN))

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for bars in all_bars:
            compute(GOLDEN, bars)
        times.append(time.perf_counter() - t0)

    median = statistics.median(times)
    print(json.dumps({
        "peer": peer_name(),
        "symbols": len(all_bars),
        "bars": total_bars,
        "indicator_columns": n_columns,
        "seconds_min": min(times),
        "seconds_median": median,
        "bars_per_second": total_bars / median,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
