//! Recently used manifests, held in memory with their parsed form, so that
//! a delta does not read (and a delta push does not parse) the several
//! megabytes of a large instance's manifest from the store each time.
//!
//! An entry is keyed by its instance and the SHA-256 of its manifest: the
//! bytes of a manifest never change under its hash, so an entry is never
//! stale, even with several hub processes on one database. Whether the
//! store still *keeps* a manifest is always asked of the store; the cache
//! only saves reading and parsing it. Only verified manifests enter.
//!
//! The cache holds at most its budget of bytes (the manifest's bytes plus
//! an estimate of its parsed entries) and forgets the least recently used
//! entry first. A whole upload never fills it: the hub's memory during a
//! whole push is the bundle's (issue 13's goal), not the bundle's plus a
//! parsed copy of its manifest.

use std::sync::{Arc, Mutex, PoisonError};

use wb_model::InstanceName;
use wb_store::hub::StoredManifest;
use wb_syncfmt::{Manifest, ManifestEntry};

/// A kept manifest: what the store holds of it, and its parse when the
/// hub had one at hand (a delta push needs it; a pull only the bytes).
#[derive(Debug)]
pub(crate) struct CachedManifest {
    /// Its bytes, signature, rotation chain and bundle information.
    pub stored: StoredManifest,
    /// `stored.manifest`, parsed.
    pub parsed: Option<Arc<Manifest>>,
    /// Bytes it is counted as against the budget.
    weight: usize,
}

impl CachedManifest {
    /// A manifest the store keeps, and its parse; the caller guarantees
    /// that `parsed` is what `stored.manifest` parses as.
    pub(crate) fn new(stored: StoredManifest, parsed: Option<Arc<Manifest>>) -> Self {
        let entries = parsed.as_ref().map_or(0, |parsed| {
            parsed.files.len() * std::mem::size_of::<ManifestEntry>()
                + parsed.files.iter().map(|e| e.path.len()).sum::<usize>()
        });
        let weight = stored.manifest.len()
            + stored.signature.len()
            + stored.key_rotations.as_ref().map_or(0, Vec::len)
            + entries;
        Self {
            stored,
            parsed,
            weight,
        }
    }

    fn is(&self, instance: &InstanceName, sha256: &str) -> bool {
        self.stored.info.instance == *instance && self.stored.info.manifest_sha256 == sha256
    }
}

/// The cache: see the module documentation.
#[derive(Debug)]
pub(crate) struct ManifestCache {
    budget: usize,
    /// Least recently used first.
    entries: Mutex<Vec<Arc<CachedManifest>>>,
}

impl ManifestCache {
    /// An empty cache of at most `budget` bytes (0: keeps nothing).
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The manifest `sha256` of `instance`, when held; it becomes the most
    /// recently used.
    pub(crate) fn get(&self, instance: &InstanceName, sha256: &str) -> Option<Arc<CachedManifest>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|e| e.is(instance, sha256))?;
        let entry = entries.remove(at);
        entries.push(Arc::clone(&entry));
        Some(entry)
    }

    /// Holds `manifest` as the most recently used entry, forgetting the
    /// least recently used ones until the cache is within its budget. A
    /// manifest larger than the whole budget is not held.
    pub(crate) fn insert(&self, manifest: Arc<CachedManifest>) {
        if manifest.weight > self.budget {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let info = &manifest.stored.info;
        entries.retain(|e| !e.is(&info.instance, &info.manifest_sha256));
        entries.push(manifest);
        let mut total: usize = entries.iter().map(|e| e.weight).sum();
        while total > self.budget {
            // Never empty here: the newest entry alone fits.
            let evicted = entries.remove(0);
            total -= evicted.weight;
        }
    }

    /// The entries held, as `(instance, manifest SHA-256)`, least recently
    /// used first.
    #[cfg(test)]
    fn held(&self) -> Vec<(String, String)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .map(|e| {
                let info = &e.stored.info;
                (info.instance.to_string(), info.manifest_sha256.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use wb_model::Timestamp;
    use wb_store::hub::BundleInfo;
    use wb_syncfmt::ManifestEntry;

    fn manifest(instance: &str, sha: &str, bytes: usize) -> Arc<CachedManifest> {
        let instance = InstanceName::parse(instance).unwrap();
        let stored = StoredManifest {
            info: BundleInfo {
                instance: instance.clone(),
                sequence: 1,
                manifest_sha256: sha.to_owned(),
                size: 0,
                etag: String::new(),
                published_at: Timestamp::now(),
            },
            manifest: vec![b'x'; bytes],
            signature: Vec::new(),
            key_rotations: None,
        };
        Arc::new(CachedManifest::new(stored, None))
    }

    fn name(s: &str) -> InstanceName {
        InstanceName::parse(s).unwrap()
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = ManifestCache::new(300);
        cache.insert(manifest("a.example", "1", 100));
        cache.insert(manifest("b.example", "2", 100));
        cache.insert(manifest("a.example", "3", 100));
        // Used: "1" becomes the most recent, so "2" goes.
        assert!(cache.get(&name("a.example"), "1").is_some());
        cache.insert(manifest("c.example", "4", 100));
        assert!(cache.get(&name("b.example"), "2").is_none());
        assert_eq!(
            cache.held(),
            [
                ("a.example".to_owned(), "3".to_owned()),
                ("a.example".to_owned(), "1".to_owned()),
                ("c.example".to_owned(), "4".to_owned()),
            ]
        );
    }

    #[test]
    fn a_hash_is_looked_up_per_instance() {
        let cache = ManifestCache::new(1000);
        cache.insert(manifest("a.example", "1", 10));
        assert!(cache.get(&name("b.example"), "1").is_none());
        assert!(cache.get(&name("a.example"), "1").is_some());
    }

    #[test]
    fn nothing_larger_than_the_budget_is_held() {
        let cache = ManifestCache::new(150);
        cache.insert(manifest("a.example", "1", 100));
        cache.insert(manifest("a.example", "2", 200));
        assert_eq!(
            cache.held(),
            [("a.example".to_owned(), "1".to_owned())],
            "the oversized manifest displaced nothing"
        );
        let off = ManifestCache::new(0);
        off.insert(manifest("a.example", "1", 1));
        assert!(off.held().is_empty());
    }

    #[test]
    fn a_parse_is_counted() {
        let stored = manifest("a.example", "1", 100).stored.clone();
        let entry = ManifestEntry {
            path: "user/0.sync.txt".to_owned(),
            len: 1,
            sha256: [0; 32],
        };
        let parsed = Manifest {
            instance: "a.example".to_owned(),
            public_key: String::new(),
            schema_version: 1,
            sequence: 1,
            files: vec![entry; 10],
        };
        let bare = CachedManifest::new(stored.clone(), None).weight;
        let with = CachedManifest::new(stored, Some(Arc::new(parsed))).weight;
        assert_eq!(
            with - bare,
            10 * (std::mem::size_of::<ManifestEntry>() + "user/0.sync.txt".len())
        );
    }

    #[test]
    fn the_same_manifest_is_held_once() {
        let cache = ManifestCache::new(1000);
        cache.insert(manifest("a.example", "1", 100));
        cache.insert(manifest("a.example", "1", 100));
        assert_eq!(cache.held().len(), 1);
    }
}
