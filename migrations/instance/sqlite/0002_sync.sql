-- Sync state (SQLite). Never edit a landed migration: add a new one.

-- One row per other instance whose bundles were imported: the pinned key,
-- the last applied sequence (retraction sticks: older ones are refused), and
-- the manifest digest and signature of that bundle, so this instance can
-- re-export the origin's rows byte-identically and relay its signature.
--
-- Rows an origin stops publishing are deleted on import, unless local rows
-- still reference them (a local comment on a withdrawn request): those are
-- kept with sync_scope = 'private', which for an imported row means
-- "withdrawn by its origin", so they are no longer exported or relayed.
CREATE TABLE sync_origins (
    instance        TEXT PRIMARY KEY NOT NULL,
    public_key      TEXT NOT NULL,
    last_sequence   INTEGER NOT NULL CHECK (last_sequence >= 1),
    manifest_sha256 TEXT NOT NULL CHECK (length(manifest_sha256) = 64),
    signature       TEXT NOT NULL,
    imported_at     INTEGER NOT NULL
);
