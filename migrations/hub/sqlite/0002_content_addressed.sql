-- Content-addressed bundles (issue 13). Each distinct file is stored once,
-- keyed by its SHA-256 (the manifest names it); each instance keeps its
-- latest signed manifests (the latest and a few before it, so the hub can
-- serve deltas); hub_bundles points at the latest.
--
-- The archives stored by migration 0001 are dropped: the hub keeps no
-- manifest of them to rebuild from. Each instance's next push publishes
-- again (docs/hub.md, "Upgrading").

DROP TABLE hub_bundles;

CREATE TABLE hub_files (
    sha256  TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    content BLOB NOT NULL,
    size    INTEGER NOT NULL CHECK (size = length(content))
);

CREATE TABLE hub_manifests (
    instance        TEXT NOT NULL REFERENCES hub_instances (name),
    sequence        INTEGER NOT NULL CHECK (sequence >= 1),
    manifest_sha256 TEXT NOT NULL CHECK (length(manifest_sha256) = 64),
    manifest        BLOB NOT NULL,
    signature       BLOB NOT NULL,
    key_rotations   BLOB,
    size            INTEGER NOT NULL,
    etag            TEXT NOT NULL,
    published_at    INTEGER NOT NULL,
    PRIMARY KEY (instance, sequence)
);

CREATE INDEX hub_manifests_by_digest ON hub_manifests (instance, manifest_sha256);

-- The latest bundle of each instance: the row publishing updates
-- conditionally (only to a higher sequence), so concurrent hubs on one
-- database agree on one winner.
CREATE TABLE hub_bundles (
    instance        TEXT PRIMARY KEY NOT NULL REFERENCES hub_instances (name),
    sequence        INTEGER NOT NULL CHECK (sequence >= 1),
    manifest_sha256 TEXT NOT NULL,
    FOREIGN KEY (instance, sequence) REFERENCES hub_manifests (instance, sequence)
);
