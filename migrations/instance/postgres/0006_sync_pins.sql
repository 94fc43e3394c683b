-- Pins (Postgres). Never edit a landed migration: add a new one.
--
-- The one source of truth for which public key speaks for which other
-- instance (docs/peers.md, "Pins"). Manual import, pull and relay export all
-- read it; sync_peers.txt keeps only hubs and peers (name, kind, URL).
--
-- instance:   the other instance (origin) the key speaks for;
-- public_key: its key, minisign one-line form; UNIQUE, so one key can
--             never be pinned for two origins;
-- pinned_at:  when the pin was set, microseconds since the epoch;
-- pinned_by:  how: 'migrated' (from sync_origins by this migration),
--             'registry' (a Key: line of sync_peers.txt, adopted),
--             'peers-add' / 'peers-pin' (wb sync peers add --key / pin),
--             'import-key' / 'accept-new' (wb sync import --key /
--             --accept-new-keys), 'rotation' (a verified key rotation).
--
-- sync_origins keeps what was last applied from each origin (sequence,
-- manifest digest, signature, and the key that signed that bundle, to relay
-- it); its public_key is no longer a pin.
CREATE TABLE sync_pins (
    instance   TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    pinned_at  BIGINT NOT NULL,
    pinned_by  TEXT NOT NULL CHECK (pinned_by IN ('migrated', 'registry', 'peers-add',
               'peers-pin', 'import-key', 'accept-new', 'rotation'))
);

-- The keys earlier imports pinned become pins. A key recorded for two
-- origins (which earlier versions let happen) pins neither: which of them
-- it speaks for is unknown, so both must be pinned again on purpose
-- (wb sync peers pin NAME --key KEY).
INSERT INTO sync_pins (instance, public_key, pinned_at, pinned_by)
SELECT instance, public_key, imported_at, 'migrated'
FROM sync_origins
WHERE public_key IN (
    SELECT public_key FROM sync_origins GROUP BY public_key HAVING COUNT(*) = 1
);
