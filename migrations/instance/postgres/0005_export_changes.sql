-- The export's journal of changes (Postgres). Never edit a landed migration:
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
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity TEXT NOT NULL CHECK (entity IN ('user', 'request', 'comment', 'invite', 'vouch')),
    id     TEXT NOT NULL
);

-- TG_ARGV[0]: the entity kind of the table.
CREATE FUNCTION export_changes_note() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    local_name TEXT := (SELECT value FROM instance_meta WHERE key = 'instance_name');
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO export_changes (entity, id) VALUES (TG_ARGV[0], OLD.id);
    ELSIF NEW.origin = local_name THEN
        INSERT INTO export_changes (entity, id) VALUES (TG_ARGV[0], NEW.id);
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.origin = local_name OR OLD.sync_scope <> NEW.sync_scope THEN
            INSERT INTO export_changes (entity, id) VALUES (TG_ARGV[0], NEW.id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_export_changes AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION export_changes_note('user');

CREATE TRIGGER requests_export_changes AFTER INSERT OR UPDATE OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION export_changes_note('request');

CREATE TRIGGER comments_export_changes AFTER INSERT OR UPDATE OR DELETE ON comments
    FOR EACH ROW EXECUTE FUNCTION export_changes_note('comment');

CREATE TRIGGER invites_export_changes AFTER INSERT OR UPDATE OR DELETE ON invites
    FOR EACH ROW EXECUTE FUNCTION export_changes_note('invite');

CREATE TRIGGER vouches_export_changes AFTER INSERT OR UPDATE OR DELETE ON vouches
    FOR EACH ROW EXECUTE FUNCTION export_changes_note('vouch');

-- Exports made before this journal existed left no trace of the changes
-- since: forget which renderer the records of rendered files are from, so
-- the next export looks at every row once (and from then on at the journal).
DELETE FROM instance_meta WHERE key = 'export_files_renderer';
