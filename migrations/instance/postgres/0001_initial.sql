-- Instance schema, version 1 (Postgres). Never edit a landed migration: add a new one.
-- Ids are canonical lowercase UUID text; timestamps are microseconds since the Unix epoch (UTC).

CREATE TABLE instance_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    origin       TEXT NOT NULL,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    bio          TEXT NOT NULL,
    email        TEXT,
    role         TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator', 'admin')),
    invited_by   TEXT REFERENCES users (id),
    sync_scope   TEXT NOT NULL DEFAULT 'private' CHECK (sync_scope IN ('private', 'public')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (origin, username)
);
CREATE INDEX users_origin_updated ON users (origin, updated_at);

CREATE TABLE requests (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    origin     TEXT NOT NULL,
    author_id  TEXT NOT NULL REFERENCES users (id),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fulfilled', 'closed')),
    sync_scope TEXT NOT NULL DEFAULT 'private' CHECK (sync_scope IN ('private', 'public')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX requests_origin_updated ON requests (origin, updated_at);
CREATE INDEX requests_author ON requests (author_id);

CREATE TABLE comments (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    origin     TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES requests (id),
    author_id  TEXT NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    sync_scope TEXT NOT NULL DEFAULT 'private' CHECK (sync_scope IN ('private', 'public')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX comments_origin_updated ON comments (origin, updated_at);
CREATE INDEX comments_request ON comments (request_id);
CREATE INDEX comments_author ON comments (author_id);

CREATE TABLE invites (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    origin     TEXT NOT NULL,
    inviter_id TEXT NOT NULL REFERENCES users (id),
    invitee_id TEXT REFERENCES users (id),
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked')),
    code       TEXT UNIQUE,
    sync_scope TEXT NOT NULL DEFAULT 'private' CHECK (sync_scope IN ('private', 'public')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((status = 'accepted') = (invitee_id IS NOT NULL))
);
CREATE INDEX invites_origin_updated ON invites (origin, updated_at);
CREATE INDEX invites_inviter ON invites (inviter_id);
CREATE INDEX invites_invitee ON invites (invitee_id);
