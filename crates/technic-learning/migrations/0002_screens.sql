-- Saved screens (README, "Screens"): a name, the expressions as typed, and when. Kept as text and
-- compiled when used, so a screen an upgrade no longer compiles is reported, never dropped.
CREATE TABLE IF NOT EXISTS screens (
    name         TEXT PRIMARY KEY,
    filter       TEXT,
    rank_by      TEXT,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
