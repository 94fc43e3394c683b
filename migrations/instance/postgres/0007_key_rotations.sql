-- Key rotation (docs/keys.md). Never edit a landed migration: add a new one.

-- The rotation chain (key-rotations.txt) of the last bundle applied from
-- each origin, verbatim, so that a relay export of that origin's rows
-- carries the chain its readers need to follow the origin's key. NULL when
-- the bundle carried none.
ALTER TABLE sync_origins ADD COLUMN key_rotations TEXT;
