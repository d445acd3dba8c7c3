-- Each symbol's signal by as-of date (the date of the newest bar a scan saw): one row per symbol
-- and date, the last recorded scan of that date's. Rows more than a year and a bit older than the
-- symbol's newest are pruned as scans are recorded, so the table stays bounded.
CREATE TABLE IF NOT EXISTS signal_history (
    symbol        TEXT NOT NULL,
    as_of         TEXT NOT NULL,
    signal        TEXT NOT NULL,
    tech_rating   DOUBLE PRECISION NOT NULL,
    alpha_score   DOUBLE PRECISION,
    high_quality  BIGINT NOT NULL,
    scan_id       TEXT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    PRIMARY KEY (symbol, as_of)
);
