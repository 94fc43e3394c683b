-- The export's record of rendered files (SQLite). Never edit a landed
-- migration: add a new one.
--
-- One row per local row the export has rendered: the row's updated_at when
-- it was rendered, and the length and SHA-256 of the file it became. A row's
-- file is a function of the row alone (its public projection, origin and
-- updated_at; see docs/format.md), and every change to a row moves its
-- updated_at, so an export that finds the same updated_at here, and the same
-- length and SHA-256 in the previous manifest, keeps the file without reading
-- or rendering the row (docs/performance.md). It is a cache: deleting its
-- rows only makes the next export render everything again.
CREATE TABLE export_files (
    entity     TEXT NOT NULL CHECK (entity IN ('user', 'request', 'comment', 'invite', 'vouch')),
    id         TEXT NOT NULL CHECK (length(id) = 36),
    updated_at INTEGER NOT NULL,
    length     INTEGER NOT NULL CHECK (length >= 0),
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (entity, id)
);
