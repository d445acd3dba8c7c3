#!/usr/bin/env python3
"""Compute factor statistics with alphalens-reloaded, the reference technic's backtest is
checked against (crates/technic-backtest/tests/alphalens_reference.rs).

Usage:
    python3 scripts/alphalens_reference.py --panel FILE.csv --factors a,b --horizons 1,5 \
        --quantiles 5 --lags 0,0 --out DIR

FILE.csv has one row per (date, asset): `date,asset,factor_<name>...,fwd_<h>...`; an empty
cell is a NaN. For each factor and each horizon on its own (technic keeps each horizon's own
names; alphalens would drop a name from every horizon when one lacks a return) it runs
`get_clean_factor` with that horizon's forward returns, then `factor_information_coefficient`
and `mean_return_by_quantile` (raw and demeaned). Turnover is `quantile_turnover` of the top
quantile over `quantize_factor` of the factor values alone (technic's holdings are cut from
what was known on the date, not from whether a forward return exists). The t-stat of the mean
IC is statsmodels' HAC (Newey-West, Bartlett) with the small-sample correction, at the lags
given per horizon.

Writes DIR/ic.csv (factor,horizon,date,ic), DIR/quantiles.csv
(factor,horizon,quantile,mean,mean_demeaned,std_error_demeaned), DIR/turnover.csv
(factor,date,turnover) and DIR/ic_tstat.csv (factor,horizon,t). Floats as repr(), which
round-trips exactly; NaN as an empty cell.

Requirements: see requirements-test.txt (alphalens-reloaded, pandas, numpy).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os

import numpy as np
import pandas as pd
import statsmodels.api as sm
from alphalens import performance, utils


def cell(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panel", required=True)
    parser.add_argument("--factors", required=True)
    parser.add_argument("--horizons", required=True)
    parser.add_argument("--quantiles", type=int, required=True)
    parser.add_argument("--lags", required=True, help="Newey-West lags, one per horizon")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    factors = args.factors.split(",")
    horizons = [int(h) for h in args.horizons.split(",")]
    lags = [int(l) for l in args.lags.split(",")]
    panel = pd.read_csv(args.panel, parse_dates=["date"]).set_index(["date", "asset"]).sort_index()

    ic_rows, quantile_rows, turnover_rows, tstat_rows = [], [], [], []
    for name in factors:
        factor = panel[f"factor_{name}"]
        for horizon, lag in zip(horizons, lags):
            forward = panel[[f"fwd_{horizon}"]].rename(columns={f"fwd_{horizon}": f"{horizon}D"})
            # get_clean_factor prints how much it dropped; keep stdout for nothing else.
            with contextlib.redirect_stdout(io.StringIO()):
                clean = utils.get_clean_factor(factor, forward, quantiles=args.quantiles, max_loss=1.0)
            ic = performance.factor_information_coefficient(clean)[f"{horizon}D"]
            for date, value in ic.items():
                ic_rows.append(f"{name},{horizon},{date.date()},{cell(value)}")
            values = ic.dropna().to_numpy()
            t = float("nan")
            if len(values) >= 2:
                fit = sm.OLS(values, np.ones(len(values))).fit(
                    cov_type="HAC", cov_kwds={"maxlags": lag, "use_correction": True}
                )
                t = fit.tvalues[0]
            tstat_rows.append(f"{name},{horizon},{cell(t)}")
            raw, _ = performance.mean_return_by_quantile(clean, demeaned=False)
            demeaned, std_error = performance.mean_return_by_quantile(clean, demeaned=True)
            for quantile in raw.index:
                quantile_rows.append(
                    f"{name},{horizon},{int(quantile)},{cell(raw.loc[quantile, f'{horizon}D'])},"
                    f"{cell(demeaned.loc[quantile, f'{horizon}D'])},{cell(std_error.loc[quantile, f'{horizon}D'])}"
                )
        finite = factor[np.isfinite(factor)].to_frame("factor")
        quantiles = utils.quantize_factor(finite, quantiles=args.quantiles, no_raise=True)
        turnover = performance.quantile_turnover(quantiles, args.quantiles, period=1)
        for date, value in turnover.items():
            turnover_rows.append(f"{name},{date.date()},{cell(value)}")

    os.makedirs(args.out, exist_ok=True)
    tables = {
        "ic.csv": ("factor,horizon,date,ic", ic_rows),
        "quantiles.csv": ("factor,horizon,quantile,mean,mean_demeaned,std_error_demeaned", quantile_rows),
        "turnover.csv": ("factor,date,turnover", turnover_rows),
        "ic_tstat.csv": ("factor,horizon,t", tstat_rows),
    }
    for file, (header, rows) in tables.items():
        with open(os.path.join(args.out, file), "w") as out:
            out.write(header + "\n" + "".join(row + "\n" for row in rows))


if __name__ == "__main__":
    main()
