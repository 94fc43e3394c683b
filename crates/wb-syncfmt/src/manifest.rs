//! The manifest (`manifest.sync.txt`): who published a bundle, its
//! sequence number, and every file with its length and SHA-256, sorted by
//! path. `bundle.sig` signs its exact bytes.

use crate::error::{ParseError, ParseErrorKind, WriteError};
use crate::hash::{from_hex, push_hex, to_hex};
use crate::ident::{excerpt, is_valid_instance_name, is_valid_public_key, parse_canonical_u64};
use crate::layout::check_bundle_path;
use crate::schema::{self, CURRENT_SCHEMA_VERSION};
use crate::text::{decode, read_headers};

/// The value of the manifest's `Format:` header.
pub const MANIFEST_FORMAT: &str = "wb-sync-manifest";

/// The largest bundle sequence number: 2^63−1. Sequences are 1 ≤ n ≤
/// 2^63−1 everywhere — manifests, trusted comments, importers and the hub
/// (databases store them as signed 64-bit integers) — so one bundle can
/// never carry a sequence that a store cannot record.
pub const MAX_SEQUENCE: u64 = i64::MAX as u64;

/// The default size limit of a manifest: 256 MiB (about two million files).
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// The headers of a manifest, in their required order.
pub const MANIFEST_HEADERS: [&str; 6] = [
    "Format",
    "Instance",
    "Public-Key",
    "Schema-Version",
    "Sequence",
    "Files",
];

/// Line number of the first file line (after six headers and an empty line).
const FIRST_ENTRY_LINE: usize = MANIFEST_HEADERS.len() + 2;

/// One file listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestEntry {
    /// Path inside the bundle: `<entity>/<uuid>.sync.txt`.
    pub path: String,
    /// Length of the file in bytes.
    pub len: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
}

impl ManifestEntry {
    /// The entry describing `bytes` stored at `path`.
    #[must_use]
    pub fn for_bytes(path: String, bytes: &[u8]) -> Self {
        ManifestEntry {
            path,
            len: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            sha256: crate::hash::sha256(bytes),
        }
    }

    /// The SHA-256 as 64 lowercase hex digits.
    #[must_use]
    pub fn sha256_hex(&self) -> String {
        to_hex(&self.sha256)
    }

    /// The entry for a file at `path` of `len` bytes whose SHA-256 is
    /// `sha256_hex` (64 lowercase hex digits, as [`Self::sha256_hex`] gives
    /// it); `None` when it is not.
    #[must_use]
    pub fn with_hex_digest(path: String, len: u64, sha256_hex: &str) -> Option<Self> {
        Some(ManifestEntry {
            path,
            len,
            sha256: from_hex(sha256_hex)?,
        })
    }
}

/// The contents of `manifest.sync.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The publishing instance (`Instance:`); every file's `Instance:` equals it.
    pub instance: String,
    /// The instance's public key (`Public-Key:`), the one-line base64 form of
    /// a minisign public key. Opaque to this crate.
    pub public_key: String,
    /// The schema version (`Schema-Version:`).
    pub schema_version: u32,
    /// The bundle sequence number (`Sequence:`), at least 1, increased by the
    /// publisher whenever the content changes.
    pub sequence: u64,
    /// Every file, sorted bytewise by path, without duplicates.
    pub files: Vec<ManifestEntry>,
}

impl Manifest {
    /// Renders the manifest in its one canonical text form.
    ///
    /// # Errors
    ///
    /// Refuses an invalid instance name or public key, a schema version other
    /// than [`CURRENT_SCHEMA_VERSION`], sequence 0, and file paths that are
    /// unsafe, not of the bundle layout, unsorted or repeated.
    pub fn to_text(&self) -> Result<String, WriteError> {
        if !is_valid_instance_name(&self.instance) {
            return Err(WriteError::InvalidInstance {
                instance: excerpt(&self.instance),
            });
        }
        if !is_valid_public_key(&self.public_key) {
            return Err(WriteError::InvalidPublicKey {
                value: excerpt(&self.public_key),
            });
        }
        if self.schema_version != CURRENT_SCHEMA_VERSION {
            return Err(WriteError::UnsupportedSchemaVersion {
                found: self.schema_version,
                supported: CURRENT_SCHEMA_VERSION,
            });
        }
        if self.sequence == 0 {
            return Err(WriteError::SequenceZero);
        }
        if self.sequence > MAX_SEQUENCE {
            return Err(WriteError::SequenceOutOfRange {
                value: self.sequence,
            });
        }
        let mut out = format!(
            "Format: {MANIFEST_FORMAT}\nInstance: {}\nPublic-Key: {}\nSchema-Version: {}\nSequence: {}\nFiles: {}\n\n",
            self.instance,
            self.public_key,
            self.schema_version,
            self.sequence,
            self.files.len()
        );
        out.reserve(self.files.len() * 120);
        let mut previous: Option<&str> = None;
        for entry in &self.files {
            if let Err(reason) = check_bundle_path(&entry.path) {
                return Err(WriteError::InvalidPath {
                    path: excerpt(&entry.path),
                    reason,
                });
            }
            if previous.is_some_and(|p| p >= entry.path.as_str()) {
                return Err(WriteError::UnsortedFiles {
                    path: excerpt(&entry.path),
                });
            }
            previous = Some(&entry.path);
            push_hex(&mut out, &entry.sha256);
            out.push(' ');
            push_decimal(&mut out, entry.len);
            out.push(' ');
            out.push_str(&entry.path);
            out.push('\n');
        }
        Ok(out)
    }

    /// Parses a manifest strictly, with the default size limit
    /// ([`DEFAULT_MAX_MANIFEST_BYTES`]). `path` is used only in error messages.
    ///
    /// # Errors
    ///
    /// Any departure from the canonical form, named with `path`, the line and
    /// the rule broken.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Manifest, ParseError> {
        Self::parse_with_limit(bytes, path, DEFAULT_MAX_MANIFEST_BYTES)
    }

    /// As [`Manifest::parse`], refusing manifests over `max_bytes`.
    ///
    /// # Errors
    ///
    /// As [`Manifest::parse`].
    pub fn parse_with_limit(
        bytes: &[u8],
        path: &str,
        max_bytes: u64,
    ) -> Result<Manifest, ParseError> {
        Self::parse_inner(bytes, path, max_bytes, None)
    }

    /// [`Manifest::parse_with_limit`] of `bytes`, a manifest that shares
    /// most of its lines with `base` — a newer manifest of the same
    /// instance, say — where `base` is what `base_bytes` parsed as. The
    /// file lines both share at the start and at the end of their bodies
    /// (found by comparing bytes: [`shared_lines`]) are taken from `base`
    /// instead of being parsed again; every other line is parsed and
    /// checked, and the order is checked where the two meet. The result,
    /// and any error, are those of [`Manifest::parse_with_limit`]; a
    /// change of one line in a manifest of 100k files so costs a copy of
    /// its entries instead of a parse.
    ///
    /// A `base` that is not what `base_bytes` parse as gives a result
    /// built from its entries: the caller guarantees the pair.
    ///
    /// # Errors
    ///
    /// As [`Manifest::parse_with_limit`].
    pub fn parse_with_base(
        bytes: &[u8],
        path: &str,
        max_bytes: u64,
        base: &Manifest,
        base_bytes: &[u8],
    ) -> Result<Manifest, ParseError> {
        Self::parse_inner(bytes, path, max_bytes, Some((base, base_bytes)))
    }

    fn parse_inner(
        bytes: &[u8],
        path: &str,
        max_bytes: u64,
        base: Option<(&Manifest, &[u8])>,
    ) -> Result<Manifest, ParseError> {
        let text = decode(bytes, path, max_bytes)?;
        let lines: Vec<&str> = text.split('\n').collect();
        let [format, instance, public_key, version, sequence, files] =
            read_headers(&lines, &MANIFEST_HEADERS, path)?;
        let err = |line: usize, kind: ParseErrorKind| ParseError::at(path, line, kind);

        if format != MANIFEST_FORMAT {
            return Err(err(
                1,
                ParseErrorKind::InvalidFormat {
                    value: excerpt(format),
                },
            ));
        }
        if !is_valid_instance_name(instance) {
            return Err(err(
                2,
                ParseErrorKind::InvalidInstance {
                    value: excerpt(instance),
                },
            ));
        }
        if !is_valid_public_key(public_key) {
            return Err(err(
                3,
                ParseErrorKind::InvalidPublicKey {
                    value: excerpt(public_key),
                },
            ));
        }
        let number = |line: usize, header: &'static str, value: &str| {
            parse_canonical_u64(value).ok_or_else(|| {
                err(
                    line,
                    ParseErrorKind::InvalidNumber {
                        header,
                        value: excerpt(value),
                    },
                )
            })
        };
        let schema_version =
            u32::try_from(number(4, "Schema-Version", version)?).map_err(|_| {
                err(
                    4,
                    ParseErrorKind::InvalidNumber {
                        header: "Schema-Version",
                        value: excerpt(version),
                    },
                )
            })?;
        schema::check_readable(schema_version).map_err(|kind| err(4, kind))?;
        let sequence = number(5, "Sequence", sequence)?;
        if sequence == 0 {
            return Err(err(5, ParseErrorKind::SequenceZero));
        }
        if sequence > MAX_SEQUENCE {
            return Err(err(
                5,
                ParseErrorKind::SequenceOutOfRange { value: sequence },
            ));
        }
        let declared = number(6, "Files", files)?;

        // `lines` ends with the empty string after the final newline.
        let last = lines.len() - 1;
        if last < FIRST_ENTRY_LINE - 1 {
            return Err(err(lines.len(), ParseErrorKind::MissingFinalNewline));
        }
        if !lines[last].is_empty() {
            return Err(err(lines.len(), ParseErrorKind::MissingFinalNewline));
        }
        let entry_lines = &lines[FIRST_ENTRY_LINE - 1..last];
        let (head, tail) = match base {
            Some((base, base_bytes)) => shared_entries(text, entry_lines, base, base_bytes),
            None => (&[][..], &[][..]),
        };
        let mut entries: Vec<ManifestEntry> = Vec::with_capacity(entry_lines.len());
        entries.extend_from_slice(head);
        let in_order = |previous: Option<&ManifestEntry>, entry: &ManifestEntry, line_no| {
            let Some(previous) = previous else {
                return Ok(());
            };
            if previous.path == entry.path {
                return Err(err(
                    line_no,
                    ParseErrorKind::DuplicateEntry {
                        path: excerpt(&entry.path),
                    },
                ));
            }
            if previous.path > entry.path {
                return Err(err(
                    line_no,
                    ParseErrorKind::UnsortedEntry {
                        path: excerpt(&entry.path),
                        previous: excerpt(&previous.path),
                    },
                ));
            }
            Ok(())
        };
        let parsed = entry_lines.len() - tail.len();
        for (index, line) in entry_lines.iter().enumerate().take(parsed).skip(head.len()) {
            let line_no = FIRST_ENTRY_LINE + index;
            let entry = parse_entry(line).map_err(|kind| err(line_no, kind))?;
            in_order(entries.last(), &entry, line_no)?;
            entries.push(entry);
        }
        if let Some(first) = tail.first() {
            in_order(entries.last(), first, FIRST_ENTRY_LINE + parsed)?;
            entries.extend_from_slice(tail);
        }
        let found = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        if declared != found {
            return Err(err(
                6,
                ParseErrorKind::FileCountMismatch { declared, found },
            ));
        }
        Ok(Manifest {
            instance: instance.to_owned(),
            public_key: public_key.to_owned(),
            schema_version,
            sequence,
            files: entries,
        })
    }
}

/// The entries of `base` whose lines `entry_lines` (the file lines of
/// `text`) share with `base_bytes` at the start and at the end of the
/// body: `base.files`' first and last entries, as many as there are shared
/// lines. Nothing when `base` does not have that many entries (it is then
/// not what `base_bytes` parsed as).
fn shared_entries<'b>(
    text: &str,
    entry_lines: &[&str],
    base: &'b Manifest,
    base_bytes: &[u8],
) -> (&'b [ManifestEntry], &'b [ManifestEntry]) {
    let none = (&[][..], &[][..]);
    let (Some(first), Some(last)) = (entry_lines.first(), entry_lines.last()) else {
        return none;
    };
    let offset = |line: &str| line.as_ptr() as usize - text.as_ptr() as usize;
    let (start, end) = (offset(first), offset(last) + last.len() + 1);
    let Some(base_start) = base_bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
    else {
        return none;
    };
    let (head_bytes, tail_bytes) =
        shared_lines(&base_bytes[base_start..], &text.as_bytes()[start..end]);
    let head = entry_lines.partition_point(|line| offset(line) + line.len() < start + head_bytes);
    let tail =
        entry_lines.len() - entry_lines.partition_point(|line| offset(line) < end - tail_bytes);
    if head + tail > base.files.len() {
        return none;
    }
    (&base.files[..head], &base.files[base.files.len() - tail..])
}

/// The byte lengths of the whole lines two texts of `\n`-terminated lines
/// (two manifest bodies, say) share at their start and at their end, not
/// overlapping: `(head, tail)` with `a[..head] == b[..head]` and
/// `a[a.len() - tail..] == b[b.len() - tail..]`, each a run of whole lines.
/// Found by comparing a block of bytes at a time (a `memcmp`), so two
/// manifests of 100k files that differ in one line are compared in about a
/// millisecond.
#[must_use]
pub fn shared_lines(a: &[u8], b: &[u8]) -> (usize, usize) {
    const BLOCK: usize = 4096;
    let n = a.len().min(b.len());
    let mut head = 0;
    while head + BLOCK <= n && a[head..head + BLOCK] == b[head..head + BLOCK] {
        head += BLOCK;
    }
    head += a[head..n]
        .iter()
        .zip(&b[head..n])
        .take_while(|(x, y)| x == y)
        .count();
    // Back to the end of the last whole line.
    let head = a[..head]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let room = n - head;
    let mut tail = 0;
    while tail + BLOCK <= room
        && a[a.len() - tail - BLOCK..a.len() - tail] == b[b.len() - tail - BLOCK..b.len() - tail]
    {
        tail += BLOCK;
    }
    tail += a[..a.len() - tail]
        .iter()
        .rev()
        .zip(b[..b.len() - tail].iter().rev())
        .take(room - tail)
        .take_while(|(x, y)| x == y)
        .count();
    // Forward to the start of its first whole line in both: the byte
    // before it is the same `\n` in both.
    let at_line_start = |bytes: &[u8]| {
        let start = bytes.len() - tail;
        start == 0 || bytes[start - 1] == b'\n'
    };
    if tail > 0 && !(at_line_start(a) && at_line_start(b)) {
        let start = a.len() - tail;
        tail = a[start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(0, |i| tail - i - 1);
    }
    (head, tail)
}

/// Parses `<sha256 hex> <length> <path>`.
fn parse_entry(line: &str) -> Result<ManifestEntry, ParseErrorKind> {
    if line.is_empty() {
        return Err(ParseErrorKind::MalformedEntry {
            reason: "empty line",
        });
    }
    let mut parts = line.splitn(3, ' ');
    let (Some(hash), Some(len), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ParseErrorKind::MalformedEntry {
            reason: "three fields separated by single spaces",
        });
    };
    let sha256 = from_hex(hash).ok_or(ParseErrorKind::MalformedEntry {
        reason: "the SHA-256 must be 64 lowercase hex digits",
    })?;
    let len = parse_canonical_u64(len).ok_or(ParseErrorKind::MalformedEntry {
        reason: "the length must be a decimal number without leading zeros",
    })?;
    check_bundle_path(path).map_err(|reason| ParseErrorKind::InvalidPath {
        path: excerpt(path),
        reason,
    })?;
    Ok(ManifestEntry {
        path: path.to_owned(),
        len,
        sha256,
    })
}

/// Appends `n` in decimal (what `write!` does, without its machinery: a
/// manifest of 100k files holds 100k lengths).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is a single digit.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Decimal digits are ASCII.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}
