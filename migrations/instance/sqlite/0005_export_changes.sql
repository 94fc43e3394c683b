-- The export's journal of changes (SQLite). Never edit a landed migration:
-- add a new one.
--
-- Triggers note here every change that can change what the export writes:
-- any insert, update or delete of a local row, and the deletion or change of
-- scope of another instance's row (a local row that references it may stop,
-- or start, being exported). An export that finds in its output directory
-- the very manifest it last wrote (same SHA-256 as `export_state`) renders
-- only the rows noted here, and those that reference them, instead of
-- looking at every row; it then deletes the entries it has handled (those up
-- to the `seq` it read first, so a change made while it runs stays noted).
-- See ARCHITECTURE.md, "Incremental export". Like `export_files`, it is a
-- cache: deleting its rows is harmless only together with `export_state`.
CREATE TABLE export_changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL CHECK (entity IN ('user', 'request', 'comment', 'invite', 'vouch')),
    id     TEXT NOT NULL
);

CREATE TRIGGER users_export_insert AFTER INSERT ON users
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('user', NEW.id);
END;

CREATE TRIGGER users_export_update AFTER UPDATE ON users
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.sync_scope <> NEW.sync_scope
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('user', NEW.id);
END;

CREATE TRIGGER users_export_delete AFTER DELETE ON users
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('user', OLD.id);
END;

CREATE TRIGGER requests_export_insert AFTER INSERT ON requests
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('request', NEW.id);
END;

CREATE TRIGGER requests_export_update AFTER UPDATE ON requests
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.sync_scope <> NEW.sync_scope
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('request', NEW.id);
END;

CREATE TRIGGER requests_export_delete AFTER DELETE ON requests
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('request', OLD.id);
END;

CREATE TRIGGER comments_export_insert AFTER INSERT ON comments
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('comment', NEW.id);
END;

CREATE TRIGGER comments_export_update AFTER UPDATE ON comments
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.sync_scope <> NEW.sync_scope
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('comment', NEW.id);
END;

CREATE TRIGGER comments_export_delete AFTER DELETE ON comments
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('comment', OLD.id);
END;

CREATE TRIGGER invites_export_insert AFTER INSERT ON invites
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('invite', NEW.id);
END;

CREATE TRIGGER invites_export_update AFTER UPDATE ON invites
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.sync_scope <> NEW.sync_scope
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('invite', NEW.id);
END;

CREATE TRIGGER invites_export_delete AFTER DELETE ON invites
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('invite', OLD.id);
END;

CREATE TRIGGER vouches_export_insert AFTER INSERT ON vouches
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('vouch', NEW.id);
END;

CREATE TRIGGER vouches_export_update AFTER UPDATE ON vouches
WHEN NEW.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.origin = (SELECT value FROM instance_meta WHERE key = 'instance_name')
    OR OLD.sync_scope <> NEW.sync_scope
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('vouch', NEW.id);
END;

CREATE TRIGGER vouches_export_delete AFTER DELETE ON vouches
BEGIN
    INSERT INTO export_changes (entity, id) VALUES ('vouch', OLD.id);
END;

-- Exports made before this journal existed left no trace of the changes
-- since: forget which renderer the records of rendered files are from, so
-- the next export looks at every row once (and from then on at the journal).
DELETE FROM instance_meta WHERE key = 'export_files_renderer';
