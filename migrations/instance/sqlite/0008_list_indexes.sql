-- Indexes for the lists of the admin UI (issue #15). Never edit a landed
-- migration: add a new one.
--
-- A list pages by id (`ORDER BY t.id`), filtered by own scope, origin and
-- effective scope; "held back" needs `sync_scope = 'public' AND origin =
-- local`. With (sync_scope, origin, id) those filters read one range of the
-- index already in id order, and stop after a page of rows, however large
-- the table. The other filters (text, shared) are checked on the rows so
-- read. Users are few and are looked up by id.
CREATE INDEX requests_scope_origin_id ON requests (sync_scope, origin, id);
CREATE INDEX comments_scope_origin_id ON comments (sync_scope, origin, id);
CREATE INDEX invites_scope_origin_id ON invites (sync_scope, origin, id);
CREATE INDEX vouches_scope_origin_id ON vouches (sync_scope, origin, id);
