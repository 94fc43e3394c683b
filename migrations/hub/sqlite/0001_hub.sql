-- wb-hub schema (SQLite). Tables are prefixed hub_ so a hub may share a
-- database with an instance; its migrations are tracked in _wb_hub_migrations.
-- Timestamps are integer microseconds since the Unix epoch.

CREATE TABLE hub_instances (
    name          TEXT PRIMARY KEY NOT NULL,
    public_key    TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);

CREATE TABLE hub_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    instance      TEXT NOT NULL REFERENCES hub_instances (name),
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE INDEX hub_tokens_instance ON hub_tokens (instance);

CREATE TABLE hub_bundles (
    instance        TEXT PRIMARY KEY NOT NULL REFERENCES hub_instances (name),
    sequence        INTEGER NOT NULL CHECK (sequence >= 1),
    manifest_sha256 TEXT NOT NULL,
    archive         BLOB NOT NULL,
    size            INTEGER NOT NULL,
    etag            TEXT NOT NULL,
    published_at    INTEGER NOT NULL
);
