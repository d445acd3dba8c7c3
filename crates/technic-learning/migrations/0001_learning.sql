-- What scans learn. Portable SQL: the same statements run on SQLite and PostgreSQL.

-- One row per symbol: how often it was scanned and signalled, and its last rating.
CREATE TABLE IF NOT EXISTS symbol_history (
    symbol          TEXT PRIMARY KEY,
    scans           BIGINT NOT NULL,
    signals         BIGINT NOT NULL,
    last_rating     DOUBLE PRECISION,
    last_scan_date  TEXT,
    updated_at      BIGINT NOT NULL
);

-- One row per scan whose outcomes were recorded: recording the same scan twice changes nothing.
CREATE TABLE IF NOT EXISTS recorded_scans (
    scan_id      TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    results      BIGINT NOT NULL,
    signals      BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL
);

-- The last completed scan's alpha distribution (JSON), a single row.
CREATE TABLE IF NOT EXISTS alpha_reference (
    id            BIGINT PRIMARY KEY,
    scan_id       TEXT NOT NULL,
    completed_at  BIGINT NOT NULL,
    reference     TEXT NOT NULL
);

-- The last completed scan's figures per sector.
CREATE TABLE IF NOT EXISTS sector_stats (
    sector        TEXT PRIMARY KEY,
    symbols       BIGINT NOT NULL,
    mean_rating   DOUBLE PRECISION NOT NULL,
    signal_rate   DOUBLE PRECISION NOT NULL,
    completed_at  BIGINT NOT NULL
);
