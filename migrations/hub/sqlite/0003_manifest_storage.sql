-- Postgres's migration 0003 stores manifests uncompressed; SQLite never
-- compresses a value, so there is nothing to change. The version exists
-- so both dialects have the same list of migrations.
SELECT 1;
