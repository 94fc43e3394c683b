//! The peer registry, `sync_peers.txt` in the instance directory: which
//! hubs this instance talks to and which peers it pulls. Token secrets never
//! live here, nor do pins any more: those are in the database
//! (`crate::sync::pins`); a `Key:` line is still read (see [`Peer::key`]).
//!
//! The file is a sequence of stanzas in the same header style as the sync
//! format, separated by blank lines (specified in `docs/peers.md`):
//!
//! ```text
//! # our hub
//! Name: hub.example
//! Kind: hub
//! URL: https://hub.example
//!
//! Name: beta.example
//! Kind: peer
//! URL: https://hub.example
//! ```
//!
//! Parsing is strict and names the line of every problem (unknown or
//! repeated field, duplicate name, missing URL, bad key, bad kind).
//! `#` comment lines are kept with the stanza that follows them. Edits go
//! through [`edit_registry`]: a lock file (`sync_peers.txt.lock`, created
//! exclusively) serialises concurrent runs, and the new text replaces the
//! old by rename, so a reader never sees half a file.
//!
//! This lives in the engine rather than the CLI because it is instance
//! state next to the keys, and the admin UI and tests read it too.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The registry's file name in the instance directory.
pub const PEERS_FILE: &str = "sync_peers.txt";
/// The lock file held while the registry is edited.
pub const PEERS_LOCK_FILE: &str = "sync_peers.txt.lock";

/// What a registry entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// A hub to push to and pull from.
    Hub,
    /// Another instance whose bundles this one pulls.
    Peer,
}

impl PeerKind {
    /// The word used in the file.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PeerKind::Hub => "hub",
            PeerKind::Peer => "peer",
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PeerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hub" => Ok(PeerKind::Hub),
            "peer" => Ok(PeerKind::Peer),
            other => Err(format!("Kind {other:?} is not hub or peer")),
        }
    }
}

/// One hub or peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its name: for a peer, the instance name its bundles carry.
    pub name: String,
    /// Hub or peer.
    pub kind: PeerKind,
    /// The hub URL (for a peer: the hub it publishes to).
    pub url: String,
    /// A `Key:` line read from the file (minisign one-line form). Pins
    /// live in the database now (`crate::sync::pins`): a `Key:` line is
    /// still read, adopted as the pin of a peer that has none and refused
    /// if it disagrees with the pin, and never written again.
    pub key: Option<String>,
}

impl Peer {
    /// Checks the fields: a valid name, an `http(s)://` URL without spaces,
    /// and a strong Ed25519 key if present.
    ///
    /// # Errors
    ///
    /// A sentence naming the field at fault.
    pub fn check(&self) -> Result<(), String> {
        if !wb_syncfmt::is_valid_instance_name(&self.name) {
            return Err(format!(
                "Name {:?} is not a valid instance name ({})",
                self.name,
                wb_syncfmt::INSTANCE_NAME_RULE
            ));
        }
        let url_ok = (self.url.starts_with("http://") || self.url.starts_with("https://"))
            && self.url.len() > "https://".len()
            && !self
                .url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !url_ok {
            return Err(format!(
                "URL {:?} is not an http:// or https:// URL",
                self.url
            ));
        }
        if let Some(key) = &self.key {
            wb_crypto::PublicKey::from_minisign_base64(key)
                .map_err(|e| format!("Key is not an acceptable public key: {e}"))?;
        }
        Ok(())
    }
}

/// Reading, parsing or writing the registry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A line of the file breaks a rule.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An entry given on the command line is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A name is already in the registry.
    #[error("{name} is already in {PEERS_FILE}; remove it first to change it")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// No entry has this name.
    #[error("no hub or peer named {name} in {PEERS_FILE}")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The lock file exists.
    #[error(
        "{} exists: another wb is editing the peer registry, or a run crashed; if no wb is running, remove that file",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PeerError + '_ {
    move |source| PeerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The fields of a stanza being read, in the order Name, Kind, URL, Key:
/// each with the line it is on.
type Fields = [Option<(usize, String)>; 4];

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stanza {
    comments: Vec<String>,
    peer: Peer,
}

/// The parsed registry, with its comments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRegistry {
    stanzas: Vec<Stanza>,
    trailing_comments: Vec<String>,
}

impl PeerRegistry {
    /// Parses the text of a registry; `path` is only used in errors.
    ///
    /// # Errors
    ///
    /// [`PeerError::Malformed`] naming the line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PeerError> {
        let malformed = |line: usize, reason: String| PeerError::Malformed {
            path: path.to_owned(),
            line,
            reason,
        };
        let mut registry = PeerRegistry::default();
        let mut comments = Vec::new();
        // The stanza being read: its first line and fields (line, value).
        let mut current: Option<(usize, Fields)> = None;
        const FIELDS: [&str; 4] = ["Name", "Kind", "URL", "Key"];

        let finish = |registry: &mut PeerRegistry,
                      comments: &mut Vec<String>,
                      start: usize,
                      fields: Fields|
         -> Result<(), PeerError> {
            let [name, kind, url, key] = fields;
            let (_, name) = name.ok_or_else(|| malformed(start, "entry has no Name".into()))?;
            let (kind_line, kind) = kind.ok_or_else(|| {
                malformed(start, format!("{name}: entry has no Kind (hub or peer)"))
            })?;
            let kind: PeerKind = kind.parse().map_err(|e| malformed(kind_line, e))?;
            let (_, url) =
                url.ok_or_else(|| malformed(start, format!("{name}: entry has no URL")))?;
            let peer = Peer {
                name,
                kind,
                url,
                key: key.as_ref().map(|(_, k)| k.clone()),
            };
            let line_of_error = key.map_or(start, |(line, _)| line);
            peer.check().map_err(|reason| {
                let line = if reason.starts_with("Key") {
                    line_of_error
                } else {
                    start
                };
                malformed(line, reason)
            })?;
            if registry.get(&peer.name).is_some() {
                return Err(malformed(start, format!("duplicate name {}", peer.name)));
            }
            registry.stanzas.push(Stanza {
                comments: std::mem::take(comments),
                peer,
            });
            Ok(())
        };

        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                if let Some((start, fields)) = current.take() {
                    finish(&mut registry, &mut comments, start, fields)?;
                }
                continue;
            }
            if line.trim_start().starts_with('#') {
                comments.push(line.trim_end().to_owned());
                continue;
            }
            let Some((field, value)) = line.split_once(':') else {
                return Err(malformed(
                    number,
                    format!("expected \"Field: value\", found {line:?}"),
                ));
            };
            let Some(slot) = FIELDS.iter().position(|f| *f == field) else {
                return Err(malformed(
                    number,
                    format!("unknown field {field:?} (fields are Name, Kind, URL, Key)"),
                ));
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(malformed(number, format!("{field} has no value")));
            }
            let (_, fields) = current.get_or_insert_with(|| (number, Default::default()));
            if fields[slot].is_some() {
                return Err(malformed(
                    number,
                    format!("{field} appears twice in this entry"),
                ));
            }
            fields[slot] = Some((number, value.to_owned()));
        }
        if let Some((start, fields)) = current.take() {
            finish(&mut registry, &mut comments, start, fields)?;
        }
        registry.trailing_comments = comments;
        Ok(registry)
    }

    /// Reads `DIR/sync_peers.txt`; a missing file is an empty registry.
    ///
    /// # Errors
    ///
    /// I/O errors and malformed entries.
    pub fn load(instance_dir: &Path) -> Result<Self, PeerError> {
        let path = instance_dir.join(PEERS_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The registry as text, in its one written form. `Key:` lines are
    /// not written: pins live in the database (see [`Peer::key`]).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for stanza in &self.stanzas {
            if !out.is_empty() {
                out.push('\n');
            }
            for comment in &stanza.comments {
                out.push_str(comment);
                out.push('\n');
            }
            let peer = &stanza.peer;
            out.push_str(&format!(
                "Name: {}\nKind: {}\nURL: {}\n",
                peer.name, peer.kind, peer.url
            ));
        }
        if !self.trailing_comments.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            for comment in &self.trailing_comments {
                out.push_str(comment);
                out.push('\n');
            }
        }
        out
    }

    /// Every entry, in file order.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.stanzas.iter().map(|s| &s.peer)
    }

    /// The entry named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Peer> {
        self.peers().find(|p| p.name == name)
    }

    /// Adds an entry at the end.
    ///
    /// # Errors
    ///
    /// An invalid entry or a name already present.
    pub fn add(&mut self, peer: Peer) -> Result<(), PeerError> {
        peer.check().map_err(PeerError::Invalid)?;
        if self.get(&peer.name).is_some() {
            return Err(PeerError::Duplicate { name: peer.name });
        }
        self.stanzas.push(Stanza {
            comments: Vec::new(),
            peer,
        });
        Ok(())
    }

    /// Forgets the `Key:` line of the entry `name`, if it has one (the pin
    /// in the database now decides; see [`Peer::key`]).
    pub fn clear_key(&mut self, name: &str) {
        if let Some(stanza) = self.stanzas.iter_mut().find(|s| s.peer.name == name) {
            stanza.peer.key = None;
        }
    }

    /// Removes the entry `name` (with its comments).
    ///
    /// # Errors
    ///
    /// [`PeerError::NotFound`].
    pub fn remove(&mut self, name: &str) -> Result<Peer, PeerError> {
        let index = self
            .stanzas
            .iter()
            .position(|s| s.peer.name == name)
            .ok_or_else(|| PeerError::NotFound {
                name: name.to_owned(),
            })?;
        Ok(self.stanzas.remove(index).peer)
    }
}

/// The lock on the registry of one instance directory; removed on drop.
struct RegistryLock {
    path: PathBuf,
}

impl RegistryLock {
    fn acquire(instance_dir: &Path) -> Result<Self, PeerError> {
        let path = instance_dir.join(PEERS_LOCK_FILE);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                let _ = writeln!(file, "{}", std::process::id());
                Ok(Self { path })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(PeerError::Locked { path }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

impl Drop for RegistryLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The registry of one instance directory, read under its lock (see
/// [`lock_registry`]): change it, do what must happen with it (set a pin in
/// the database), then [`LockedRegistry::save`] it. Dropping it without
/// saving leaves the file as it was and releases the lock.
pub struct LockedRegistry {
    _lock: RegistryLock,
    instance_dir: PathBuf,
    /// The registry as read; changes are written by [`LockedRegistry::save`].
    pub registry: PeerRegistry,
}

impl LockedRegistry {
    /// Writes the registry atomically (temporary file, flush, rename) and
    /// releases the lock.
    ///
    /// # Errors
    ///
    /// I/O.
    pub fn save(self) -> Result<(), PeerError> {
        let path = self.instance_dir.join(PEERS_FILE);
        let tmp = self.instance_dir.join(format!(".{PEERS_FILE}.tmp"));
        {
            let mut file = fs::File::create(&tmp).map_err(io_err(&tmp))?;
            file.write_all(self.registry.to_text().as_bytes())
                .map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(())
    }
}

/// Takes the lock of the registry of `instance_dir` and reads it.
///
/// # Errors
///
/// The lock is held, the file is malformed, or I/O.
pub fn lock_registry(instance_dir: &Path) -> Result<LockedRegistry, PeerError> {
    let lock = RegistryLock::acquire(instance_dir)?;
    let registry = PeerRegistry::load(instance_dir)?;
    Ok(LockedRegistry {
        _lock: lock,
        instance_dir: instance_dir.to_owned(),
        registry,
    })
}

/// Edits the registry of `instance_dir` under its lock: loads it, applies
/// `change`, and writes the result atomically (temporary file, flush,
/// rename) if `change` succeeded.
///
/// # Errors
///
/// The lock is held, the file is malformed, `change` failed, or I/O.
pub fn edit_registry<T>(
    instance_dir: &Path,
    change: impl FnOnce(&mut PeerRegistry) -> Result<T, PeerError>,
) -> Result<T, PeerError> {
    let mut locked = lock_registry(instance_dir)?;
    let result = change(&mut locked.registry)?;
    locked.save()?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn parse(text: &str) -> Result<PeerRegistry, String> {
        PeerRegistry::parse(text, Path::new(PEERS_FILE)).map_err(|e| e.to_string())
    }

    fn check(text: &str, expected: &str) {
        let err = parse(text).unwrap_err();
        assert!(err.contains(expected), "{text:?}: {err}");
    }

    #[test]
    fn a_well_formed_registry_round_trips_with_its_comments() {
        let text = format!(
            "# our hub\nName: hub.example\nKind: hub\nURL: https://hub.example\n\n# beta\nName: beta.example\nKind: peer\nURL: https://hub.example\nKey: {KEY}\n\n# the end\n"
        );
        let registry = parse(&text).unwrap();
        assert_eq!(registry.peers().count(), 2);
        assert_eq!(
            registry.get("beta.example").unwrap().key.as_deref(),
            Some(KEY)
        );
        // Rewritten without its Key line: pins live in the database.
        assert_eq!(
            registry.to_text(),
            text.replace(&format!("Key: {KEY}\n"), "")
        );
    }

    #[test]
    fn malformed_entries_are_refused_with_their_line() {
        let hub = "Name: hub.example\nKind: hub\nURL: https://hub.example\n";
        check(
            "Name: a.example\nKind: hub\nURL: https://h\nToken: x\n",
            "sync_peers.txt:4: unknown field \"Token\"",
        );
        check(
            &format!("{hub}\n{hub}"),
            "sync_peers.txt:5: duplicate name hub.example",
        );
        check(
            "Name: a.example\nKind: peer\n",
            "sync_peers.txt:1: a.example: entry has no URL",
        );
        check(
            "Name: a.example\nKind: relay\nURL: https://h\n",
            "sync_peers.txt:2: Kind \"relay\" is not hub or peer",
        );
        check(
            "Name: a.example\nKind: peer\nURL: https://h\nKey: RWQnotakey\n",
            "sync_peers.txt:4: Key is not an acceptable public key",
        );
        check(
            "Name: a.example\nName: b.example\n",
            "sync_peers.txt:2: Name appears twice",
        );
        check(
            "Kind: hub\nURL: https://h\n",
            "sync_peers.txt:1: entry has no Name",
        );
        check(
            "Name: A B\nKind: hub\nURL: https://h\n",
            "sync_peers.txt:1: Name \"A B\"",
        );
        check(
            "Name: a.example\nKind: hub\nURL: ftp://h\n",
            "URL \"ftp://h\"",
        );
        check("just text\n", "sync_peers.txt:1: expected \"Field: value\"");
        check("Name:\n", "sync_peers.txt:1: Name has no value");
        check("Name: a.example\nURL: https://h\n", "no Kind");
    }

    #[test]
    fn edits_are_locked_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        edit_registry(dir.path(), |r| {
            r.add(Peer {
                name: "hub.example".into(),
                kind: PeerKind::Hub,
                url: "https://hub.example".into(),
                key: None,
            })
        })
        .unwrap();
        let err = edit_registry(dir.path(), |r| {
            r.add(Peer {
                name: "hub.example".into(),
                kind: PeerKind::Hub,
                url: "https://hub.example".into(),
                key: None,
            })
        })
        .unwrap_err();
        assert!(matches!(err, PeerError::Duplicate { .. }), "{err}");
        assert!(
            !dir.path().join(PEERS_LOCK_FILE).exists(),
            "the lock is released"
        );
        fs::write(dir.path().join(PEERS_LOCK_FILE), "1").unwrap();
        let err = edit_registry(dir.path(), |r| r.remove("hub.example")).unwrap_err();
        assert!(err.to_string().contains("remove that file"), "{err}");
        fs::remove_file(dir.path().join(PEERS_LOCK_FILE)).unwrap();
        edit_registry(dir.path(), |r| r.remove("hub.example")).unwrap();
        assert_eq!(PeerRegistry::load(dir.path()).unwrap().peers().count(), 0);
    }
}
