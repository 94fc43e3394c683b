//! The rules of `docs/format.md` and `docs/keys.md`, by stable id, and
//! which cases cover each.
//!
//! A rule id is a refusal code (`docs/format.md` §7, "Refusal codes") or a
//! limit (`limit-…`, `docs/format.md` §5). Every case lists the rules it
//! covers in `index.json`: a refusing case its code (and the limit it goes
//! over), an accepting case the rules whose accepting side it shows (a
//! value at a limit, an edge a careless reader would refuse, or simply a
//! valid input the rule lets through). The coverage test of this crate
//! (`tests/coverage.rs`) checks that every rule stated in the docs or
//! produced by the code has at least one accepting and one refusing case,
//! unless the registry says why it cannot.

use serde_json::{Value, json};

use crate::index::{Case, Expected};

/// One rule: id, where the docs state it, what it says, and — only for the
/// few a fixture cannot show — why it is not covered by cases, and where it
/// is tested instead.
pub(crate) struct Rule {
    pub id: &'static str,
    pub section: &'static str,
    pub text: &'static str,
    pub uncovered: Option<&'static str>,
}

const fn rule(id: &'static str, section: &'static str, text: &'static str) -> Rule {
    Rule {
        id,
        section,
        text,
        uncovered: None,
    }
}

const fn uncovered(
    id: &'static str,
    section: &'static str,
    text: &'static str,
    why: &'static str,
) -> Rule {
    Rule {
        id,
        section,
        text,
        uncovered: Some(why),
    }
}

/// Every rule, in the order of the docs' list of codes, then the limits.
pub(crate) const RULES: &[Rule] = &[
    // The format: bundle layout and reading (BundleError::code).
    rule(
        "missing-manifest",
        "format.md §7 step 1",
        "a bundle has manifest.sync.txt",
    ),
    rule(
        "missing-signature",
        "format.md §7 step 1",
        "a bundle has bundle.sig",
    ),
    rule(
        "unsafe-path",
        "format.md §1",
        "only the layout's paths: no links, special files, foreign or unsafe paths (top-level dot-entries skipped)",
    ),
    rule(
        "unlisted-file",
        "format.md §1",
        "every .sync.txt file is listed in the manifest",
    ),
    rule("missing-file", "format.md §1", "every listed file exists"),
    rule(
        "too-large",
        "format.md §5",
        "files within their size limits",
    ),
    uncovered(
        "too-many-files",
        "format.md §5",
        "at most 1,000,000 files",
        "a case at the default limit would hold a million files (a ~125 MB manifest); wb-syncfmt's tests check it with lowered Limits (tests/syncfmt/memory.rs limits_hold_in_memory, bundle.rs)",
    ),
    rule(
        "length-mismatch",
        "format.md §7 step 2",
        "each file's size equals its listed length",
    ),
    rule(
        "hash-mismatch",
        "format.md §7 step 6",
        "each file's SHA-256 equals the listed one",
    ),
    rule(
        "path-mismatch",
        "format.md §2",
        "Entity and ID match the file's path",
    ),
    rule(
        "instance-mismatch",
        "format.md §2",
        "a row's Instance equals the manifest's",
    ),
    rule(
        "private-file",
        "format.md §2",
        "a bundle never carries a private row",
    ),
    // The format: syntax (ParseErrorKind::code).
    rule("invalid-utf8", "format.md §2 Text rules", "UTF-8"),
    rule(
        "byte-order-mark",
        "format.md §2 Text rules",
        "no byte order mark",
    ),
    rule(
        "carriage-return",
        "format.md §2 Text rules",
        "LF only, no CR anywhere",
    ),
    rule(
        "trailing-whitespace",
        "format.md §2 Text rules",
        "no line ends with a space or tab",
    ),
    rule(
        "malformed-header",
        "format.md §2 Headers",
        "Name: value, one space, no folding, the empty line after the headers",
    ),
    rule(
        "missing-header",
        "format.md §2 Headers",
        "every header present",
    ),
    rule(
        "unknown-header",
        "format.md §2 Headers",
        "no unknown headers",
    ),
    rule(
        "duplicate-header",
        "format.md §2 Headers",
        "each header once",
    ),
    rule(
        "header-order",
        "format.md §2 Headers",
        "headers in their order",
    ),
    rule(
        "invalid-entity",
        "format.md §2 Headers",
        "Entity is one of the five entities",
    ),
    rule(
        "invalid-id",
        "format.md §2 Headers",
        "ID is a lowercase hyphenated UUID",
    ),
    rule(
        "invalid-instance",
        "format.md §2 Headers",
        "the one rule of instance names",
    ),
    rule(
        "invalid-number",
        "format.md §2 Headers",
        "decimal numbers without sign or leading zeros",
    ),
    rule(
        "unsupported-schema",
        "format.md §3",
        "Schema-Version 1 (0 invalid, newer refused)",
    ),
    rule(
        "invalid-scope",
        "format.md §2 Headers",
        "Sync-Scope public or private",
    ),
    rule(
        "invalid-timestamp",
        "format.md §2 Headers",
        "the one timestamp form, a real date and time",
    ),
    rule(
        "truncated-or-trailing",
        "format.md §2 Text rules",
        "exactly one final newline, nothing after the body",
    ),
    rule(
        "invalid-json",
        "format.md §2 Body",
        "the body is a JSON object (at most 127 levels deep)",
    ),
    rule(
        "float",
        "format.md §2 Body",
        "integers only, in 64-bit range",
    ),
    rule(
        "non-canonical-json",
        "format.md §2 Body",
        "the body's one canonical text",
    ),
    rule("invalid-format", "format.md §4", "Format: wb-sync-manifest"),
    rule(
        "invalid-public-key",
        "format.md §4, keys.md Public key",
        "a valid, strong Ed25519 key in minisign form",
    ),
    rule(
        "sequence-out-of-range",
        "format.md §4",
        "1 <= Sequence <= 2^63-1",
    ),
    rule(
        "malformed-entry",
        "format.md §4",
        "file lines <sha256> <length> <path>",
    ),
    rule(
        "unsorted-entry",
        "format.md §4",
        "file lines sorted bytewise by path",
    ),
    rule("duplicate-entry", "format.md §4", "no path listed twice"),
    rule(
        "file-count-mismatch",
        "format.md §4",
        "Files equals the number of file lines",
    ),
    // The checks of steps 3-8 (Refusal::code).
    rule(
        "own-bundle",
        "format.md §7 step 3",
        "never the importer's own bundle",
    ),
    rule(
        "key-not-pinned",
        "format.md §7 step 3",
        "a key is pinned, named (--key) or accepted (--accept-new-keys)",
    ),
    rule(
        "key-mismatch",
        "format.md §7 step 3",
        "Public-Key equals the pinned key (or a chain leads to it)",
    ),
    rule(
        "bad-key-rotation",
        "format.md §6, keys.md Key rotation",
        "key-rotations.txt is a valid chain of the instance from the pin to Public-Key",
    ),
    rule(
        "bad-signature",
        "keys.md Signature",
        "bundle.sig verifies strictly, with a bundle's trusted comment",
    ),
    rule(
        "signature-mismatch",
        "format.md §7 step 4",
        "the trusted comment names the manifest's instance and sequence",
    ),
    rule(
        "stale-sequence",
        "format.md §7 step 5",
        "a newer sequence than the last applied",
    ),
    rule(
        "invalid-body",
        "format.md Entity bodies",
        "every key, no other, the value types and sets",
    ),
    rule(
        "invalid-text",
        "format.md Entity bodies",
        "the text rules of local input",
    ),
    rule(
        "invite-status",
        "format.md Entity bodies",
        "an invitee exactly when accepted",
    ),
    rule(
        "self-vouch",
        "format.md Vouch signatures",
        "no vouch of a user for themself",
    ),
    rule(
        "bad-vouch-signature",
        "format.md Vouch signatures",
        "each vouch's signature verifies with the bundle's key",
    ),
    rule(
        "actor-origin",
        "format.md §7 step 7",
        "every actor is a user of the bundle",
    ),
    rule(
        "unknown-reference",
        "format.md §7 step 8",
        "every other reference resolves in the bundle or locally",
    ),
    rule(
        "key-pinned-elsewhere",
        "format.md §7 Refusal codes",
        "one key is never pinned for two instances",
    ),
    uncovered(
        "pin-changed",
        "format.md §7 Refusal codes",
        "the pin did not change while the bundle was verified",
        "a race between two imports, not a property of a bundle; wb-store's tests/pins.rs checks the compare-and-set",
    ),
    // Codes of the library that are no refusal of a bundle.
    uncovered(
        "io",
        "format.md §7 Refusal codes",
        "the reader's own I/O failed",
        "not a property of a bundle: the machine's file system failed",
    ),
    uncovered(
        "write",
        "format.md §7 Refusal codes",
        "a writer refused to render a file",
        "a writer's error, never a reader's refusal",
    ),
    uncovered(
        "duplicate-file",
        "format.md §7 Refusal codes",
        "a writer was given one path twice",
        "a writer's error, never a reader's refusal",
    ),
    // Limits (format.md §5).
    rule(
        "limit-row-file",
        "format.md §5",
        "a row file is at most 1 MiB (1,048,576 bytes)",
    ),
    uncovered(
        "limit-files",
        "format.md §5",
        "a bundle holds at most 1,000,000 files",
        "see too-many-files",
    ),
    uncovered(
        "limit-manifest",
        "format.md §5",
        "a manifest is at most 256 MiB",
        "a case at the limit would be a 256 MiB file; wb-syncfmt's tests check it with lowered Limits",
    ),
    rule(
        "limit-signature",
        "format.md §5",
        "bundle.sig is at most 64 KiB (65,536 bytes)",
    ),
    rule(
        "limit-key-rotations",
        "format.md §5, keys.md Chain",
        "key-rotations.txt is at most 256 KiB (262,144 bytes)",
    ),
    rule(
        "limit-depth",
        "format.md §5",
        "a body nests at most 127 levels",
    ),
    rule(
        "limit-instance-name",
        "format.md §5",
        "an instance name has at most 253 characters",
    ),
    rule(
        "limit-public-key",
        "format.md §5",
        "a manifest's Public-Key has at most 1024 characters",
    ),
    rule(
        "limit-trusted-comment",
        "format.md §5, keys.md Signature",
        "a trusted comment is at most 8173 bytes (a bundle's at most 291)",
    ),
    rule(
        "limit-username",
        "format.md §5",
        "a username has 1-32 characters",
    ),
    rule(
        "limit-title",
        "format.md §5",
        "a title has at most 200 characters",
    ),
    rule(
        "limit-display-name",
        "format.md §5",
        "a display_name has at most 200 bytes",
    ),
    rule(
        "limit-text",
        "format.md §5",
        "a bio or body has at most 64 KiB (65,536 bytes)",
    ),
];

/// The registry as `index.json` lists it.
pub(crate) fn registry_json() -> Value {
    Value::Array(
        RULES
            .iter()
            .map(|r| {
                let mut v = json!({"id": r.id, "section": r.section, "text": r.text});
                if let (Some(why), Some(map)) = (r.uncovered, v.as_object_mut()) {
                    map.insert("uncovered".into(), json!(why));
                }
                v
            })
            .collect(),
    )
}

/// The rules of the whole-file syntax a valid row file shows accepted.
const ROW_SYNTAX: &[&str] = &[
    "invalid-utf8",
    "byte-order-mark",
    "carriage-return",
    "trailing-whitespace",
    "malformed-header",
    "missing-header",
    "unknown-header",
    "duplicate-header",
    "header-order",
    "invalid-entity",
    "invalid-id",
    "invalid-instance",
    "invalid-number",
    "unsupported-schema",
    "invalid-scope",
    "invalid-timestamp",
    "truncated-or-trailing",
    "invalid-json",
    "non-canonical-json",
];

/// The rules a valid bundle of every entity shows accepted.
const BUNDLE: &[&str] = &[
    "missing-manifest",
    "missing-signature",
    "unsafe-path",
    "unlisted-file",
    "missing-file",
    "length-mismatch",
    "hash-mismatch",
    "path-mismatch",
    "instance-mismatch",
    "private-file",
    "own-bundle",
    "key-not-pinned",
    "key-mismatch",
    "bad-signature",
    "signature-mismatch",
    "invalid-body",
    "invalid-text",
    "invite-status",
    "self-vouch",
    "bad-vouch-signature",
    "actor-origin",
];

/// The rules accepting case `id` covers (`None`: not annotated).
fn accepted(id: &str) -> Option<&'static [&'static str]> {
    let rules: &'static [&'static str] = match id {
        "f-valid-request" => ROW_SYNTAX,
        "f-valid-empty-body" => &["invalid-json", "non-canonical-json"],
        "f-valid-private-scope" => &["invalid-scope"],
        "f-valid-year-0000"
        | "f-valid-year-9999"
        | "f-valid-leap-day"
        | "f-valid-leap-day-2000" => &["invalid-timestamp"],
        "f-valid-instance-digit" | "f-valid-instance-one-char" | "f-valid-instance-hyphen" => {
            &["invalid-instance"]
        }
        "f-valid-instance-253" => &["invalid-instance", "limit-instance-name"],
        "f-valid-json-values" => &["float", "invalid-json", "non-canonical-json"],
        "f-valid-json-raw-characters" => &["invalid-utf8", "non-canonical-json"],
        "f-valid-json-escapes" | "f-valid-key-order-bytewise" | "f-valid-key-order-astral" => {
            &["non-canonical-json"]
        }
        "f-valid-depth-127" => &["invalid-json", "limit-depth"],
        "f-size-at-limit" => &["too-large", "limit-row-file"],
        "m-valid" => &[
            "invalid-format",
            "invalid-instance",
            "invalid-public-key",
            "invalid-number",
            "sequence-out-of-range",
            "malformed-entry",
            "unsafe-path",
            "unsorted-entry",
            "duplicate-entry",
            "file-count-mismatch",
            "header-order",
            "unknown-header",
        ],
        "m-valid-empty" => &[
            "file-count-mismatch",
            "truncated-or-trailing",
            "malformed-entry",
        ],
        "m-valid-max-sequence" => &["sequence-out-of-range"],
        "m-valid-opaque-key" => &["invalid-public-key"],
        "m-valid-key-1024" => &["invalid-public-key", "limit-public-key"],
        "m-valid-zero-length-file" => &["malformed-entry"],
        "t-valid" | "t-valid-max" => &["bad-signature"],
        "t-valid-longest" => &["bad-signature", "limit-trusted-comment"],
        "k-valid"
        | "k-valid-crlf"
        | "k-valid-no-final-newline"
        | "k-valid-trailing-blank-lines"
        | "k-valid-any-comment"
        | "k-surrounding-spaces"
        | "k-prefix-rwq"
        | "k-prefix-rws"
        | "k-prefix-rwt" => &["invalid-public-key"],
        "b-valid-full" => BUNDLE,
        "b-valid-empty" => &["missing-file", "unlisted-file", "file-count-mismatch"],
        "b-valid-dot-entries"
        | "b-valid-dot-link"
        | "b-valid-through-link"
        | "b-valid-empty-entity-dir"
        | "b-valid-dot-fifo" => &["unsafe-path"],
        "b-signature-at-limit" => &["too-large", "limit-signature"],
        "v-sig-crlf"
        | "v-sig-no-final-newline"
        | "v-sig-trailing-blank-lines"
        | "v-sig-other-untrusted-comment" => &["bad-signature"],
        "v-user-valid" | "v-user-username-digits" => &["invalid-body", "invalid-text"],
        "v-user-username-32" => &["invalid-body", "limit-username"],
        "v-user-display-name-200-bytes" => &["invalid-text", "limit-display-name"],
        "v-request-valid"
        | "v-request-fulfilled"
        | "v-request-closed"
        | "v-comment-valid"
        | "v-comment-body-empty" => &["invalid-body", "invalid-text"],
        "v-request-title-200" => &["invalid-text", "limit-title"],
        "v-request-body-64k" => &["invalid-text", "limit-text"],
        "v-request-title-tab" => &["invalid-text"],
        "v-invite-accepted" | "v-invite-pending" | "v-invite-revoked" => {
            &["invite-status", "invalid-body"]
        }
        "v-vouch-valid" => &["self-vouch", "bad-vouch-signature", "invalid-body"],
        "v-vouch-subject-elsewhere" | "v-comment-request-elsewhere" => &["actor-origin"],
        "i-state-sequence-5" | "i-same-again" | "i-newer" => &["stale-sequence"],
        "i-max-sequence" => &["sequence-out-of-range", "stale-sequence"],
        "i-beta-request" => &["own-bundle"],
        "i-reference-held" | "i-reference-held-subject" => {
            &["unknown-reference", "key-pinned-elsewhere"]
        }
        "r-valid-at-limit" => &["bad-key-rotation", "too-large", "limit-key-rotations"],
        _ if id.starts_with("r-valid-") => &["bad-key-rotation", "key-mismatch"],
        _ => return None,
    };
    Some(rules)
}

/// The limit a refusing case goes over, if any.
fn over_limit(id: &str) -> Option<&'static str> {
    Some(match id {
        "f-size-over-limit" | "b-row-too-large" => "limit-row-file",
        "f-instance-254" => "limit-instance-name",
        "f-body-depth-128" => "limit-depth",
        "m-key-too-long" => "limit-public-key",
        "t-over-8173" => "limit-trusted-comment",
        "b-signature-too-large" => "limit-signature",
        "r-too-large" => "limit-key-rotations",
        "v-user-username-33" | "v-user-username-empty" => "limit-username",
        "v-request-title-201" => "limit-title",
        "v-user-display-name-201-bytes" => "limit-display-name",
        "v-request-body-64k-plus-1" => "limit-text",
        _ => return None,
    })
}

/// Sets every case's rules. Panics on an accepting case without rules, or
/// a rule id not in [`RULES`]: the generator fails rather than write an
/// index the coverage test cannot read.
pub(crate) fn annotate(cases: &mut [Case]) {
    for case in cases {
        let mut rules: Vec<&'static str> = match case.expected {
            Expected::Accept => accepted(&case.id)
                .unwrap_or_else(|| panic!("accepting case {} covers no rule", case.id))
                .to_vec(),
            Expected::Refuse(code) => vec![code],
        };
        rules.extend(over_limit(&case.id));
        for id in &rules {
            assert!(
                RULES.iter().any(|r| r.id == *id),
                "case {}: unknown rule {id}",
                case.id
            );
        }
        case.rules = rules;
    }
}
