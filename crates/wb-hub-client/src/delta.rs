//! Manifest deltas: what changed between two manifests of one instance, as
//! the lines of the new one (`docs/hub.md`, "Deltas").
//!
//! A manifest is six header lines, an empty line, and one line per file
//! (`<sha256> <len> <path>`), sorted by path. A [`ManifestDelta`] carries
//! the new manifest's header block whole (a few hundred bytes), the paths
//! the new manifest no longer lists, and the new manifest's lines that the
//! base does not have byte for byte. [`apply`] rebuilds the new manifest
//! from the base and the delta and checks its SHA-256 against the one the
//! delta names, so a rebuilt manifest is exactly the one that was signed —
//! the signature is then checked over it like over any manifest.

use serde::{Deserialize, Serialize};
use wb_syncfmt::{ManifestEntry, sha256_hex};

/// The `format` of a delta this client writes and reads.
pub const DELTA_FORMAT: &str = "wb-manifest-delta/1";

/// The name of the delta inside a delta archive (beside `bundle.sig`,
/// `key-rotations.txt` and the changed files).
pub const DELTA_FILE_NAME: &str = "manifest.delta.json";

/// What changed from one manifest (the base) to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDelta {
    /// Always [`DELTA_FORMAT`].
    pub format: String,
    /// SHA-256 (hex) of the base manifest.
    pub base: String,
    /// SHA-256 (hex) of the manifest the delta rebuilds.
    pub manifest_sha256: String,
    /// The new manifest's header block: its six header lines and the empty
    /// line, each ending in `\n`.
    pub headers: String,
    /// Paths the base lists and the new manifest does not, sorted.
    pub removed: Vec<String>,
    /// Lines of the new manifest (`<sha256> <len> <path>`, without the
    /// `\n`) the base does not have, sorted by path.
    pub lines: Vec<String>,
}

/// A delta cannot be made or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// A manifest is not in its canonical form.
    #[error("{0}")]
    Manifest(#[from] wb_syncfmt::ParseError),
    /// The delta is malformed.
    #[error("the manifest delta is malformed: {0}")]
    Malformed(String),
    /// The delta is against another base than the manifest given.
    #[error("the manifest delta is against manifest {expected}, not {found}")]
    WrongBase {
        /// The base the delta names.
        expected: String,
        /// The base given.
        found: String,
    },
    /// The rebuilt manifest is not the one the delta names.
    #[error("the manifest rebuilt from the delta has SHA-256 {found}, the delta names {expected}")]
    Mismatch {
        /// The hash the delta names.
        expected: String,
        /// The hash of the rebuilt manifest.
        found: String,
    },
}

/// The header block and the body (the file lines, each ending in `\n`)
/// of a canonical manifest.
fn split(manifest: &[u8]) -> Result<(&str, &str), DeltaError> {
    let text = std::str::from_utf8(manifest)
        .map_err(|_| DeltaError::Malformed("a manifest is not UTF-8".to_owned()))?;
    let Some(end) = text.find("\n\n") else {
        return Err(DeltaError::Malformed(
            "a manifest has no empty line after its headers".to_owned(),
        ));
    };
    Ok(text.split_at(end + 2))
}

/// The lines of a manifest body, without their `\n`.
fn lines_of(body: &str) -> Vec<&str> {
    body.split_terminator('\n').collect()
}

/// The parts of two manifest bodies between the whole lines they share at
/// their start and at their end ([`wb_syncfmt::shared_lines`]): a change
/// of a few lines in a large manifest leaves a few lines here, found by
/// comparing bytes, without splitting the shared lines at all.
fn changed_middle<'a, 'b>(a: &'a str, b: &'b str) -> (&'a str, &'b str) {
    let (head, tail) = wb_syncfmt::shared_lines(a.as_bytes(), b.as_bytes());
    (&a[head..a.len() - tail], &b[head..b.len() - tail])
}

/// The path of a manifest line.
fn path_of(line: &str) -> Result<&str, DeltaError> {
    line.splitn(3, ' ')
        .nth(2)
        .ok_or_else(|| DeltaError::Malformed(format!("{:?} is not a manifest line", excerpt(line))))
}

/// The path of a line of a manifest already checked (the base of a
/// delta): the line itself if it has none, which sorts it somewhere and
/// makes a manifest whose hash cannot match.
fn path_or_line(line: &str) -> &str {
    line.splitn(3, ' ').nth(2).unwrap_or(line)
}

fn too_large(max_manifest_bytes: u64) -> DeltaError {
    DeltaError::Malformed(format!(
        "the rebuilt manifest would be larger than the limit of {max_manifest_bytes} bytes"
    ))
}

fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The delta from `base` to `new` (both canonical manifests of one
/// instance, as their bytes: the sender's own, so not parsed again), found
/// by walking both sorted line lists once.
///
/// # Errors
///
/// A manifest that is not UTF-8, has no header block, or a line without a
/// path.
pub fn diff(base: &[u8], new: &[u8], max_manifest_bytes: u64) -> Result<ManifestDelta, DeltaError> {
    diff_hashed(
        base,
        &sha256_hex(base),
        new,
        &sha256_hex(new),
        max_manifest_bytes,
    )
}

/// [`diff`] of manifests whose SHA-256 (hex) the caller already holds —
/// the hub keys its manifests by hash, the client has hashed its own to
/// find the base — so 8 MB of manifest at 100k rows are not hashed
/// again. The hashes go into the delta as they are: a wrong one makes a
/// delta every receiver refuses ([`apply`] checks both).
///
/// # Errors
///
/// As [`diff`].
pub fn diff_hashed(
    base: &[u8],
    base_sha256: &str,
    new: &[u8],
    new_sha256: &str,
    max_manifest_bytes: u64,
) -> Result<ManifestDelta, DeltaError> {
    for manifest in [base, new] {
        if manifest.len() as u64 > max_manifest_bytes {
            return Err(DeltaError::Malformed(format!(
                "a manifest is larger than the limit of {max_manifest_bytes} bytes"
            )));
        }
    }
    let (_, old_body) = split(base)?;
    let (headers, new_body) = split(new)?;
    // Lines both share at the start and the end are unchanged: only the
    // lines between are walked.
    let (old_middle, new_middle) = changed_middle(old_body, new_body);
    let (old_lines, new_lines) = (lines_of(old_middle), lines_of(new_middle));
    let (mut removed, mut lines) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old_lines.len() || j < new_lines.len() {
        let old = old_lines.get(i).map(|l| path_of(l)).transpose()?;
        let new = new_lines.get(j).map(|l| path_of(l)).transpose()?;
        match (old, new) {
            (Some(o), Some(n)) if o == n => {
                if old_lines[i] != new_lines[j] {
                    lines.push(new_lines[j].to_owned());
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o < n => {
                removed.push(o.to_owned());
                i += 1;
            }
            (Some(o), None) => {
                removed.push(o.to_owned());
                i += 1;
            }
            _ => {
                lines.push(new_lines[j].to_owned());
                j += 1;
            }
        }
    }
    Ok(ManifestDelta {
        format: DELTA_FORMAT.to_owned(),
        base: base_sha256.to_owned(),
        manifest_sha256: new_sha256.to_owned(),
        headers: headers.to_owned(),
        removed,
        lines,
    })
}

impl ManifestDelta {
    /// The delta as the JSON document of a delta archive.
    ///
    /// # Errors
    ///
    /// None in practice (serialising strings cannot fail).
    pub fn to_json(&self) -> Result<Vec<u8>, DeltaError> {
        serde_json::to_vec(self).map_err(|e| DeltaError::Malformed(e.to_string()))
    }

    /// Reads the JSON document of a delta archive, strictly, refusing
    /// more than `max_bytes` bytes.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Malformed`].
    pub fn from_json(bytes: &[u8], max_bytes: u64) -> Result<Self, DeltaError> {
        if bytes.len() as u64 > max_bytes {
            return Err(DeltaError::Malformed(format!(
                "{DELTA_FILE_NAME} is larger than the limit of {max_bytes} bytes"
            )));
        }
        let delta: ManifestDelta =
            serde_json::from_slice(bytes).map_err(|e| DeltaError::Malformed(e.to_string()))?;
        if delta.format != DELTA_FORMAT {
            return Err(DeltaError::Malformed(format!(
                "format {:?} is not {DELTA_FORMAT}",
                excerpt(&delta.format)
            )));
        }
        Ok(delta)
    }

    /// The entries of the changed lines: the files a receiver needs besides
    /// those of the base.
    ///
    /// # Errors
    ///
    /// A line that is not a manifest line.
    pub fn changed_entries(&self) -> Result<Vec<ManifestEntry>, DeltaError> {
        self.lines
            .iter()
            .map(|line| {
                let mut parts = line.splitn(3, ' ');
                let (Some(hash), Some(len), Some(path)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(DeltaError::Malformed(format!(
                        "{:?} is not a manifest line",
                        excerpt(line)
                    )));
                };
                let len = len.parse::<u64>().map_err(|_| {
                    DeltaError::Malformed(format!("{:?} is not a manifest line", excerpt(line)))
                })?;
                ManifestEntry::with_hex_digest(path.to_owned(), len, hash).ok_or_else(|| {
                    DeltaError::Malformed(format!("{:?} is not a manifest line", excerpt(line)))
                })
            })
            .collect()
    }
}

/// Rebuilds the manifest `delta` describes from `base` (the bytes of the
/// manifest whose SHA-256 is `delta.base`) in one walk of the sorted lines,
/// and checks that it hashes to `delta.manifest_sha256` — so it is exactly
/// the manifest that was signed, byte for byte. Returns its bytes; the
/// caller parses them as any manifest (`BundleReader`), which checks the
/// canonical form.
///
/// # Errors
///
/// [`DeltaError::WrongBase`], [`DeltaError::Malformed`] (a removed path
/// the base lacks, a changed path also removed, lines out of order or a
/// path twice, a result over `max_manifest_bytes`),
/// [`DeltaError::Mismatch`].
pub fn apply(
    base: &[u8],
    delta: &ManifestDelta,
    max_manifest_bytes: u64,
) -> Result<Vec<u8>, DeltaError> {
    apply_hashed(base, &sha256_hex(base), delta, max_manifest_bytes)
}

/// [`apply`] to a base whose SHA-256 (hex) the caller has just checked —
/// the hub reads its manifests by hash, the client checks its cached one
/// against `manifest.sha256` — so the base is not hashed again. The
/// rebuilt manifest is hashed and checked as by [`apply`].
///
/// # Errors
///
/// As [`apply`].
pub fn apply_hashed(
    base: &[u8],
    base_sha256: &str,
    delta: &ManifestDelta,
    max_manifest_bytes: u64,
) -> Result<Vec<u8>, DeltaError> {
    if base_sha256 != delta.base {
        return Err(DeltaError::WrongBase {
            expected: delta.base.clone(),
            found: base_sha256.to_owned(),
        });
    }
    let (_, body) = split(base)?;
    let old_lines = lines_of(body);
    let changed = delta
        .lines
        .iter()
        .map(|line| Ok((path_of(line)?, line.as_str())))
        .collect::<Result<Vec<(&str, &str)>, DeltaError>>()?;
    if let Some(pair) = changed.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(DeltaError::Malformed(format!(
            "path {:?} has two lines, or the lines are not sorted by path",
            excerpt(pair[1].0)
        )));
    }
    if let Some(pair) = delta.removed.windows(2).find(|w| w[0] >= w[1]) {
        return Err(DeltaError::Malformed(format!(
            "removed path {:?} is listed twice, or the removed paths are not sorted",
            excerpt(&pair[1])
        )));
    }
    // Every change in path order: a changed line (`Some`) or a removal.
    let mut changes: Vec<(&str, Option<&str>)> =
        Vec::with_capacity(changed.len() + delta.removed.len());
    let (mut lines, mut removed) = (changed.iter().peekable(), delta.removed.iter().peekable());
    loop {
        let next = match (lines.peek(), removed.peek()) {
            (Some((p, _)), Some(r)) if *p == r.as_str() => {
                return Err(DeltaError::Malformed(format!(
                    "path {:?} is both removed and changed",
                    excerpt(p)
                )));
            }
            (Some((p, _)), Some(r)) if *p > r.as_str() => {
                removed.next().map(|r| (r.as_str(), None))
            }
            (Some(_), _) => lines.next().map(|(p, l)| (*p, Some(*l))),
            (None, Some(_)) => removed.next().map(|r| (r.as_str(), None)),
            (None, None) => None,
        };
        let Some(next) = next else { break };
        changes.push(next);
    }
    // The base's lines are sorted by path: each change finds its place by
    // a binary search, and the base's lines between changes are copied as
    // one run of bytes.
    let size_limit = usize::try_from(max_manifest_bytes).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(base.len().min(size_limit));
    bytes.extend_from_slice(delta.headers.as_bytes());
    let offset = |line: &str| line.as_ptr() as usize - body.as_ptr() as usize;
    let mut rest: &[&str] = &old_lines;
    let copy = |bytes: &mut Vec<u8>, run: &[&str]| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            bytes.extend_from_slice(&body.as_bytes()[offset(first)..offset(last) + last.len() + 1]);
        }
    };
    for (path, line) in changes {
        let before = rest.partition_point(|old| path_or_line(old) < path);
        copy(&mut bytes, &rest[..before]);
        rest = &rest[before..];
        let in_base = rest.first().is_some_and(|old| path_or_line(old) == path);
        if in_base {
            rest = &rest[1..];
        }
        match line {
            Some(line) => {
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
            }
            None if !in_base => {
                return Err(DeltaError::Malformed(format!(
                    "removed path {:?} is not in the base manifest",
                    excerpt(path)
                )));
            }
            None => {}
        }
        if bytes.len() > size_limit {
            return Err(too_large(max_manifest_bytes));
        }
    }
    copy(&mut bytes, rest);
    if bytes.len() > size_limit {
        return Err(too_large(max_manifest_bytes));
    }
    let found = sha256_hex(&bytes);
    if found != delta.manifest_sha256 {
        return Err(DeltaError::Mismatch {
            expected: delta.manifest_sha256.clone(),
            found,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use wb_syncfmt::Manifest;

    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn manifest(sequence: u64, files: &[(&str, &str)]) -> Vec<u8> {
        let mut entries: Vec<ManifestEntry> = files
            .iter()
            .map(|(path, body)| ManifestEntry::for_bytes((*path).to_owned(), body.as_bytes()))
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest {
            instance: "alpha.example".to_owned(),
            public_key: KEY.to_owned(),
            schema_version: wb_syncfmt::CURRENT_SCHEMA_VERSION,
            sequence,
            files: entries,
        }
        .to_text()
        .unwrap()
        .into_bytes()
    }

    const A: &str = "user/00000000-0000-4000-8000-00000000000a.sync.txt";
    const B: &str = "user/00000000-0000-4000-8000-00000000000b.sync.txt";
    const C: &str = "user/00000000-0000-4000-8000-00000000000c.sync.txt";

    #[test]
    fn a_delta_carries_only_the_changed_lines_and_rebuilds_the_manifest_exactly() {
        let base = manifest(1, &[(A, "a"), (B, "b")]);
        let new = manifest(2, &[(A, "a"), (B, "b2"), (C, "c")]);
        let delta = diff(&base, &new, 1 << 20).unwrap();
        assert_eq!(delta.lines.len(), 2, "the changed and the added line");
        assert!(delta.removed.is_empty());
        let json = delta.to_json().unwrap();
        let read = ManifestDelta::from_json(&json, 1 << 20).unwrap();
        let rebuilt = apply(&base, &read, 1 << 20).unwrap();
        assert_eq!(rebuilt, new);
        let paths: Vec<String> = read
            .changed_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, [B, C]);

        let back = diff(&new, &base, 1 << 20).unwrap();
        assert_eq!(back.removed, [C]);
        assert_eq!(apply(&new, &back, 1 << 20).unwrap(), base);
    }

    #[test]
    fn a_delta_against_another_base_or_rebuilding_another_manifest_is_refused() {
        let base = manifest(1, &[(A, "a")]);
        let other = manifest(1, &[(B, "b")]);
        let new = manifest(2, &[(A, "a2")]);
        let delta = diff(&base, &new, 1 << 20).unwrap();
        assert!(matches!(
            apply(&other, &delta, 1 << 20),
            Err(DeltaError::WrongBase { .. })
        ));
        let mut forged = delta.clone();
        forged.manifest_sha256 = "0".repeat(64);
        assert!(matches!(
            apply(&base, &forged, 1 << 20),
            Err(DeltaError::Mismatch { .. })
        ));
        // Hashes the caller vouches for are checked all the same: a base
        // said to be another is refused, a delta naming a wrong hash for
        // what it rebuilds too.
        assert!(matches!(
            apply_hashed(&base, &sha256_hex(&other), &delta, 1 << 20),
            Err(DeltaError::WrongBase { .. })
        ));
        let wrong = diff_hashed(&base, &sha256_hex(&base), &new, &"1".repeat(64), 1 << 20).unwrap();
        assert!(matches!(
            apply_hashed(&base, &sha256_hex(&base), &wrong, 1 << 20),
            Err(DeltaError::Mismatch { .. })
        ));
        assert_eq!(
            diff_hashed(&base, &sha256_hex(&base), &new, &sha256_hex(&new), 1 << 20).unwrap(),
            delta,
            "diff_hashed with the true hashes is diff"
        );
        let mut missing = delta.clone();
        missing.removed.push(C.to_owned());
        assert!(matches!(
            apply(&base, &missing, 1 << 20),
            Err(DeltaError::Malformed(_))
        ));
        let mut both = delta.clone();
        both.removed.push(A.to_owned());
        assert!(
            matches!(apply(&base, &both, 1 << 20), Err(DeltaError::Malformed(m)) if m.contains("both removed and changed"))
        );
        let mut twice = delta;
        twice.lines.push(twice.lines[0].clone());
        assert!(matches!(
            apply(&base, &twice, 1 << 20),
            Err(DeltaError::Malformed(_))
        ));
        assert!(ManifestDelta::from_json(b"{\"format\":\"x\"}", 1 << 20).is_err());
        assert!(ManifestDelta::from_json(&[b' '; 100], 10).is_err());
    }

    /// The delta of every pair of a few hundred generated manifests is the
    /// one a map of path → line gives, and rebuilds the new manifest: with
    /// changes at the first and last lines, runs of them, removals,
    /// additions before the first and after the last line, and none.
    #[test]
    fn deltas_match_a_map_of_lines_and_rebuild_every_manifest() {
        use std::collections::BTreeMap;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        };
        let path = |i: u64| format!("user/00000000-0000-4000-8000-{i:012x}.sync.txt");
        for case in 0..300 {
            let count = next(40);
            let base: BTreeMap<String, String> = (0..count)
                .map(|i| (path(i * 2 + 10), format!("v{}", next(3))))
                .collect();
            let mut new = base.clone();
            for _ in 0..next(5) {
                let edit = next(4);
                let key = (!new.is_empty())
                    .then(|| new.keys().nth(next(new.len() as u64) as usize).cloned())
                    .flatten();
                match (edit, key) {
                    (0, Some(key)) => {
                        new.remove(&key);
                    }
                    (1, Some(key)) => {
                        new.insert(key, format!("w{}", next(1000)));
                    }
                    // Before the first, between two, after the last.
                    _ => {
                        new.insert(path(next(count * 2 + 20)), format!("n{}", next(1000)));
                    }
                }
            }
            let render = |files: &BTreeMap<String, String>, sequence| {
                let files: Vec<(&str, &str)> = files
                    .iter()
                    .map(|(p, b)| (p.as_str(), b.as_str()))
                    .collect();
                manifest(sequence, &files)
            };
            let (base_bytes, new_bytes) = (render(&base, 1), render(&new, 2));
            let delta = diff(&base_bytes, &new_bytes, 1 << 20).unwrap();
            let line = |p: &str, b: &str| ManifestEntry::for_bytes(p.to_owned(), b.as_bytes());
            let expected_removed: Vec<String> = base
                .keys()
                .filter(|p| !new.contains_key(*p))
                .cloned()
                .collect();
            let expected_lines: Vec<String> = new
                .iter()
                .filter(|(p, b)| base.get(*p) != Some(b))
                .map(|(p, b)| {
                    let e = line(p, b);
                    format!("{} {} {}", e.sha256_hex(), e.len, e.path)
                })
                .collect();
            assert_eq!(delta.removed, expected_removed, "case {case}");
            assert_eq!(delta.lines, expected_lines, "case {case}");
            assert_eq!(
                apply(&base_bytes, &delta, 1 << 20).unwrap(),
                new_bytes,
                "case {case}"
            );
            // A limit below the rebuilt manifest's size is kept.
            assert!(apply(&base_bytes, &delta, new_bytes.len() as u64 - 1).is_err());
        }
    }
}
