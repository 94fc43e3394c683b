-- Vouches (SQLite). Never edit a landed migration: add a new one.
-- A vouch is one member's signed statement for another; the origin
-- instance's key signs (instance, voucher, subject, created_at), see
-- docs/format.md. One vouch per (voucher, subject); nobody vouches for
-- themselves.
CREATE TABLE vouches (
    id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    origin          TEXT NOT NULL,
    voucher_user_id TEXT NOT NULL REFERENCES users (id),
    subject_user_id TEXT NOT NULL REFERENCES users (id),
    signature       TEXT NOT NULL,
    sync_scope      TEXT NOT NULL DEFAULT 'private' CHECK (sync_scope IN ('private', 'public')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (voucher_user_id, subject_user_id),
    CHECK (voucher_user_id <> subject_user_id)
);
CREATE INDEX vouches_origin_updated ON vouches (origin, updated_at);
CREATE INDEX vouches_subject ON vouches (subject_user_id);
