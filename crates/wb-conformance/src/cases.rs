//! Every case of the suite. Each is built from a valid base and one change,
//! so a case tests one rule.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wb_crypto::SigningKey;

use crate::index::{Case, Expected, Kind, Layer};
use crate::{IMPORTER, INSTANCE, other_key, sign_with, test_key, test_public_key, vouch_signature};

const U1: &str = "01936f3e-0000-7000-8000-000000000001";
const U2: &str = "01936f3e-0000-7000-8000-000000000002";
/// A user of alpha that no bundle of the suite holds.
const U3: &str = "01936f3e-0000-7000-8000-000000000003";
const R1: &str = "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65";
/// A request of beta.example (case `i-beta-request`).
const RB: &str = "01936f3e-0000-7000-8000-0000000000b1";
/// beta.example's user (case `i-beta-request`).
const BETA_USER: &str = "01936f3e-0000-7000-8000-0000000000b0";
const C1: &str = "01936f3e-0000-7000-8000-0000000000c1";
const I1: &str = "01936f3e-0000-7000-8000-0000000000e1";
const V1: &str = "01936f3e-0000-7000-8000-0000000000f1";
const TS: &str = "2026-11-24T10:00:00.000000Z";

use Expected::{Accept, Refuse};

/// The cases, in index order.
pub(crate) fn all() -> Vec<Case> {
    let mut s = Suite::default();
    file_cases(&mut s);
    manifest_cases(&mut s);
    trusted_comment_cases(&mut s);
    public_key_cases(&mut s);
    bundle_format_cases(&mut s);
    bundle_verify_cases(&mut s);
    bundle_import_cases(&mut s);
    rotation_cases(&mut s);
    special_entry_cases(&mut s);
    limit_cases(&mut s);
    crate::rules::annotate(&mut s.cases);
    s.cases
}

#[derive(Default)]
struct Suite {
    cases: Vec<Case>,
}

impl Suite {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: Kind,
        id: &str,
        section: &'static str,
        rule: &str,
        layer: Layer,
        expected: Expected,
        path: String,
        files: Vec<(String, Vec<u8>)>,
    ) -> &mut Case {
        assert!(
            self.cases.iter().all(|c| c.id != id),
            "duplicate case id {id}"
        );
        self.cases.push(Case {
            id: id.to_owned(),
            kind,
            path,
            rule: rule.to_owned(),
            section,
            expected,
            layer,
            pinned: true,
            requires: Vec::new(),
            files,
            rules: Vec::new(),
            links: Vec::new(),
            create: Vec::new(),
        });
        let last = self.cases.len() - 1;
        &mut self.cases[last]
    }

    fn file(
        &mut self,
        id: &str,
        section: &'static str,
        rule: &str,
        text: impl Into<Vec<u8>>,
        expected: Expected,
    ) {
        self.push(
            Kind::File,
            id,
            section,
            rule,
            Layer::Format,
            expected,
            format!("file/{id}.sync.txt"),
            vec![(String::new(), text.into())],
        );
    }

    fn manifest(
        &mut self,
        id: &str,
        section: &'static str,
        rule: &str,
        text: impl Into<Vec<u8>>,
        expected: Expected,
    ) {
        self.push(
            Kind::Manifest,
            id,
            section,
            rule,
            Layer::Format,
            expected,
            format!("manifest/{id}.txt"),
            vec![(String::new(), text.into())],
        );
    }

    fn trusted_comment(&mut self, id: &str, rule: &str, text: &str, expected: Expected) {
        self.push(
            Kind::TrustedComment,
            id,
            "keys.md Signature",
            rule,
            Layer::Verify,
            expected,
            format!("trusted-comment/{id}.txt"),
            vec![(String::new(), text.as_bytes().to_vec())],
        );
    }

    fn public_key(&mut self, id: &str, rule: &str, text: impl Into<Vec<u8>>, expected: Expected) {
        self.push(
            Kind::PublicKey,
            id,
            "keys.md Public key",
            rule,
            Layer::Verify,
            expected,
            format!("public-key/{id}.pub"),
            vec![(String::new(), text.into())],
        );
    }

    fn bundle(
        &mut self,
        id: &str,
        section: &'static str,
        rule: &str,
        layer: Layer,
        files: BTreeMap<String, Vec<u8>>,
        expected: Expected,
    ) -> &mut Case {
        self.push(
            Kind::Bundle,
            id,
            section,
            rule,
            layer,
            expected,
            format!("bundle/{id}"),
            files.into_iter().collect(),
        )
    }
}

// ---------------------------------------------------------------- rows

/// The canonical body text (`docs/format.md` §2): serde_json's pretty
/// form of a map sorted bytewise is exactly it.
fn canonical(body: &Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_default()
}

fn row_with(
    entity: &str,
    id: &str,
    instance: &str,
    scope: &str,
    updated: &str,
    body: &Value,
) -> String {
    format!(
        "Entity: {entity}\nID: {id}\nInstance: {instance}\nSchema-Version: 1\nSync-Scope: {scope}\nUpdated-At: {updated}\n\n{}\n",
        canonical(body)
    )
}

fn row(entity: &str, id: &str, body: &Value) -> String {
    row_with(entity, id, INSTANCE, "public", TS, body)
}

fn path(entity: &str, id: &str) -> String {
    format!("{entity}/{id}.sync.txt")
}

fn user(username: &str) -> Value {
    json!({"username": username, "display_name": "", "bio": "", "created_at": TS})
}

fn request(author: &str) -> Value {
    json!({"author_id": author, "title": "A ladder for the orchard", "body": "", "status": "open", "created_at": TS})
}

fn comment(request_id: &str, author: &str) -> Value {
    json!({"request_id": request_id, "author_id": author, "body": "I have one.", "created_at": TS})
}

fn invite(inviter: &str, invitee: Option<&str>, status: &str) -> Value {
    json!({"inviter_id": inviter, "invitee_id": invitee, "status": status, "created_at": TS})
}

fn vouch(instance: &str, voucher: &str, subject: &str) -> Value {
    json!({
        "voucher_id": voucher,
        "subject_id": subject,
        "signature": vouch_signature(&test_key(), instance, voucher, subject, TS),
        "created_at": TS,
    })
}

/// Sets `key` of an object body.
fn set(mut body: Value, key: &str, value: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
    body
}

/// Removes `key` of an object body.
fn without(mut body: Value, key: &str) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.remove(key);
    }
    body
}

/// `text` with `from` replaced by `to` (which must occur).
fn rep(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in {text:?}");
    text.replacen(from, to, 1)
}

// ---------------------------------------------------------------- bundles

type Files = BTreeMap<String, Vec<u8>>;

/// The rows of two users of alpha, ada and bob.
fn users() -> Files {
    let mut rows = Files::new();
    rows.insert(path("user", U1), row("user", U1, &user("ada")).into_bytes());
    rows.insert(path("user", U2), row("user", U2, &user("bob")).into_bytes());
    rows
}

/// Two users and one row of each other entity, all valid.
fn full_rows() -> Files {
    let mut rows = users();
    rows.insert(
        path("request", R1),
        row("request", R1, &request(U1)).into_bytes(),
    );
    rows.insert(
        path("comment", C1),
        row("comment", C1, &comment(R1, U2)).into_bytes(),
    );
    rows.insert(
        path("invite", I1),
        row("invite", I1, &invite(U1, Some(U2), "accepted")).into_bytes(),
    );
    rows.insert(
        path("vouch", V1),
        row("vouch", V1, &vouch(INSTANCE, U1, U2)).into_bytes(),
    );
    rows
}

/// `users()` plus one row.
fn users_and(entity: &str, id: &str, body: &Value) -> Files {
    let mut rows = users();
    rows.insert(path(entity, id), row(entity, id, body).into_bytes());
    rows
}

fn manifest_text(instance: &str, public_key: &str, sequence: &str, rows: &Files) -> String {
    let mut text = format!(
        "Format: wb-sync-manifest\nInstance: {instance}\nPublic-Key: {public_key}\nSchema-Version: 1\nSequence: {sequence}\nFiles: {}\n\n",
        rows.len()
    );
    for (path, bytes) in rows {
        text.push_str(&format!(
            "{} {} {path}\n",
            wb_syncfmt::sha256_hex(bytes),
            bytes.len()
        ));
    }
    text
}

/// A bundle of `rows` by `instance` at `sequence`, signed by `key` with
/// the trusted comment `comment` (default: the right one).
fn bundle_by(
    instance: &str,
    key: &SigningKey,
    sequence: u64,
    rows: &Files,
    comment: Option<&str>,
) -> Files {
    let manifest = manifest_text(
        instance,
        &key.public_key().to_minisign_base64(),
        &sequence.to_string(),
        rows,
    );
    let default = format!("instance={instance} sequence={sequence}");
    let sig = sign_with(key, manifest.as_bytes(), comment.unwrap_or(&default));
    let mut files = rows.clone();
    files.insert("manifest.sync.txt".into(), manifest.into_bytes());
    files.insert("bundle.sig".into(), sig.into_bytes());
    files
}

/// A valid bundle of alpha, sequence 1, signed by the test key.
fn bundle(rows: &Files) -> Files {
    bundle_by(INSTANCE, &test_key(), 1, rows, None)
}

/// A bundle with the manifest text `manifest`, signed correctly.
fn bundle_with_manifest(rows: &Files, manifest: &str, comment: &str) -> Files {
    let mut files = rows.clone();
    files.insert(
        "bundle.sig".into(),
        sign_with(&test_key(), manifest.as_bytes(), comment).into_bytes(),
    );
    files.insert("manifest.sync.txt".into(), manifest.as_bytes().to_vec());
    files
}

fn sig_text(files: &Files) -> String {
    String::from_utf8(files["bundle.sig"].clone()).unwrap_or_default()
}

fn with_sig(mut files: Files, sig: impl Into<Vec<u8>>) -> Files {
    files.insert("bundle.sig".into(), sig.into());
    files
}

// ---------------------------------------------------------------- file cases

fn base_file() -> String {
    row("request", R1, &request(U1))
}

fn file_cases(s: &mut Suite) {
    let base = base_file();
    let ok = |s: &mut Suite, id: &str, section, rule: &str, text: String| {
        s.file(id, section, rule, text, Accept)
    };
    let bad = |s: &mut Suite, id: &str, section, rule: &str, text: Vec<u8>, code| {
        s.file(id, section, rule, text, Refuse(code))
    };

    ok(
        s,
        "f-valid-request",
        "format.md §2",
        "a canonical row file is accepted",
        base.clone(),
    );
    ok(
        s,
        "f-valid-empty-body",
        "format.md §2 Body",
        "the body may be the empty object {}",
        row("user", U1, &json!({})),
    );
    ok(
        s,
        "f-valid-private-scope",
        "format.md §2 Headers",
        "Sync-Scope: private is syntactically valid (refused only in a bundle)",
        rep(&base, "Sync-Scope: public", "Sync-Scope: private"),
    );
    ok(
        s,
        "f-valid-year-0000",
        "format.md §2 Headers",
        "Updated-At year 0000 is valid (proleptic Gregorian, astronomical year 0)",
        rep(
            &base,
            TS.split('T').next().unwrap_or_default(),
            "0000-01-01",
        )
        .replacen(
            "Updated-At: 0000-01-01T10:00:00.000000Z",
            "Updated-At: 0000-01-01T00:00:00.000000Z",
            1,
        ),
    );
    ok(
        s,
        "f-valid-year-9999",
        "format.md §2 Headers",
        "Updated-At 9999-12-31T23:59:59.999999Z is the last valid instant",
        rep(
            &base,
            &format!("Updated-At: {TS}"),
            "Updated-At: 9999-12-31T23:59:59.999999Z",
        ),
    );
    ok(
        s,
        "f-valid-leap-day",
        "format.md §2 Headers",
        "Updated-At on 29 February of a leap year",
        rep(
            &base,
            &format!("Updated-At: {TS}"),
            "Updated-At: 2024-02-29T23:59:59.000000Z",
        ),
    );
    ok(
        s,
        "f-valid-leap-day-2000",
        "format.md §2 Headers",
        "2000 is a leap year (divisible by 400)",
        rep(
            &base,
            &format!("Updated-At: {TS}"),
            "Updated-At: 2000-02-29T00:00:00.000000Z",
        ),
    );
    ok(
        s,
        "f-valid-instance-digit",
        "format.md §2 Headers",
        "an instance name may start with a digit",
        rep(&base, "Instance: alpha.example", "Instance: 1alpha.example"),
    );
    ok(
        s,
        "f-valid-instance-one-char",
        "format.md §2 Headers",
        "an instance name of one character",
        rep(&base, "Instance: alpha.example", "Instance: a"),
    );
    ok(
        s,
        "f-valid-instance-253",
        "format.md §2 Headers",
        "an instance name of 253 characters",
        rep(
            &base,
            "Instance: alpha.example",
            &format!("Instance: {}", "a".repeat(253)),
        ),
    );
    ok(
        s,
        "f-valid-instance-hyphen",
        "format.md §2 Headers",
        "an instance name with inner hyphens and dots",
        rep(
            &base,
            "Instance: alpha.example",
            "Instance: a-b.c-d.example",
        ),
    );
    let rich = json!({
        "array": [1, "two", null, true, false, {}, []],
        "empty_array": [],
        "empty_object": {},
        "max_u64": 18_446_744_073_709_551_615_u64,
        "min_i64": i64::MIN,
        "negative": -1,
        "nested": {"a": {"b": [0]}},
        "zero": 0,
    });
    ok(
        s,
        "f-valid-json-values",
        "format.md §2 Body",
        "nested objects and arrays, empty ones, literals, the extreme 64-bit integers",
        row("user", U1, &rich),
    );
    ok(
        s,
        "f-valid-json-raw-characters",
        "format.md §2 Body",
        "/, DEL, U+2028, non-ASCII and astral characters are written raw",
        row("user", U1, &json!({"s": "a/b \u{7f} \u{2028} é 😀"})),
    );
    ok(
        s,
        "f-valid-json-escapes",
        "format.md §2 Body",
        "\" \\ \\b \\f \\n \\r \\t and \\u00XX with lowercase hex for other controls",
        row(
            "user",
            U1,
            &json!({"s": "\" \\ \u{8} \u{c} \n \r \t \u{1} \u{1b} \u{1f}"}),
        ),
    );
    ok(
        s,
        "f-valid-key-order-bytewise",
        "format.md §2 Body",
        "keys sorted bytewise: uppercase before lowercase, ASCII before non-ASCII",
        row("user", U1, &json!({"B": 1, "_": 2, "a": 3, "é": 4, "z": 5})),
    );
    ok(
        s,
        "f-valid-key-order-astral",
        "format.md §2 Body",
        "U+FF61 sorts before U+1F600 bytewise (not JCS's UTF-16 order)",
        row("user", U1, &json!({"\u{ff61}": 1, "😀": 2})),
    );

    // Nesting: the top-level object and 126 arrays are 127 levels.
    let nested = |levels: usize| {
        let mut value = json!([]);
        for _ in 2..levels {
            value = json!([value]);
        }
        row("user", U1, &json!({ "a": value }))
    };
    ok(
        s,
        "f-valid-depth-127",
        "format.md §5",
        "JSON nesting of 127 levels (the top-level object counts)",
        nested(127),
    );
    bad(
        s,
        "f-body-depth-128",
        "format.md §5",
        "JSON nesting of 128 levels or more is refused",
        nested(128).into_bytes(),
        "invalid-json",
    );

    // Text rules.
    let mut utf8 = base.clone().into_bytes();
    let at = base.find("orchard").unwrap_or(0);
    utf8[at] = 0xff;
    bad(
        s,
        "f-invalid-utf8",
        "format.md §2 Text rules",
        "the file is UTF-8",
        utf8,
        "invalid-utf8",
    );
    bad(
        s,
        "f-byte-order-mark",
        "format.md §2 Text rules",
        "no byte order mark",
        [b"\xef\xbb\xbf".as_slice(), base.as_bytes()].concat(),
        "byte-order-mark",
    );
    bad(
        s,
        "f-crlf",
        "format.md §2 Text rules",
        "lines end with LF only",
        base.replace('\n', "\r\n").into_bytes(),
        "carriage-return",
    );
    bad(
        s,
        "f-cr-in-body",
        "format.md §2 Text rules",
        "a carriage return anywhere is an error",
        rep(&base, "{\n", "{\r\n").into_bytes(),
        "carriage-return",
    );
    bad(
        s,
        "f-trailing-space-header",
        "format.md §2 Text rules",
        "no line ends with a space",
        rep(&base, "Entity: request\n", "Entity: request \n").into_bytes(),
        "trailing-whitespace",
    );
    bad(
        s,
        "f-trailing-tab-body",
        "format.md §2 Text rules",
        "no line ends with a tab",
        rep(&base, "\"open\",\n", "\"open\",\t\n").into_bytes(),
        "trailing-whitespace",
    );
    bad(
        s,
        "f-missing-final-newline",
        "format.md §2 Text rules",
        "the file ends with exactly one newline",
        base.trim_end_matches('\n').as_bytes().to_vec(),
        "truncated-or-trailing",
    );
    bad(
        s,
        "f-extra-final-newline",
        "format.md §2 Text rules",
        "the file ends with exactly one newline",
        format!("{base}\n").into_bytes(),
        "truncated-or-trailing",
    );
    bad(
        s,
        "f-content-after-body",
        "format.md §2 Text rules",
        "nothing follows the body",
        format!("{base}{{}}\n").into_bytes(),
        "truncated-or-trailing",
    );
    bad(
        s,
        "f-empty",
        "format.md §2",
        "an empty file is not a row file",
        Vec::new(),
        "missing-header",
    );
    bad(
        s,
        "f-headers-only",
        "format.md §2",
        "the body is required",
        base.split("\n\n")
            .next()
            .map(|h| format!("{h}\n"))
            .unwrap_or_default()
            .into_bytes(),
        "truncated-or-trailing",
    );
    bad(
        s,
        "f-no-body",
        "format.md §2",
        "the body is required after the empty line",
        base.split("\n\n")
            .next()
            .map(|h| format!("{h}\n\n"))
            .unwrap_or_default()
            .into_bytes(),
        "truncated-or-trailing",
    );

    // Headers.
    bad(
        s,
        "f-header-no-space",
        "format.md §2 Headers",
        "Name: value with exactly one space",
        rep(&base, "Entity: request", "Entity:request").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-two-spaces",
        "format.md §2 Headers",
        "exactly one space after the colon",
        rep(&base, "Entity: request", "Entity:  request").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-space-before-colon",
        "format.md §2 Headers",
        "no space before the colon",
        rep(&base, "Entity: request", "Entity : request").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-tab",
        "format.md §2 Headers",
        "the separator is a space, not a tab",
        rep(&base, "Entity: request", "Entity:\trequest").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-empty-value",
        "format.md §2 Headers",
        "a header value is non-empty",
        rep(&base, "Sync-Scope: public", "Sync-Scope:").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-folded",
        "format.md §2 Headers",
        "no line folding",
        rep(
            &base,
            "Instance: alpha.example\n",
            "Instance: alpha.example\n more\n",
        )
        .into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-header-lowercase",
        "format.md §2 Headers",
        "header names are case-sensitive",
        rep(&base, "Entity: request", "entity: request").into_bytes(),
        "unknown-header",
    );
    bad(
        s,
        "f-header-unknown",
        "format.md §2 Headers",
        "unknown headers are errors",
        rep(&base, "Sync-Scope: public\n", "X-Note: hello\n").into_bytes(),
        "unknown-header",
    );
    bad(
        s,
        "f-header-unknown-extra",
        "format.md §2 Headers",
        "an extra header after the last is an error",
        rep(
            &base,
            &format!("Updated-At: {TS}\n"),
            &format!("Updated-At: {TS}\nX-Note: hello\n"),
        )
        .into_bytes(),
        "unknown-header",
    );
    bad(
        s,
        "f-header-missing",
        "format.md §2 Headers",
        "every header is required",
        rep(&base, "Sync-Scope: public\n", "").into_bytes(),
        "header-order",
    );
    bad(
        s,
        "f-header-missing-last",
        "format.md §2 Headers",
        "every header is required (the last one)",
        rep(&base, &format!("Updated-At: {TS}\n"), "").into_bytes(),
        "missing-header",
    );
    bad(
        s,
        "f-header-duplicate",
        "format.md §2 Headers",
        "each header once",
        rep(&base, "Sync-Scope: public\n", "Schema-Version: 1\n").into_bytes(),
        "duplicate-header",
    );
    bad(
        s,
        "f-header-order",
        "format.md §2 Headers",
        "headers in the order of the table",
        rep(
            &base,
            "Entity: request\nID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65",
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65\nEntity: request",
        )
        .into_bytes(),
        "header-order",
    );
    bad(
        s,
        "f-missing-blank-line",
        "format.md §2 Headers",
        "line 7 is empty",
        rep(&base, "\n\n{", "\n{").into_bytes(),
        "malformed-header",
    );
    bad(
        s,
        "f-two-blank-lines",
        "format.md §2 Headers",
        "exactly one empty line before the body",
        rep(&base, "\n\n{", "\n\n\n{").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-entity-unknown",
        "format.md §2 Headers",
        "Entity is one of the five entities",
        rep(&base, "Entity: request", "Entity: post").into_bytes(),
        "invalid-entity",
    );
    bad(
        s,
        "f-entity-capitalised",
        "format.md §2 Headers",
        "Entity is lowercase",
        rep(&base, "Entity: request", "Entity: Request").into_bytes(),
        "invalid-entity",
    );
    bad(
        s,
        "f-entity-plural",
        "format.md §2 Headers",
        "Entity is the singular name",
        rep(&base, "Entity: request", "Entity: requests").into_bytes(),
        "invalid-entity",
    );
    bad(
        s,
        "f-id-uppercase",
        "format.md §1",
        "ids are lowercase",
        rep(
            &base,
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65",
            "ID: 01936F3E-5C1A-7B2E-9A4D-2F0C1E8B7A65",
        )
        .into_bytes(),
        "invalid-id",
    );
    bad(
        s,
        "f-id-braces",
        "format.md §1",
        "ids are bare hyphenated UUIDs",
        rep(
            &base,
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65",
            "ID: {01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65}",
        )
        .into_bytes(),
        "invalid-id",
    );
    bad(
        s,
        "f-id-no-hyphens",
        "format.md §1",
        "ids are hyphenated",
        rep(
            &base,
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65",
            "ID: 01936f3e5c1a7b2e9a4d2f0c1e8b7a65",
        )
        .into_bytes(),
        "invalid-id",
    );
    bad(
        s,
        "f-id-short",
        "format.md §1",
        "ids have 36 characters",
        rep(
            &base,
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65",
            "ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a6",
        )
        .into_bytes(),
        "invalid-id",
    );
    for (id, name, rule) in [
        (
            "f-instance-uppercase",
            "Alpha.example",
            "instance names are lowercase",
        ),
        (
            "f-instance-leading-dot",
            ".alpha.example",
            "an instance name starts with a letter or digit",
        ),
        (
            "f-instance-leading-hyphen",
            "-alpha.example",
            "an instance name starts with a letter or digit",
        ),
        (
            "f-instance-trailing-dot",
            "alpha.example.",
            "an instance name ends with a letter or digit",
        ),
        (
            "f-instance-trailing-hyphen",
            "alpha-",
            "an instance name ends with a letter or digit",
        ),
        (
            "f-instance-double-dot",
            "alpha..example",
            "an instance name has no '..'",
        ),
        (
            "f-instance-underscore",
            "alpha_example",
            "an instance name is of a-z 0-9 . -",
        ),
        (
            "f-instance-254",
            &"a".repeat(254),
            "an instance name has at most 253 characters",
        ),
    ] {
        bad(
            s,
            id,
            "format.md §2 Headers",
            rule,
            rep(
                &base,
                "Instance: alpha.example",
                &format!("Instance: {name}"),
            )
            .into_bytes(),
            "invalid-instance",
        );
    }
    for (id, value, code, rule) in [
        (
            "f-schema-leading-zero",
            "01",
            "invalid-number",
            "Schema-Version has no leading zeros",
        ),
        (
            "f-schema-plus",
            "+1",
            "invalid-number",
            "Schema-Version has no sign",
        ),
        (
            "f-schema-word",
            "one",
            "invalid-number",
            "Schema-Version is decimal",
        ),
        (
            "f-schema-overflow",
            "4294967296",
            "invalid-number",
            "Schema-Version fits in 32 bits",
        ),
        (
            "f-schema-zero",
            "0",
            "unsupported-schema",
            "version 0 is invalid",
        ),
        (
            "f-schema-newer",
            "2",
            "unsupported-schema",
            "a newer version than the reader's is refused",
        ),
    ] {
        bad(
            s,
            id,
            "format.md §3",
            rule,
            rep(
                &base,
                "Schema-Version: 1",
                &format!("Schema-Version: {value}"),
            )
            .into_bytes(),
            code,
        );
    }
    bad(
        s,
        "f-scope-capitalised",
        "format.md §2 Headers",
        "Sync-Scope is lowercase",
        rep(&base, "Sync-Scope: public", "Sync-Scope: Public").into_bytes(),
        "invalid-scope",
    );
    bad(
        s,
        "f-scope-unknown",
        "format.md §2 Headers",
        "Sync-Scope is public or private",
        rep(&base, "Sync-Scope: public", "Sync-Scope: shared").into_bytes(),
        "invalid-scope",
    );
    for (id, value, rule) in [
        (
            "f-ts-no-fraction",
            "2026-11-24T10:00:00Z",
            "six fractional digits",
        ),
        (
            "f-ts-millis",
            "2026-11-24T10:00:00.000Z",
            "exactly six fractional digits, not three",
        ),
        (
            "f-ts-nanos",
            "2026-11-24T10:00:00.000000000Z",
            "exactly six fractional digits, not nine",
        ),
        (
            "f-ts-offset",
            "2026-11-24T10:00:00.000000+00:00",
            "UTC written Z, no offset",
        ),
        (
            "f-ts-lowercase",
            "2026-11-24t10:00:00.000000z",
            "uppercase T and Z",
        ),
        (
            "f-ts-space",
            "2026-11-24 10:00:00.000000Z",
            "T between date and time",
        ),
        (
            "f-ts-feb-30",
            "2026-02-30T10:00:00.000000Z",
            "a real calendar date",
        ),
        (
            "f-ts-feb-29-non-leap",
            "2026-02-29T10:00:00.000000Z",
            "29 February only in leap years",
        ),
        (
            "f-ts-feb-29-1900",
            "1900-02-29T10:00:00.000000Z",
            "1900 is not a leap year",
        ),
        (
            "f-ts-month-13",
            "2026-13-01T10:00:00.000000Z",
            "months 01-12",
        ),
        ("f-ts-hour-24", "2026-11-24T24:00:00.000000Z", "hours 00-23"),
        (
            "f-ts-leap-second",
            "2026-12-31T23:59:60.000000Z",
            "no leap second :60",
        ),
        (
            "f-ts-year-5-digits",
            "10000-01-01T00:00:00.000000Z",
            "years 0000-9999",
        ),
        (
            "f-ts-negative-year",
            "-0001-01-01T00:00:00.000000Z",
            "years 0000-9999",
        ),
    ] {
        bad(
            s,
            id,
            "format.md §2 Headers",
            rule,
            rep(
                &base,
                &format!("Updated-At: {TS}"),
                &format!("Updated-At: {value}"),
            )
            .into_bytes(),
            "invalid-timestamp",
        );
    }

    // Body.
    let body_start = base.find("\n\n{").map_or(0, |i| i + 2);
    let head = &base[..body_start];
    let body_file = |body: &str| format!("{head}{body}");
    bad(
        s,
        "f-body-array",
        "format.md §2 Body",
        "the top-level value is an object",
        body_file("[]\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-string",
        "format.md §2 Body",
        "the top-level value is an object",
        body_file("\"x\"\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-unterminated",
        "format.md §2 Body",
        "the body is JSON",
        body_file("{\n  \"a\": 1\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-trailing-comma",
        "format.md §2 Body",
        "the body is JSON (no trailing comma)",
        body_file("{\n  \"a\": 1,\n}\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-duplicate-key",
        "format.md §2 Body",
        "a repeated key is an error",
        body_file("{\n  \"a\": 1,\n  \"a\": 1\n}\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-compact",
        "format.md §2 Body",
        "one member per line",
        body_file("{\"a\": 1}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-unsorted",
        "format.md §2 Body",
        "keys sorted bytewise",
        body_file("{\n  \"b\": 1,\n  \"a\": 2\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-utf16-order",
        "format.md §2 Body",
        "keys in UTF-8 byte order, not UTF-16 order",
        body_file("{\n  \"😀\": 2,\n  \"\u{ff61}\": 1\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-indent-four",
        "format.md §2 Body",
        "two spaces per level",
        body_file("{\n    \"a\": 1\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-indent-tab",
        "format.md §2 Body",
        "indent with spaces",
        body_file("{\n\t\"a\": 1\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-colon-spacing",
        "format.md §2 Body",
        "': ' after a key",
        body_file("{\n  \"a\" : 1\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-comma-next-line",
        "format.md §2 Body",
        "',' at the end of the member",
        body_file("{\n  \"a\": 1\n  ,\"b\": 2\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-empty-object-split",
        "format.md §2 Body",
        "an empty object is {}",
        body_file("{\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-empty-array-split",
        "format.md §2 Body",
        "an empty array is []",
        body_file("{\n  \"a\": [\n  ]\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-escaped-slash",
        "format.md §2 Body",
        "/ is not escaped",
        body_file("{\n  \"a\": \"\\/\"\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-escaped-non-ascii",
        "format.md §2 Body",
        "non-ASCII is raw UTF-8",
        body_file("{\n  \"a\": \"\\u00e9\"\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-uppercase-hex",
        "format.md §2 Body",
        "\\u00XX uses lowercase hex",
        body_file("{\n  \"a\": \"\\u001B\"\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-long-newline-escape",
        "format.md §2 Body",
        "newline is \\n, not \\u000a",
        body_file("{\n  \"a\": \"\\u000a\"\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-escaped-del",
        "format.md §2 Body",
        "U+007F is raw",
        body_file("{\n  \"a\": \"\\u007f\"\n}\n").into_bytes(),
        "non-canonical-json",
    );
    bad(
        s,
        "f-body-raw-control",
        "format.md §2 Body",
        "control characters are escaped (raw U+0001 is not JSON)",
        body_file("{\n  \"a\": \"\u{1}\"\n}\n").into_bytes(),
        "invalid-json",
    );
    bad(
        s,
        "f-body-leading-zero",
        "format.md §2 Body",
        "integers have no leading zeros (not JSON)",
        body_file("{\n  \"a\": 01\n}\n").into_bytes(),
        "invalid-json",
    );
    for (id, number, rule) in [
        ("f-float-fraction", "1.5", "no fractions"),
        ("f-float-integral", "2.0", "2.0 is a float"),
        ("f-float-exponent", "1e3", "no exponents"),
        ("f-float-negative-zero", "-0", "-0 is not an integer"),
        (
            "f-float-too-big",
            "18446744073709551616",
            "integers fit in 64 bits",
        ),
        (
            "f-float-too-small",
            "-9223372036854775809",
            "integers fit in 64 bits",
        ),
    ] {
        bad(
            s,
            id,
            "format.md §2 Body",
            rule,
            body_file(&format!("{{\n  \"a\": {number}\n}}\n")).into_bytes(),
            "float",
        );
    }
    bad(
        s,
        "f-float-nested",
        "format.md §2 Body",
        "no floats at any depth",
        body_file("{\n  \"a\": [\n    {\n      \"b\": 0.5\n    }\n  ]\n}\n").into_bytes(),
        "float",
    );
}

// ---------------------------------------------------------------- manifests

fn manifest_cases(s: &mut Suite) {
    let rows = full_rows();
    let pk = test_public_key();
    let base = manifest_text(INSTANCE, &pk, "1", &rows);
    let first_entry = base.lines().nth(7).unwrap_or_default().to_owned();
    let (hash, rest) = first_entry.split_once(' ').unwrap_or_default();
    let (len, first_path) = rest.split_once(' ').unwrap_or_default();
    let (hash, len, first_path) = (hash.to_owned(), len.to_owned(), first_path.to_owned());
    let ok = |s: &mut Suite, id: &str, rule: &str, text: String| {
        s.manifest(id, "format.md §4", rule, text, Accept)
    };
    let bad = |s: &mut Suite, id: &str, rule: &str, text: String, code| {
        s.manifest(id, "format.md §4", rule, text.into_bytes(), Refuse(code))
    };

    ok(
        s,
        "m-valid",
        "a manifest listing one file of each entity, sorted bytewise by path",
        base.clone(),
    );
    ok(
        s,
        "m-valid-empty",
        "an empty bundle's manifest ends with Files: 0 and the empty line",
        manifest_text(INSTANCE, &pk, "1", &Files::new()),
    );
    ok(
        s,
        "m-valid-max-sequence",
        "Sequence 2^63-1 is the largest",
        rep(&base, "Sequence: 1\n", "Sequence: 9223372036854775807\n"),
    );
    ok(
        s,
        "m-valid-opaque-key",
        "the format only checks Public-Key's alphabet and length (1-1024 of [A-Za-z0-9+/=])",
        rep(&base, &pk, "abc+/="),
    );
    ok(
        s,
        "m-valid-zero-length-file",
        "a listed file may have length 0 (the bundle reader then refuses its syntax)",
        rep(
            &base,
            &format!("{hash} {len} "),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 ",
        ),
    );

    bad(
        s,
        "m-format-wrong",
        "Format is exactly wb-sync-manifest",
        rep(
            &base,
            "Format: wb-sync-manifest",
            "Format: wb-sync-manifest-2",
        ),
        "invalid-format",
    );
    bad(
        s,
        "m-format-first",
        "Format comes first",
        rep(
            &base,
            "Format: wb-sync-manifest\nInstance: alpha.example",
            "Instance: alpha.example\nFormat: wb-sync-manifest",
        ),
        "header-order",
    );
    bad(
        s,
        "m-instance-invalid",
        "Instance is an instance name",
        rep(&base, "Instance: alpha.example", "Instance: Alpha"),
        "invalid-instance",
    );
    bad(
        s,
        "m-instance-trailing-dot",
        "Instance ends with a letter or digit",
        rep(&base, "Instance: alpha.example", "Instance: alpha.example."),
        "invalid-instance",
    );
    bad(
        s,
        "m-key-alphabet",
        "Public-Key is base64 characters",
        rep(&base, &pk, "RW!notbase64"),
        "invalid-public-key",
    );
    bad(
        s,
        "m-key-too-long",
        "Public-Key has at most 1024 characters",
        rep(&base, &pk, &"A".repeat(1025)),
        "invalid-public-key",
    );
    bad(
        s,
        "m-schema-newer",
        "Schema-Version 1",
        rep(&base, "Schema-Version: 1", "Schema-Version: 2"),
        "unsupported-schema",
    );
    bad(
        s,
        "m-sequence-zero",
        "Sequence starts at 1",
        rep(&base, "Sequence: 1\n", "Sequence: 0\n"),
        "sequence-out-of-range",
    );
    bad(
        s,
        "m-sequence-2-63",
        "Sequence is at most 2^63-1",
        rep(&base, "Sequence: 1\n", "Sequence: 9223372036854775808\n"),
        "sequence-out-of-range",
    );
    bad(
        s,
        "m-sequence-2-64-minus-1",
        "Sequence is at most 2^63-1",
        rep(&base, "Sequence: 1\n", "Sequence: 18446744073709551615\n"),
        "sequence-out-of-range",
    );
    bad(
        s,
        "m-sequence-leading-zero",
        "Sequence has no leading zeros",
        rep(&base, "Sequence: 1\n", "Sequence: 01\n"),
        "invalid-number",
    );
    bad(
        s,
        "m-sequence-negative",
        "Sequence has no sign",
        rep(&base, "Sequence: 1\n", "Sequence: -1\n"),
        "invalid-number",
    );
    bad(
        s,
        "m-files-leading-zero",
        "Files has no leading zeros",
        rep(&base, "Files: 6\n", "Files: 06\n"),
        "invalid-number",
    );
    bad(
        s,
        "m-files-too-many",
        "Files equals the number of file lines",
        rep(&base, "Files: 6\n", "Files: 7\n"),
        "file-count-mismatch",
    );
    bad(
        s,
        "m-files-too-few",
        "Files equals the number of file lines",
        rep(&base, "Files: 6\n", "Files: 5\n"),
        "file-count-mismatch",
    );
    bad(
        s,
        "m-empty-no-blank-line",
        "the empty line follows the headers even with no files",
        manifest_text(INSTANCE, &pk, "1", &Files::new())
            .trim_end_matches('\n')
            .to_owned()
            + "\n",
        "truncated-or-trailing",
    );
    bad(
        s,
        "m-extra-blank-line-at-end",
        "nothing but file lines after the empty line",
        format!("{base}\n"),
        "malformed-entry",
    );
    bad(
        s,
        "m-crlf",
        "LF only",
        base.replace('\n', "\r\n"),
        "carriage-return",
    );
    bad(
        s,
        "m-trailing-space",
        "no trailing spaces",
        rep(&base, "Files: 6\n", "Files: 6 \n"),
        "trailing-whitespace",
    );
    bad(
        s,
        "m-missing-final-newline",
        "ends with a newline",
        base.trim_end_matches('\n').to_owned(),
        "truncated-or-trailing",
    );
    bad(
        s,
        "m-unknown-header",
        "no unknown headers",
        rep(&base, "Files: 6\n", "Files: 6\nSigned-At: now\n"),
        "unknown-header",
    );
    let entry = |new: &str| rep(&base, &first_entry, new);
    bad(
        s,
        "m-entry-uppercase-hash",
        "the hash is lowercase hex",
        entry(&format!("{} {len} {first_path}", hash.to_uppercase())),
        "malformed-entry",
    );
    bad(
        s,
        "m-entry-short-hash",
        "the hash has 64 digits",
        entry(&format!("{} {len} {first_path}", &hash[1..])),
        "malformed-entry",
    );
    bad(
        s,
        "m-entry-two-spaces",
        "single spaces",
        entry(&format!("{hash}  {len} {first_path}")),
        "malformed-entry",
    );
    bad(
        s,
        "m-entry-tab",
        "single spaces, not tabs",
        entry(&format!("{hash}\t{len} {first_path}")),
        "malformed-entry",
    );
    bad(
        s,
        "m-entry-length-leading-zero",
        "lengths have no leading zeros",
        entry(&format!("{hash} 0{len} {first_path}")),
        "malformed-entry",
    );
    bad(
        s,
        "m-entry-no-path",
        "three fields",
        entry(&format!("{hash} {len}")),
        "malformed-entry",
    );
    for (id, p, rule) in [
        (
            "m-path-absolute",
            format!("/{first_path}"),
            "no absolute paths",
        ),
        (
            "m-path-dotdot",
            format!("../{first_path}"),
            "no .. segments",
        ),
        ("m-path-dot", format!("./{first_path}"), "no . segments"),
        (
            "m-path-backslash",
            first_path.replace('/', "\\"),
            "no backslashes",
        ),
        (
            "m-path-empty-segment",
            first_path.replace('/', "//"),
            "no empty segments",
        ),
        (
            "m-path-three-segments",
            format!(
                "comment/x/{}",
                first_path.split('/').nth(1).unwrap_or_default()
            ),
            "exactly two segments",
        ),
        (
            "m-path-unknown-entity",
            first_path.replace("comment/", "comments/"),
            "a known entity directory",
        ),
        (
            "m-path-uppercase-uuid",
            first_path
                .to_uppercase()
                .replace("COMMENT/", "comment/")
                .replace(".SYNC.TXT", ".sync.txt"),
            "file names are <lowercase uuid>.sync.txt",
        ),
        (
            "m-path-wrong-suffix",
            first_path.replace(".sync.txt", ".txt"),
            "file names end .sync.txt",
        ),
        (
            "m-path-manifest",
            "manifest.sync.txt".to_owned(),
            "the manifest does not list itself",
        ),
    ] {
        bad(
            s,
            id,
            rule,
            entry(&format!("{hash} {len} {p}")),
            "unsafe-path",
        );
    }
    let lines: Vec<&str> = base.lines().collect();
    let mut swapped = lines.clone();
    swapped.swap(7, 8);
    bad(
        s,
        "m-unsorted",
        "file lines sorted bytewise by path",
        swapped.join("\n") + "\n",
        "unsorted-entry",
    );
    let mut dup = lines.clone();
    dup[8] = dup[7];
    bad(
        s,
        "m-duplicate",
        "no path twice",
        dup.join("\n") + "\n",
        "duplicate-entry",
    );
}

// ---------------------------------------------------------------- trusted comments

fn trusted_comment_cases(s: &mut Suite) {
    let ok =
        |s: &mut Suite, id: &str, rule: &str, text: &str| s.trusted_comment(id, rule, text, Accept);
    let bad = |s: &mut Suite, id: &str, rule: &str, text: &str| {
        s.trusted_comment(id, rule, text, Refuse("bad-signature"))
    };
    ok(
        s,
        "t-valid",
        "instance=<name> sequence=<n>",
        "instance=alpha.example sequence=1",
    );
    ok(
        s,
        "t-valid-max",
        "sequence 2^63-1",
        "instance=alpha.example sequence=9223372036854775807",
    );
    bad(
        s,
        "t-sequence-zero",
        "sequence starts at 1",
        "instance=alpha.example sequence=0",
    );
    bad(
        s,
        "t-sequence-2-63",
        "sequence is at most 2^63-1",
        "instance=alpha.example sequence=9223372036854775808",
    );
    bad(
        s,
        "t-sequence-leading-zero",
        "no leading zeros",
        "instance=alpha.example sequence=01",
    );
    bad(
        s,
        "t-sequence-plus",
        "no sign",
        "instance=alpha.example sequence=+1",
    );
    bad(
        s,
        "t-two-spaces",
        "one space",
        "instance=alpha.example  sequence=1",
    );
    bad(
        s,
        "t-order",
        "instance first",
        "sequence=1 instance=alpha.example",
    );
    bad(s, "t-no-instance", "both fields", "sequence=1");
    bad(
        s,
        "t-trailing-field",
        "nothing else",
        "instance=alpha.example sequence=1 time=0",
    );
    bad(
        s,
        "t-instance-invalid",
        "the instance is an instance name",
        "instance=Alpha sequence=1",
    );
    bad(s, "t-empty", "not empty", "");
}

// ---------------------------------------------------------------- public keys

/// The one-line form of raw 42 bytes.
fn key_line(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn public_key_cases(s: &mut Suite) {
    let key = test_key().public_key();
    let line = key.to_minisign_base64();
    let file = key.to_minisign_file();
    let raw = |ed: [u8; 32]| {
        let mut bytes = b"Ed".to_vec();
        bytes.extend_from_slice(&crate::TEST_KEY_ID);
        bytes.extend_from_slice(&ed);
        key_line(&bytes)
    };
    let with_line = |l: &str| format!("untrusted comment: minisign public key\n{l}\n");
    s.public_key(
        "k-valid",
        "minisign public key file as minisign -G writes it",
        file.clone(),
        Accept,
    );
    s.public_key(
        "k-valid-crlf",
        "lines may end in CRLF",
        file.replace('\n', "\r\n"),
        Accept,
    );
    s.public_key(
        "k-valid-no-final-newline",
        "the final newline may be missing",
        file.trim_end().to_owned(),
        Accept,
    );
    s.public_key(
        "k-valid-trailing-blank-lines",
        "empty lines may follow the key",
        format!("{file}\n\n"),
        Accept,
    );
    s.public_key(
        "k-valid-any-comment",
        "any untrusted comment text",
        with_line(&line).replace("minisign public key", "anything at all"),
        Accept,
    );
    s.public_key(
        "k-no-comment",
        "line 1 is an untrusted comment",
        format!("{line}\n"),
        Refuse("invalid-public-key"),
    );
    s.public_key(
        "k-extra-line",
        "nothing but empty lines after the key",
        format!("{file}extra\n"),
        Refuse("invalid-public-key"),
    );
    s.public_key(
        "k-no-key",
        "line 2 holds the key",
        "untrusted comment: minisign public key\n",
        Refuse("invalid-public-key"),
    );
    s.public_key(
        "k-short",
        "42 bytes",
        with_line(&key_line(b"Ed123456")),
        Refuse("invalid-public-key"),
    );
    let mut ed = b"ED".to_vec();
    ed.extend_from_slice(&crate::TEST_KEY_ID);
    ed.extend_from_slice(&key.to_ed25519_bytes());
    s.public_key(
        "k-algorithm",
        "the algorithm is Ed",
        with_line(&key_line(&ed)),
        Refuse("invalid-public-key"),
    );
    // 42 bytes are 56 base64 characters with no padding and no spare bits.
    s.public_key(
        "k-padding-added",
        "exactly 56 base64 characters, no padding",
        with_line(&format!("{line}=")),
        Refuse("invalid-public-key"),
    );
    s.public_key(
        "k-space-inside",
        "no whitespace inside the key",
        with_line(&format!("{} {}", &line[..28], &line[28..])),
        Refuse("invalid-public-key"),
    );
    s.public_key(
        "k-surrounding-spaces",
        "spaces and tabs around the key on line 2 are ignored (as for --key)",
        with_line(&format!(" {line}\t")),
        Accept,
    );
    assert!(line.contains('+') && line.contains('/'), "{line}");
    s.public_key(
        "k-url-alphabet",
        "the standard alphabet, not base64url",
        // The test key holds both '+' and '/'.
        with_line(&line.replace('+', "-").replace('/', "_")),
        Refuse("invalid-public-key"),
    );
    let mut identity = [0u8; 32];
    identity[0] = 1;
    s.public_key(
        "k-small-order-identity",
        "a point of small order is refused (the identity)",
        with_line(&raw(identity)),
        Refuse("invalid-public-key"),
    );
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    s.public_key(
        "k-small-order-2",
        "a point of small order is refused (order 2, y = -1)",
        with_line(&raw(minus_one)),
        Refuse("invalid-public-key"),
    );
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    s.public_key(
        "k-noncanonical-point",
        "y must be reduced modulo p (y = p)",
        with_line(&raw(p)),
        Refuse("invalid-public-key"),
    );
    let mut not_on_curve = [0u8; 32];
    not_on_curve[0] = 2;
    s.public_key(
        "k-not-on-curve",
        "the bytes are a curve point (y = 2 is not)",
        with_line(&raw(not_on_curve)),
        Refuse("invalid-public-key"),
    );
}

// ---------------------------------------------------------------- bundles: format

fn bundle_format_cases(s: &mut Suite) {
    let rows = full_rows();
    let full = bundle(&rows);
    let f = Layer::Format;
    s.bundle(
        "b-valid-full",
        "format.md §1, §7",
        "a valid bundle of every entity",
        Layer::Verify,
        full.clone(),
        Accept,
    );
    s.bundle(
        "b-valid-empty",
        "format.md §4",
        "an empty bundle: Files: 0, no entity directories",
        Layer::Verify,
        bundle(&Files::new()),
        Accept,
    );
    let mut dot = full.clone();
    dot.insert(".notes".into(), b"not part of the bundle\n".to_vec());
    dot.insert(
        ".git-like/objects/x".into(),
        b"skipped without looking inside\n".to_vec(),
    );
    s.bundle(
        "b-valid-dot-entries",
        "format.md §1",
        "top-level dot-entries are skipped",
        Layer::Verify,
        dot,
        Accept,
    );

    let mut m = full.clone();
    m.remove("manifest.sync.txt");
    s.bundle(
        "b-missing-manifest",
        "format.md §7 step 1",
        "manifest.sync.txt exists",
        f,
        m,
        Refuse("missing-manifest"),
    );
    let mut m = full.clone();
    m.remove("bundle.sig");
    s.bundle(
        "b-missing-signature",
        "format.md §7 step 1",
        "bundle.sig exists",
        f,
        m,
        Refuse("missing-signature"),
    );
    let mut m = full.clone();
    m.insert(path("user", U3), row("user", U3, &user("eve")).into_bytes());
    s.bundle(
        "b-unlisted-file",
        "format.md §1",
        "every .sync.txt file is listed",
        f,
        m,
        Refuse("unlisted-file"),
    );
    let mut m = full.clone();
    m.remove(&path("comment", C1));
    s.bundle(
        "b-missing-file",
        "format.md §1",
        "every listed file exists",
        f,
        m,
        Refuse("missing-file"),
    );
    for (id, extra, rule) in [
        ("b-foreign-top-file", "README", "no other files at the top"),
        (
            "b-foreign-top-dir",
            "notes/a.txt",
            "no other directories at the top",
        ),
        (
            "b-foreign-in-entity-dir",
            "user/notes.txt",
            "nothing but <uuid>.sync.txt in entity directories",
        ),
        (
            "b-dot-file-in-entity-dir",
            "user/.hidden",
            "the dot-entry exemption is for the top level only",
        ),
        (
            "b-subdir-in-entity-dir",
            "user/sub/x.sync.txt",
            "no subdirectories in entity directories",
        ),
        (
            "b-temp-file-in-entity-dir",
            "user/.01936f3e-0000-7000-8000-000000000001.sync.txt.tmp",
            "writers' temporary files in entity directories are refused",
        ),
    ] {
        let mut m = full.clone();
        m.insert(extra.into(), b"x\n".to_vec());
        s.bundle(id, "format.md §1", rule, f, m, Refuse("unsafe-path"));
    }
    let mut m = full.clone();
    let p = path("request", R1);
    let text = String::from_utf8(m[&p].clone()).unwrap_or_default();
    m.insert(p.clone(), rep(&text, "orchard", "orchards").into_bytes());
    s.bundle(
        "b-length-mismatch",
        "format.md §7 step 2",
        "each file's size equals its manifest length",
        f,
        m,
        Refuse("length-mismatch"),
    );
    let mut m = full.clone();
    m.insert(p.clone(), rep(&text, "orchard", "Orchard").into_bytes());
    s.bundle(
        "b-hash-mismatch",
        "format.md §7 step 6",
        "each file's SHA-256 equals the manifest's",
        f,
        m,
        Refuse("hash-mismatch"),
    );

    // Listed, hashed, signed — but the file breaks a rule.
    let listed = |s: &mut Suite, id: &str, section, rule: &str, rows: Files, layer, code| {
        s.bundle(id, section, rule, layer, bundle(&rows), Refuse(code));
    };
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        row("user", R1, &user("carol")).into_bytes(),
    );
    listed(
        s,
        "b-path-mismatch-entity",
        "format.md §2",
        "Entity matches the file's directory",
        r,
        f,
        "path-mismatch",
    );
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        row(
            "request",
            "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a66",
            &request(U1),
        )
        .into_bytes(),
    );
    listed(
        s,
        "b-path-mismatch-id",
        "format.md §2",
        "ID matches the file's name",
        r,
        f,
        "path-mismatch",
    );
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        row_with("request", R1, "beta.example", "public", TS, &request(U1)).into_bytes(),
    );
    listed(
        s,
        "b-instance-mismatch",
        "format.md §2",
        "Instance equals the manifest's",
        r,
        f,
        "instance-mismatch",
    );
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        row_with("request", R1, INSTANCE, "private", TS, &request(U1)).into_bytes(),
    );
    listed(
        s,
        "b-private-file",
        "format.md §2",
        "a bundle never carries private rows",
        r,
        f,
        "private-file",
    );
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        base_file().replace('\n', "\r\n").into_bytes(),
    );
    listed(
        s,
        "b-row-syntax",
        "format.md §7 step 6",
        "each listed file parses (here: CRLF)",
        r,
        f,
        "carriage-return",
    );
    let mut r = rows.clone();
    r.insert(
        path("request", R1),
        rep(&base_file(), "Schema-Version: 1", "Schema-Version: 2").into_bytes(),
    );
    listed(
        s,
        "b-row-schema-newer",
        "format.md §3",
        "a row of a newer schema version is refused",
        r,
        f,
        "unsupported-schema",
    );

    // The one size limit small enough for a fixture: bundle.sig, 64 KiB.
    let sig = sig_text(&full);
    let padded = format!("{sig}{}", "\n".repeat(65_536 + 1 - sig.len()));
    s.bundle(
        "b-signature-too-large",
        "format.md §5",
        "bundle.sig is at most 64 KiB (65,536 bytes), checked before it is read",
        f,
        with_sig(full.clone(), padded),
        Refuse("too-large"),
    );
    let at_limit = format!("{sig}{}", "\n".repeat(65_536 - sig.len()));
    s.bundle(
        "b-signature-at-limit",
        "format.md §5",
        "a bundle.sig of exactly 64 KiB is read (here: valid, then empty lines)",
        Layer::Verify,
        with_sig(full.clone(), at_limit),
        Accept,
    );
    let manifest = String::from_utf8(full["manifest.sync.txt"].clone()).unwrap_or_default();
    let m = bundle_with_manifest(
        &rows,
        &rep(
            &manifest,
            "Sequence: 1\n",
            "Sequence: 9223372036854775808\n",
        ),
        "instance=alpha.example sequence=1",
    );
    s.bundle(
        "b-sequence-out-of-range",
        "format.md §4",
        "a sequence over 2^63-1 is refused before anything else",
        f,
        m,
        Refuse("sequence-out-of-range"),
    );
    let m = bundle_with_manifest(
        &rows,
        &rep(
            &manifest,
            "Instance: alpha.example",
            "Instance: alpha..example",
        ),
        "instance=alpha.example sequence=1",
    );
    s.bundle(
        "b-manifest-instance-invalid",
        "format.md §7 step 3",
        "Instance is an instance name",
        f,
        m,
        Refuse("invalid-instance"),
    );
}

// ---------------------------------------------------------------- bundles: verify

fn bundle_verify_cases(s: &mut Suite) {
    let v = Layer::Verify;
    let rows = full_rows();
    let full = bundle(&rows);
    let sig = sig_text(&full);

    // Keys (§7 step 3).
    s.bundle(
        "v-key-not-pinned",
        "format.md §7 step 3",
        "with no pin (and no --key or --accept-new-keys) a bundle is refused",
        v,
        full.clone(),
        Refuse("key-not-pinned"),
    )
    .pinned = false;
    let other = bundle_by(INSTANCE, &other_key(), 1, &rows, None);
    s.bundle(
        "v-key-mismatch",
        "format.md §7 step 3",
        "Public-Key equals the pinned key (here: validly signed by another key)",
        v,
        other,
        Refuse("key-mismatch"),
    );

    // Signature (§7 step 4, keys.md Signature).
    let manifest = full["manifest.sync.txt"].clone();
    let mut other_signed = full.clone();
    other_signed.insert(
        "bundle.sig".into(),
        sign_with(&other_key(), &manifest, "instance=alpha.example sequence=1").into_bytes(),
    );
    s.bundle(
        "v-sig-other-key",
        "keys.md Signature",
        "the key id of the signature is the pinned key's",
        v,
        other_signed,
        Refuse("bad-signature"),
    );
    let lines: Vec<&str> = sig.lines().collect();
    let flip = |line: &str| {
        let mut c: Vec<char> = line.chars().collect();
        c[20] = if c[20] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect::<String>()
    };
    let join = |l: &[String]| l.join("\n") + "\n";
    let owned: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mut l = owned.clone();
    l[1] = flip(&l[1]);
    s.bundle(
        "v-sig-altered",
        "keys.md Signature",
        "S1 verifies over BLAKE2b-512 of the manifest",
        v,
        with_sig(full.clone(), join(&l)),
        Refuse("bad-signature"),
    );
    let mut l = owned.clone();
    l[3] = flip(&l[3]);
    s.bundle(
        "v-sig-global-altered",
        "keys.md Signature",
        "S2 verifies over S1 and the trusted comment",
        v,
        with_sig(full.clone(), join(&l)),
        Refuse("bad-signature"),
    );
    let mut l = owned.clone();
    l[2] = "trusted comment: instance=alpha.example sequence=2".into();
    s.bundle(
        "v-sig-comment-altered",
        "keys.md Signature",
        "the trusted comment is signed",
        v,
        with_sig(full.clone(), join(&l)),
        Refuse("bad-signature"),
    );
    let mut l = owned.clone();
    l[0] = "a comment".into();
    s.bundle(
        "v-sig-no-untrusted-prefix",
        "keys.md Signature",
        "line 1 starts with 'untrusted comment: '",
        v,
        with_sig(full.clone(), join(&l)),
        Refuse("bad-signature"),
    );
    let mut l = owned.clone();
    l[2] = l[2].replace("trusted comment: ", "trusted-comment: ");
    s.bundle(
        "v-sig-no-trusted-prefix",
        "keys.md Signature",
        "line 3 starts with 'trusted comment: '",
        v,
        with_sig(full.clone(), join(&l)),
        Refuse("bad-signature"),
    );
    s.bundle(
        "v-sig-trailing-text",
        "keys.md Signature",
        "nothing but empty lines after line 4",
        v,
        with_sig(full.clone(), format!("{sig}extra\n")),
        Refuse("bad-signature"),
    );
    s.bundle(
        "v-sig-truncated",
        "keys.md Signature",
        "four lines",
        v,
        with_sig(full.clone(), join(&owned[..3])),
        Refuse("bad-signature"),
    );
    s.bundle(
        "v-sig-not-utf8",
        "keys.md Signature",
        "bundle.sig is text",
        v,
        with_sig(full.clone(), b"\xff\xfe\n".to_vec()),
        Refuse("bad-signature"),
    );
    s.bundle(
        "v-sig-empty",
        "keys.md Signature",
        "bundle.sig is not empty",
        v,
        with_sig(full.clone(), Vec::new()),
        Refuse("bad-signature"),
    );
    // Legacy `Ed` algorithm: Ed25519 over the whole manifest.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = test_key();
        let s1 = key.sign(&manifest);
        let mut line2 = b"Ed".to_vec();
        line2.extend_from_slice(&crate::TEST_KEY_ID);
        line2.extend_from_slice(&s1);
        let comment = "instance=alpha.example sequence=1";
        let mut global = s1.to_vec();
        global.extend_from_slice(comment.as_bytes());
        let legacy = format!(
            "untrusted comment: legacy\n{}\ntrusted comment: {comment}\n{}\n",
            b64.encode(line2),
            b64.encode(key.sign(&global))
        );
        s.bundle(
            "v-sig-legacy-algorithm",
            "keys.md Signature",
            "the legacy non-prehashed Ed algorithm is refused",
            v,
            with_sig(full.clone(), legacy),
            Refuse("bad-signature"),
        );
    }
    // Malleability: S + L verifies under lax Ed25519, never under strict.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut line2 = b64.decode(&owned[1]).unwrap_or_default();
        add_l(&mut line2[10 + 32..]);
        let mut l = owned.clone();
        l[1] = b64.encode(&line2);
        s.bundle(
            "v-sig-noncanonical-s",
            "keys.md Signature",
            "strict verification: S < L (here S + L, which lax verifiers accept)",
            v,
            with_sig(full.clone(), join(&l)),
            Refuse("bad-signature"),
        );
        let mut short = b64.decode(&owned[1]).unwrap_or_default();
        short.pop();
        let mut l = owned.clone();
        l[1] = b64.encode(&short);
        s.bundle(
            "v-sig-line2-short",
            "keys.md Signature",
            "line 2 decodes to 74 bytes",
            v,
            with_sig(full.clone(), join(&l)),
            Refuse("bad-signature"),
        );
    }
    s.bundle(
        "v-sig-crlf",
        "keys.md Signature",
        "bundle.sig lines may end in CRLF",
        v,
        with_sig(full.clone(), sig.replace('\n', "\r\n")),
        Accept,
    );
    s.bundle(
        "v-sig-no-final-newline",
        "keys.md Signature",
        "the final newline of bundle.sig may be missing",
        v,
        with_sig(full.clone(), sig.trim_end().to_owned()),
        Accept,
    );
    s.bundle(
        "v-sig-trailing-blank-lines",
        "keys.md Signature",
        "empty lines may follow line 4",
        v,
        with_sig(full.clone(), format!("{sig}\n\n")),
        Accept,
    );
    let mut l = owned.clone();
    l[0] = "untrusted comment: anything, it is not signed".into();
    s.bundle(
        "v-sig-other-untrusted-comment",
        "keys.md Signature",
        "the untrusted comment is ignored",
        v,
        with_sig(full.clone(), join(&l)),
        Accept,
    );
    let wrong_seq = with_sig(
        full.clone(),
        sign_with(&test_key(), &manifest, "instance=alpha.example sequence=2"),
    );
    s.bundle(
        "v-comment-other-sequence",
        "format.md §6",
        "the trusted comment's sequence equals the manifest's",
        v,
        wrong_seq,
        Refuse("signature-mismatch"),
    );
    let wrong_inst = with_sig(
        full.clone(),
        sign_with(&test_key(), &manifest, "instance=beta.example sequence=1"),
    );
    s.bundle(
        "v-comment-other-instance",
        "format.md §6",
        "the trusted comment's instance equals the manifest's",
        v,
        wrong_inst,
        Refuse("signature-mismatch"),
    );
    let bad_shape = with_sig(
        full.clone(),
        sign_with(&test_key(), &manifest, "instance=alpha.example sequence=01"),
    );
    s.bundle(
        "v-comment-bad-shape",
        "keys.md Signature",
        "the trusted comment is exactly instance=<name> sequence=<n>",
        v,
        bad_shape,
        Refuse("bad-signature"),
    );
    let other_comment = with_sig(
        full.clone(),
        sign_with(&test_key(), &manifest, "timestamp:1 file:manifest.sync.txt"),
    );
    s.bundle(
        "v-comment-minisign-default",
        "keys.md Signature",
        "minisign's default trusted comment is not a bundle's",
        v,
        other_comment,
        Refuse("bad-signature"),
    );

    // Bodies (§7 step 6, Entity bodies).
    let body_case = |s: &mut Suite,
                     id: &str,
                     rule: &str,
                     entity: &str,
                     rid: &str,
                     body: Value,
                     expected: Expected| {
        s.bundle(
            id,
            "format.md Entity bodies",
            rule,
            v,
            bundle(&users_and(entity, rid, &body)),
            expected,
        );
    };
    let user_full = json!({"username": "carol", "display_name": "Carol Q.", "bio": "Line one\n\tindented", "created_at": TS});
    body_case(
        s,
        "v-user-valid",
        "a user with every key; newline and tab allowed in bio",
        "user",
        U3,
        user_full.clone(),
        Accept,
    );
    body_case(
        s,
        "v-user-username-digits",
        "a username may start with a digit and hold _ and -",
        "user",
        U3,
        set(user_full.clone(), "username", json!("0_carol-q")),
        Accept,
    );
    body_case(
        s,
        "v-user-username-32",
        "a username of 32 characters",
        "user",
        U3,
        set(user_full.clone(), "username", json!("c".repeat(32))),
        Accept,
    );
    body_case(
        s,
        "v-user-display-name-200-bytes",
        "display_name of 200 bytes",
        "user",
        U3,
        set(user_full.clone(), "display_name", json!("é".repeat(100))),
        Accept,
    );
    for (id, key, value, rule) in [
        (
            "v-user-username-underscore",
            "username",
            json!("_carol"),
            "a username starts with a letter or digit (not _)",
        ),
        (
            "v-user-username-hyphen",
            "username",
            json!("-carol"),
            "a username starts with a letter or digit (not -)",
        ),
        (
            "v-user-username-uppercase",
            "username",
            json!("Carol"),
            "usernames are lowercase",
        ),
        (
            "v-user-username-33",
            "username",
            json!("c".repeat(33)),
            "a username has at most 32 characters",
        ),
        (
            "v-user-username-empty",
            "username",
            json!(""),
            "a username has at least 1 character",
        ),
        (
            "v-user-username-dot",
            "username",
            json!("carol.q"),
            "a username is of a-z 0-9 _ -",
        ),
        (
            "v-user-display-name-null",
            "display_name",
            Value::Null,
            "display_name is a string, not null",
        ),
        ("v-user-bio-number", "bio", json!(1), "bio is a string"),
        (
            "v-user-created-at-format",
            "created_at",
            json!("2026-11-24T10:00:00Z"),
            "created_at has the Updated-At form",
        ),
        (
            "v-user-unknown-key",
            "email",
            json!("carol@example.org"),
            "unknown keys are refused (an email never travels)",
        ),
    ] {
        body_case(
            s,
            id,
            rule,
            "user",
            U3,
            set(user_full.clone(), key, value),
            Refuse("invalid-body"),
        );
    }
    for key in ["username", "display_name", "bio", "created_at"] {
        body_case(
            s,
            &format!("v-user-missing-{}", key.replace('_', "-")),
            &format!("{key} is required"),
            "user",
            U3,
            without(user_full.clone(), key),
            Refuse("invalid-body"),
        );
    }
    body_case(
        s,
        "v-user-display-name-201-bytes",
        "display_name at most 200 bytes",
        "user",
        U3,
        set(
            user_full.clone(),
            "display_name",
            json!(format!("a{}", "é".repeat(100))),
        ),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-user-bio-escape",
        "no control characters but newline and tab (ESC)",
        "user",
        U3,
        set(user_full.clone(), "bio", json!("\u{1b}[31mred")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-user-bio-del",
        "no DEL",
        "user",
        U3,
        set(user_full.clone(), "bio", json!("a\u{7f}")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-user-display-name-c1",
        "no C1 controls (U+0085)",
        "user",
        U3,
        set(user_full.clone(), "display_name", json!("a\u{85}b")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-user-bio-cr",
        "no carriage return in text",
        "user",
        U3,
        set(user_full.clone(), "bio", json!("a\rb")),
        Refuse("invalid-text"),
    );

    let req = request(U1);
    body_case(
        s,
        "v-request-valid",
        "a request with every key",
        "request",
        R1,
        req.clone(),
        Accept,
    );
    body_case(
        s,
        "v-request-fulfilled",
        "status fulfilled",
        "request",
        R1,
        set(req.clone(), "status", json!("fulfilled")),
        Accept,
    );
    body_case(
        s,
        "v-request-closed",
        "status closed",
        "request",
        R1,
        set(req.clone(), "status", json!("closed")),
        Accept,
    );
    body_case(
        s,
        "v-request-title-200",
        "a title of 200 characters",
        "request",
        R1,
        set(req.clone(), "title", json!("é".repeat(200))),
        Accept,
    );
    body_case(
        s,
        "v-request-body-64k",
        "a body of exactly 64 KiB",
        "request",
        R1,
        set(req.clone(), "body", json!("x".repeat(65_536))),
        Accept,
    );
    body_case(
        s,
        "v-request-title-tab",
        "a title may hold a tab",
        "request",
        R1,
        set(req.clone(), "title", json!("a\tb")),
        Accept,
    );
    body_case(
        s,
        "v-request-status-unknown",
        "status is open, fulfilled or closed",
        "request",
        R1,
        set(req.clone(), "status", json!("done")),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-request-author-not-uuid",
        "author_id is a lowercase UUID",
        "request",
        R1,
        set(req.clone(), "author_id", json!("ada")),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-request-author-null",
        "author_id is not null",
        "request",
        R1,
        set(req.clone(), "author_id", Value::Null),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-request-title-number",
        "title is a string",
        "request",
        R1,
        set(req.clone(), "title", json!(7)),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-request-unknown-key",
        "unknown keys are refused",
        "request",
        R1,
        set(req.clone(), "price", json!(3)),
        Refuse("invalid-body"),
    );
    for key in ["author_id", "title", "body", "status", "created_at"] {
        body_case(
            s,
            &format!("v-request-missing-{}", key.replace('_', "-")),
            &format!("{key} is required"),
            "request",
            R1,
            without(req.clone(), key),
            Refuse("invalid-body"),
        );
    }
    body_case(
        s,
        "v-request-title-empty",
        "a title is not empty",
        "request",
        R1,
        set(req.clone(), "title", json!("")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-request-title-blank",
        "a title is not blank",
        "request",
        R1,
        set(req.clone(), "title", json!("   ")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-request-title-newline",
        "a title is one line",
        "request",
        R1,
        set(req.clone(), "title", json!("a\nb")),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-request-title-201",
        "a title has at most 200 characters",
        "request",
        R1,
        set(req.clone(), "title", json!("é".repeat(201))),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-request-body-64k-plus-1",
        "a body has at most 64 KiB",
        "request",
        R1,
        set(req.clone(), "body", json!("x".repeat(65_537))),
        Refuse("invalid-text"),
    );
    body_case(
        s,
        "v-request-body-nul",
        "no NUL",
        "request",
        R1,
        set(req.clone(), "body", json!("a\u{0}b")),
        Refuse("invalid-text"),
    );

    let mut with_request = users();
    with_request.insert(
        path("request", R1),
        row("request", R1, &request(U1)).into_bytes(),
    );
    let comment_case = |s: &mut Suite, id: &str, rule: &str, body: Value, expected: Expected| {
        let mut r = with_request.clone();
        r.insert(path("comment", C1), row("comment", C1, &body).into_bytes());
        s.bundle(id, "format.md Entity bodies", rule, v, bundle(&r), expected);
    };
    let com = comment(R1, U2);
    comment_case(
        s,
        "v-comment-valid",
        "a comment with every key",
        com.clone(),
        Accept,
    );
    comment_case(
        s,
        "v-comment-body-empty",
        "a comment's body may be empty",
        set(com.clone(), "body", json!("")),
        Accept,
    );
    comment_case(
        s,
        "v-comment-request-not-uuid",
        "request_id is a UUID",
        set(com.clone(), "request_id", json!(1)),
        Refuse("invalid-body"),
    );
    comment_case(
        s,
        "v-comment-unknown-key",
        "unknown keys are refused",
        set(com.clone(), "edited", json!(false)),
        Refuse("invalid-body"),
    );
    for key in ["request_id", "author_id", "body", "created_at"] {
        comment_case(
            s,
            &format!("v-comment-missing-{}", key.replace('_', "-")),
            &format!("{key} is required"),
            without(com.clone(), key),
            Refuse("invalid-body"),
        );
    }
    comment_case(
        s,
        "v-comment-body-escape",
        "no control characters in a comment",
        set(com.clone(), "body", json!("\u{1b}]0;x\u{7}")),
        Refuse("invalid-text"),
    );

    let inv = |invitee: Option<&str>, status: &str| invite(U1, invitee, status);
    body_case(
        s,
        "v-invite-accepted",
        "an accepted invite names its invitee",
        "invite",
        I1,
        inv(Some(U2), "accepted"),
        Accept,
    );
    body_case(
        s,
        "v-invite-pending",
        "a pending invite has invitee_id null",
        "invite",
        I1,
        inv(None, "pending"),
        Accept,
    );
    body_case(
        s,
        "v-invite-revoked",
        "a revoked invite has invitee_id null",
        "invite",
        I1,
        inv(None, "revoked"),
        Accept,
    );
    body_case(
        s,
        "v-invite-accepted-null",
        "an accepted invite has an invitee",
        "invite",
        I1,
        inv(None, "accepted"),
        Refuse("invite-status"),
    );
    body_case(
        s,
        "v-invite-pending-invitee",
        "a pending invite has no invitee",
        "invite",
        I1,
        inv(Some(U2), "pending"),
        Refuse("invite-status"),
    );
    body_case(
        s,
        "v-invite-revoked-invitee",
        "a revoked invite has no invitee",
        "invite",
        I1,
        inv(Some(U2), "revoked"),
        Refuse("invite-status"),
    );
    body_case(
        s,
        "v-invite-missing-invitee",
        "invitee_id is required, even when null",
        "invite",
        I1,
        without(inv(None, "pending"), "invitee_id"),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-invite-status-unknown",
        "status is pending, accepted or revoked",
        "invite",
        I1,
        inv(None, "expired"),
        Refuse("invalid-body"),
    );
    body_case(
        s,
        "v-invite-code",
        "an invite's code never travels",
        "invite",
        I1,
        set(inv(None, "pending"), "code", json!("secret")),
        Refuse("invalid-body"),
    );
    for key in ["inviter_id", "status", "created_at"] {
        body_case(
            s,
            &format!("v-invite-missing-{}", key.replace('_', "-")),
            &format!("{key} is required"),
            "invite",
            I1,
            without(inv(None, "pending"), key),
            Refuse("invalid-body"),
        );
    }

    let vo = vouch(INSTANCE, U1, U2);
    body_case(
        s,
        "v-vouch-valid",
        "a vouch signed by the bundle's key",
        "vouch",
        V1,
        vo.clone(),
        Accept,
    );
    body_case(
        s,
        "v-vouch-self",
        "no vouch of a user for themself",
        "vouch",
        V1,
        vouch(INSTANCE, U1, U1),
        Refuse("self-vouch"),
    );
    body_case(
        s,
        "v-vouch-signature-other-subject",
        "the signature covers the subject",
        "vouch",
        V1,
        set(
            vo.clone(),
            "signature",
            vouch(INSTANCE, U1, U3)["signature"].clone(),
        ),
        Refuse("bad-vouch-signature"),
    );
    body_case(
        s,
        "v-vouch-signature-other-instance",
        "the signature covers the instance",
        "vouch",
        V1,
        vouch("beta.example", U1, U2),
        Refuse("bad-vouch-signature"),
    );
    let other_sig = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(other_key().sign(&wb_syncfmt::vouch_signing_bytes(INSTANCE, U1, U2, TS)))
    };
    body_case(
        s,
        "v-vouch-signature-other-key",
        "the signature is made with the bundle's key",
        "vouch",
        V1,
        set(vo.clone(), "signature", json!(other_sig)),
        Refuse("bad-vouch-signature"),
    );
    body_case(
        s,
        "v-vouch-signature-not-base64",
        "the signature is base64",
        "vouch",
        V1,
        set(vo.clone(), "signature", json!("not base64!")),
        Refuse("bad-vouch-signature"),
    );
    let canonical_sig = vo["signature"].as_str().unwrap_or_default().to_owned();
    // 64 bytes: 86 characters and "==", the last character carrying 4 spare bits.
    let mut spare: Vec<char> = canonical_sig.chars().collect();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let at = spare.len() - 3;
    let pos = alphabet.find(spare[at]).unwrap_or(0);
    spare[at] = alphabet.chars().nth(pos ^ 1).unwrap_or('A');
    let spare: String = spare.into_iter().collect();
    body_case(
        s,
        "v-vouch-signature-noncanonical",
        "canonical base64: the spare bits of the last character are zero",
        "vouch",
        V1,
        set(vo.clone(), "signature", json!(spare)),
        Refuse("bad-vouch-signature"),
    );
    body_case(
        s,
        "v-vouch-signature-unpadded",
        "the signature is padded base64 (88 characters)",
        "vouch",
        V1,
        set(
            vo.clone(),
            "signature",
            json!(
                vo["signature"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches('=')
            ),
        ),
        Refuse("bad-vouch-signature"),
    );
    for key in ["voucher_id", "subject_id", "signature", "created_at"] {
        body_case(
            s,
            &format!("v-vouch-missing-{}", key.replace('_', "-")),
            &format!("{key} is required"),
            "vouch",
            V1,
            without(vo.clone(), key),
            Refuse("invalid-body"),
        );
    }

    // Actor origins (§7 step 7).
    let actor = |s: &mut Suite, id: &str, rule: &str, entity: &str, rid: &str, body: Value| {
        body_case(s, id, rule, entity, rid, body, Refuse("actor-origin"));
    };
    actor(
        s,
        "v-actor-request-author",
        "a request's author is a user of the bundle",
        "request",
        R1,
        request(U3),
    );
    let mut r = with_request.clone();
    r.insert(
        path("comment", C1),
        row("comment", C1, &comment(R1, U3)).into_bytes(),
    );
    s.bundle(
        "v-actor-comment-author",
        "format.md §7 step 7",
        "a comment's author is a user of the bundle",
        v,
        bundle(&r),
        Refuse("actor-origin"),
    );
    actor(
        s,
        "v-actor-inviter",
        "an invite's inviter is a user of the bundle",
        "invite",
        I1,
        invite(U3, None, "pending"),
    );
    actor(
        s,
        "v-actor-invitee",
        "an invite's invitee is a user of the bundle",
        "invite",
        I1,
        invite(U1, Some(U3), "accepted"),
    );
    actor(
        s,
        "v-actor-voucher",
        "a vouch's voucher is a user of the bundle",
        "vouch",
        V1,
        vouch(INSTANCE, U3, U1),
    );
    // Checked with local state only (§7 step 8): `requires` is for importers.
    s.bundle(
        "v-vouch-subject-elsewhere",
        "format.md §7 step 7",
        "a vouch's subject may be a user of another instance, not in the bundle",
        v,
        bundle(&users_and("vouch", V1, &vouch(INSTANCE, U1, BETA_USER))),
        Accept,
    )
    .requires = vec!["i-beta-request".into()];
    let mut r = users();
    r.insert(
        path("comment", C1),
        row("comment", C1, &comment(RB, U2)).into_bytes(),
    );
    s.bundle(
        "v-comment-request-elsewhere",
        "format.md §7 step 7",
        "a comment may be on a request of another instance, not in the bundle",
        v,
        bundle(&r),
        Accept,
    )
    .requires = vec!["i-beta-request".into()];
}

/// Adds the Ed25519 group order L to the 32-byte little-endian scalar `s`.
fn add_l(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
}

// ---------------------------------------------------------------- bundles: import

fn bundle_import_cases(s: &mut Suite) {
    let i = Layer::Import;
    let rows = full_rows();
    let seq5 = bundle_by(INSTANCE, &test_key(), 5, &rows, None);
    s.bundle(
        "i-state-sequence-5",
        "format.md §4 Sequence",
        "a first bundle at sequence 5 is applied",
        i,
        seq5.clone(),
        Accept,
    );
    let older = bundle_by(INSTANCE, &test_key(), 4, &rows, None);
    s.bundle(
        "i-stale-older",
        "format.md §7 step 5",
        "a sequence older than the last applied is refused",
        i,
        older,
        Refuse("stale-sequence"),
    )
    .requires = vec!["i-state-sequence-5".into()];
    let mut changed = rows.clone();
    changed.remove(&path("vouch", V1));
    let equal = bundle_by(INSTANCE, &test_key(), 5, &changed, None);
    s.bundle(
        "i-stale-equal-other-content",
        "format.md §7 step 5",
        "the same sequence with other content is refused",
        i,
        equal,
        Refuse("stale-sequence"),
    )
    .requires = vec!["i-state-sequence-5".into()];
    s.bundle(
        "i-same-again",
        "format.md §7 step 5",
        "the very same bundle again is a no-op",
        i,
        seq5,
        Accept,
    )
    .requires = vec!["i-state-sequence-5".into()];
    let newer = bundle_by(INSTANCE, &test_key(), 6, &changed, None);
    s.bundle(
        "i-newer",
        "format.md §4 Sequence",
        "a newer sequence is applied (a row removed is retracted)",
        i,
        newer,
        Accept,
    )
    .requires = vec!["i-state-sequence-5".into()];
    let max = bundle_by(
        INSTANCE,
        &test_key(),
        9_223_372_036_854_775_807,
        &rows,
        None,
    );
    s.bundle(
        "i-max-sequence",
        "format.md §4",
        "sequence 2^63-1 is stored and applied",
        i,
        max,
        Accept,
    );

    let own = bundle_by(IMPORTER, &test_key(), 1, &Files::new(), None);
    s.bundle(
        "i-own-bundle",
        "format.md §7 step 3",
        "a bundle of the importer's own instance is refused",
        i,
        own,
        Refuse("own-bundle"),
    );

    s.bundle(
        "i-key-pinned-elsewhere",
        "format.md §7 Refusal codes",
        "one key is never pinned for two instances (here gamma.example's bundle signed by the key pinned for alpha.example)",
        i,
        bundle_by("gamma.example", &test_key(), 1, &Files::new(), None),
        Refuse("key-pinned-elsewhere"),
    )
    .requires = vec!["b-valid-empty".into()];

    // References to other instances' rows (§7 step 8).
    let mut beta = Files::new();
    let beta_user = BETA_USER;
    beta.insert(
        path("user", beta_user),
        row_with(
            "user",
            beta_user,
            "beta.example",
            "public",
            TS,
            &user("bea"),
        )
        .into_bytes(),
    );
    beta.insert(
        path("request", RB),
        row_with(
            "request",
            RB,
            "beta.example",
            "public",
            TS,
            &request(beta_user),
        )
        .into_bytes(),
    );
    s.bundle(
        "i-beta-request",
        "format.md References",
        "beta.example's bundle with a request (signed by beta's key, `beta_public_key`)",
        i,
        bundle_by("beta.example", &crate::beta_key(), 1, &beta, None),
        Accept,
    );
    let mut r = users();
    r.insert(
        path("comment", C1),
        row("comment", C1, &comment(RB, U2)).into_bytes(),
    );
    s.bundle(
        "i-reference-held",
        "format.md References",
        "a comment on a request the importer holds (beta's) is accepted",
        i,
        bundle(&r),
        Accept,
    )
    .requires = vec!["i-beta-request".into()];
    s.bundle(
        "i-reference-unknown-request",
        "format.md References",
        "a comment on a request neither in the bundle nor held is refused",
        i,
        bundle(&r),
        Refuse("unknown-reference"),
    );
    let mut r = users();
    r.insert(
        path("vouch", V1),
        row("vouch", V1, &vouch(INSTANCE, U1, BETA_USER)).into_bytes(),
    );
    s.bundle(
        "i-reference-held-subject",
        "format.md References",
        "a vouch for a user the importer holds (beta's) is accepted",
        i,
        bundle(&r),
        Accept,
    )
    .requires = vec!["i-beta-request".into()];
    s.bundle(
        "i-reference-unknown-subject",
        "format.md References",
        "a vouch for a user neither in the bundle nor held is refused",
        i,
        bundle(&r),
        Refuse("unknown-reference"),
    );
}

// ---------------------------------------------------------------- key rotations

/// Rotation test key `n` (fixed seed; key ids `wbrot00<n>`).
fn rot_key(n: u8) -> SigningKey {
    SigningKey::from_seed(
        wb_crypto::KeyId::from_bytes([b'w', b'b', b'r', b'o', b't', b'0', b'0', b'0' + n]),
        &[0x50 + n; 32],
    )
}

/// A key's one-line form.
fn one_line(key: &SigningKey) -> String {
    key.public_key().to_minisign_base64()
}

/// The key id as `docs/keys.md` shows it, computed from the one-line form
/// as an implementation of the docs would: bytes 2..10, read as a
/// little-endian u64, 16 upper-case hex digits.
fn shown_key_id(line: &str) -> String {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line)
        .unwrap_or_default();
    let mut id = [0u8; 8];
    id.copy_from_slice(&raw[2..10]);
    format!("{:016X}", u64::from_le_bytes(id))
}

/// The statement "`instance` rotates from `from` to `to`" (one-line forms),
/// signed by `signer` with the trusted comment `comment` (default: the
/// right one), built from `docs/keys.md` alone.
fn statement_text(
    instance: &str,
    from: &str,
    to: &str,
    signer: &SigningKey,
    comment: Option<&str>,
) -> String {
    let right = format!(
        "rotate instance={instance} from={} to={}",
        shown_key_id(from),
        shown_key_id(to)
    );
    let sig = sign_with(
        signer,
        format!("{to}\n").as_bytes(),
        comment.unwrap_or(&right),
    );
    format!("from: {from}\nto: {to}\n{sig}")
}

/// The statement of `instance` rotating from `old` to `new`, signed by
/// `old`.
fn statement(instance: &str, old: &SigningKey, new: &SigningKey) -> String {
    statement_text(instance, &one_line(old), &one_line(new), old, None)
}

/// A chain: statements separated by one empty line.
fn chain(statements: &[String]) -> String {
    statements.join("\n")
}

/// The rows of the rotation bundles: no vouch (a vouch is signed by the
/// key of the bundle, which differs from case to case).
fn rotation_rows() -> Files {
    users_and("request", R1, &request(U1))
}

/// A bundle of alpha signed by `key`, carrying `chain` as
/// `key-rotations.txt` (none with `None`).
fn rotated(key: &SigningKey, chain: Option<&[u8]>) -> Files {
    let mut files = bundle_by(INSTANCE, key, 1, &rotation_rows(), None);
    if let Some(chain) = chain {
        files.insert("key-rotations.txt".into(), chain.to_vec());
    }
    files
}

/// `text` with one character of line `line` (0-based) of statement text
/// changed (a base64 line: the signature no longer verifies).
fn flip_line(text: &str, line: usize) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut c: Vec<char> = lines[line].chars().collect();
    c[20] = if c[20] == 'A' { 'B' } else { 'A' };
    lines[line] = c.into_iter().collect();
    lines.join("\n")
}

/// `chain` with its first statement's untrusted comment replaced so that
/// the whole text has exactly `size` bytes.
fn padded_chain(chain: &str, size: usize) -> String {
    let prefix = "untrusted comment: ";
    let at = chain.find(prefix).unwrap_or_default() + prefix.len();
    let end = at + chain[at..].find('\n').unwrap_or_default();
    let fixed = chain.len() - (end - at);
    format!(
        "{}{}{}",
        &chain[..at],
        "x".repeat(size - fixed),
        &chain[end..]
    )
}

fn rotation_cases(s: &mut Suite) {
    let v = Layer::Verify;
    let sec = "keys.md Key rotation";
    let p = test_key();
    let (x, k1, k2, k3) = (rot_key(0), rot_key(1), rot_key(2), rot_key(3));
    let p_to_k1 = statement(INSTANCE, &p, &k1);
    let k1_to_k2 = statement(INSTANCE, &k1, &k2);
    let x_to_p = statement(INSTANCE, &x, &p);
    let one = chain(std::slice::from_ref(&p_to_k1));
    let ok = |s: &mut Suite, id: &str, rule: &str, files: Files| {
        s.bundle(id, sec, rule, v, files, Accept);
    };
    let bad = |s: &mut Suite, id: &str, rule: &str, files: Files| {
        s.bundle(id, sec, rule, v, files, Refuse("bad-key-rotation"));
    };

    ok(
        s,
        "r-valid-one-rotation",
        "a chain of one statement leads from the pinned key to Public-Key",
        rotated(&k1, Some(one.as_bytes())),
    );
    ok(
        s,
        "r-valid-two-rotations",
        "a chain of two statements, each from the key the previous one rotated to",
        rotated(
            &k2,
            Some(chain(&[p_to_k1.clone(), k1_to_k2.clone()]).as_bytes()),
        ),
    );
    ok(
        s,
        "r-valid-pin-intermediate",
        "statements before the one from the pinned key are ignored (the pin is an intermediate key)",
        rotated(
            &k1,
            Some(chain(&[x_to_p.clone(), p_to_k1.clone()]).as_bytes()),
        ),
    );
    ok(
        s,
        "r-valid-earlier-statement-unverified",
        "statements before the one from the pinned key are not verified (here its S1 is altered)",
        rotated(
            &k1,
            Some(chain(&[flip_line(&x_to_p, 3), p_to_k1.clone()]).as_bytes()),
        ),
    );
    ok(
        s,
        "r-valid-chain-ends-at-pin",
        "a bundle signed by the pinned key may carry a chain ending at it",
        rotated(&p, Some(x_to_p.as_bytes())),
    );
    ok(
        s,
        "r-valid-any-untrusted-comment",
        "a statement's untrusted comment may be any text",
        rotated(
            &k1,
            Some(
                rep(
                    &one,
                    "untrusted comment: signature from wb sync instance key",
                    "untrusted comment: anything at all",
                )
                .as_bytes(),
            ),
        ),
    );
    let limit = 256 * 1024;
    ok(
        s,
        "r-valid-at-limit",
        "a key-rotations.txt of exactly 256 KiB (262,144 bytes) is read",
        rotated(&k1, Some(padded_chain(&one, limit).as_bytes())),
    );
    s.bundle(
        "r-too-large",
        "format.md §5",
        "key-rotations.txt is at most 256 KiB, checked before it is read (here: 262,145 bytes)",
        Layer::Format,
        rotated(&k1, Some(padded_chain(&one, limit + 1).as_bytes())),
        Refuse("too-large"),
    );
    s.bundle(
        "r-no-chain",
        "keys.md Following a chain",
        "a bundle signed by another key than the pinned one must carry a chain (none: refused)",
        v,
        rotated(&k1, None),
        Refuse("key-mismatch"),
    );

    bad(
        s,
        "r-statement-s1-altered",
        "a statement's S1 verifies over BLAKE2b-512 of the new key's line and LF",
        rotated(&k1, Some(flip_line(&one, 3).as_bytes())),
    );
    bad(
        s,
        "r-statement-s2-altered",
        "a statement's S2 verifies over S1 and its trusted comment",
        rotated(&k1, Some(flip_line(&one, 5).as_bytes())),
    );
    bad(
        s,
        "r-statement-signed-by-new-key",
        "a statement is signed by the key it rotates from (here by the new key)",
        rotated(
            &k1,
            Some(statement_text(INSTANCE, &one_line(&p), &one_line(&k1), &k1, None).as_bytes()),
        ),
    );
    bad(
        s,
        "r-not-from-pin",
        "the chain leads from the pinned key (here from a key never pinned)",
        rotated(&k1, Some(statement(INSTANCE, &x, &k1).as_bytes())),
    );
    bad(
        s,
        "r-ends-elsewhere",
        "the chain ends at Public-Key (here the bundle is signed by a later key)",
        rotated(&k2, Some(one.as_bytes())),
    );
    bad(
        s,
        "r-ends-elsewhere-pinned-key",
        "a chain, when present, ends at Public-Key whatever the pin (here the bundle is signed by the pinned key)",
        rotated(&p, Some(one.as_bytes())),
    );
    bad(
        s,
        "r-other-instance",
        "the statements name the bundle's instance",
        rotated(&k1, Some(statement("beta.example", &p, &k1).as_bytes())),
    );
    bad(
        s,
        "r-instances-differ",
        "every statement names the same instance",
        rotated(
            &k2,
            Some(chain(&[p_to_k1.clone(), statement("beta.example", &k1, &k2)]).as_bytes()),
        ),
    );
    bad(
        s,
        "r-broken",
        "statement n+1 rotates from the key statement n rotated to",
        rotated(
            &k3,
            Some(chain(&[p_to_k1.clone(), statement(INSTANCE, &k2, &k3)]).as_bytes()),
        ),
    );
    bad(
        s,
        "r-repeated-key",
        "no key appears twice in a chain",
        rotated(
            &p,
            Some(chain(&[p_to_k1.clone(), statement(INSTANCE, &k1, &p)]).as_bytes()),
        ),
    );
    let wrong_to = format!(
        "rotate instance={INSTANCE} from={} to={}",
        shown_key_id(&one_line(&p)),
        shown_key_id(&one_line(&k2))
    );
    bad(
        s,
        "r-comment-wrong-key-id",
        "the trusted comment names the two key ids (here another to=, validly signed)",
        rotated(
            &k1,
            Some(
                statement_text(INSTANCE, &one_line(&p), &one_line(&k1), &p, Some(&wrong_to))
                    .as_bytes(),
            ),
        ),
    );
    let extra = format!(
        "rotate instance={INSTANCE} from={} to={} at=now",
        shown_key_id(&one_line(&p)),
        shown_key_id(&one_line(&k1))
    );
    bad(
        s,
        "r-comment-extra-field",
        "the trusted comment is exactly rotate instance=… from=… to=…",
        rotated(
            &k1,
            Some(
                statement_text(INSTANCE, &one_line(&p), &one_line(&k1), &p, Some(&extra))
                    .as_bytes(),
            ),
        ),
    );
    bad(
        s,
        "r-from-prefix",
        "line 1 of a statement is `from: <key>`",
        rotated(&k1, Some(rep(&one, "from: ", "From: ").as_bytes())),
    );
    bad(
        s,
        "r-key-not-canonical",
        "keys are written in their one canonical form (here with a space more)",
        rotated(&k1, Some(rep(&one, "to: ", "to:  ").as_bytes())),
    );
    // The identity point: a key of small order, signed for by the pin.
    let weak = {
        let mut bytes = b"Ed".to_vec();
        bytes.extend_from_slice(b"wbweak!!");
        let mut point = [0u8; 32];
        point[0] = 1;
        bytes.extend_from_slice(&point);
        key_line(&bytes)
    };
    bad(
        s,
        "r-weak-key",
        "keys in a statement are valid, strong keys (here `to` is a point of small order)",
        rotated(
            &k1,
            Some(statement_text(INSTANCE, &one_line(&p), &weak, &p, None).as_bytes()),
        ),
    );
    bad(
        s,
        "r-crlf",
        "lines end in LF only",
        rotated(&k1, Some(one.replace('\n', "\r\n").as_bytes())),
    );
    bad(
        s,
        "r-two-empty-lines",
        "statements are separated by exactly one empty line",
        rotated(&k2, Some(format!("{p_to_k1}\n\n{k1_to_k2}").as_bytes())),
    );
    bad(
        s,
        "r-no-separator",
        "statements are separated by an empty line",
        rotated(&k2, Some(format!("{p_to_k1}{k1_to_k2}").as_bytes())),
    );
    bad(
        s,
        "r-trailing-empty-line",
        "the file ends with the last statement's LF (no empty line after it)",
        rotated(&k1, Some(format!("{one}\n").as_bytes())),
    );
    bad(
        s,
        "r-no-final-newline",
        "the last statement ends with LF",
        rotated(&k1, Some(one.trim_end_matches('\n').as_bytes())),
    );
    let five: Vec<&str> = one.split_inclusive('\n').take(5).collect();
    bad(
        s,
        "r-five-lines",
        "a statement is six lines",
        rotated(&k1, Some(five.concat().as_bytes())),
    );
    let mut not_utf8 = rep(&one, "signature from", "signature\u{1}from").into_bytes();
    if let Some(b) = not_utf8.iter_mut().find(|b| **b == 1) {
        *b = 0xff;
    }
    bad(
        s,
        "r-not-utf8",
        "a chain is UTF-8 text",
        rotated(&k1, Some(not_utf8.as_slice())),
    );
    bad(
        s,
        "r-empty",
        "a chain holds at least one statement (no rotation: no key-rotations.txt)",
        rotated(&p, Some(b"".as_slice())),
    );
}

// ---------------------------------------------------------------- special entries

fn special_entry_cases(s: &mut Suite) {
    let f = Layer::Format;
    let sec = "format.md §1";
    let full = bundle(&full_rows());
    let u2 = path("user", U2);

    // Symbolic links, stored in git as links. Each points at the right
    // bytes, kept in a top-level dot-entry (skipped by readers): a reader
    // that follows links would accept the bundle.
    let link_case = |s: &mut Suite, id: &str, rule: &str, name: &str, hidden: &str| {
        let mut files = full.clone();
        let bytes = files.remove(name).unwrap_or_default();
        files.insert(hidden.to_owned(), bytes);
        let depth = name.matches('/').count();
        let target = format!("{}{hidden}", "../".repeat(depth));
        s.bundle(id, sec, rule, f, files, Refuse("unsafe-path"))
            .links = vec![(name.to_owned(), target)];
    };
    link_case(
        s,
        "b-symlink-row-file",
        "no symbolic links: a row file that is a link",
        &u2,
        ".row",
    );
    link_case(
        s,
        "b-symlink-manifest",
        "manifest.sync.txt is a regular file, not a link",
        "manifest.sync.txt",
        ".manifest",
    );
    link_case(
        s,
        "b-symlink-signature",
        "bundle.sig is a regular file, not a link",
        "bundle.sig",
        ".sig",
    );
    let mut files = rotated(&rot_key(1), None);
    files.insert(
        ".rotations".into(),
        statement(INSTANCE, &test_key(), &rot_key(1)).into_bytes(),
    );
    s.bundle(
        "b-symlink-key-rotations",
        sec,
        "key-rotations.txt is a regular file, not a link",
        f,
        files,
        Refuse("unsafe-path"),
    )
    .links = vec![("key-rotations.txt".into(), ".rotations".into())];
    let mut files = full.clone();
    let user_files: Vec<String> = files
        .keys()
        .filter(|k| k.starts_with("user/"))
        .cloned()
        .collect();
    for name in user_files {
        let bytes = files.remove(&name).unwrap_or_default();
        files.insert(format!(".{name}"), bytes);
    }
    s.bundle(
        "b-symlink-entity-dir",
        sec,
        "no symbolic links: an entity directory that is a link",
        f,
        files,
        Refuse("unsafe-path"),
    )
    .links = vec![("user".into(), ".user".into())];
    s.bundle(
        "b-symlink-dangling",
        sec,
        "no symbolic links, even dangling ones",
        f,
        full.clone(),
        Refuse("unsafe-path"),
    )
    .links = vec![(path("user", U3), "nowhere".into())];
    s.bundle(
        "b-valid-dot-link",
        sec,
        "a top-level dot-entry may be a link (skipped, not followed)",
        Layer::Verify,
        full.clone(),
        Accept,
    )
    .links = vec![(".cache".into(), "nowhere".into())];
    s.bundle(
        "b-valid-through-link",
        sec,
        "the bundle directory itself may be reached through a link (to b-valid-full)",
        Layer::Verify,
        Files::new(),
        Accept,
    )
    .links = vec![(String::new(), "b-valid-full".into())];

    // Entries git cannot store: the runner makes them (`create`).
    let mut files = full.clone();
    files.remove(&u2);
    s.bundle(
        "b-fifo-row-file",
        sec,
        "a listed row file is a regular file (here a FIFO: a reader must not open it)",
        f,
        files.clone(),
        Refuse("unsafe-path"),
    )
    .create = vec![(u2.clone(), "fifo")];
    s.bundle(
        "b-dir-row-file",
        sec,
        "a listed row file is a regular file (here an empty directory)",
        f,
        files,
        Refuse("unsafe-path"),
    )
    .create = vec![(u2, "dir")];
    let mut files = full.clone();
    files.remove("manifest.sync.txt");
    s.bundle(
        "b-socket-manifest",
        sec,
        "manifest.sync.txt is a regular file (here a socket)",
        f,
        files,
        Refuse("unsafe-path"),
    )
    .create = vec![("manifest.sync.txt".into(), "socket")];
    let mut files = full.clone();
    files.remove("bundle.sig");
    s.bundle(
        "b-fifo-signature",
        sec,
        "bundle.sig is a regular file (here a FIFO: a reader must not open it)",
        f,
        files,
        Refuse("unsafe-path"),
    )
    .create = vec![("bundle.sig".into(), "fifo")];
    s.bundle(
        "b-socket-top",
        sec,
        "nothing else at the top (here a socket)",
        f,
        full.clone(),
        Refuse("unsafe-path"),
    )
    .create = vec![("socket".into(), "socket")];
    s.bundle(
        "b-valid-dot-fifo",
        sec,
        "a top-level dot-entry may be of any type (here a FIFO, skipped)",
        Layer::Verify,
        full,
        Accept,
    )
    .create = vec![(".fifo".into(), "fifo")];
    s.bundle(
        "b-valid-empty-entity-dir",
        sec,
        "an entity directory with no files is accepted (here request/, empty)",
        Layer::Verify,
        bundle(&users()),
        Accept,
    )
    .create = vec![("request".into(), "dir")];
}

// ---------------------------------------------------------------- limits

/// A user row of exactly `size` bytes (its bio padded), syntactically
/// valid (the bio is over the text rules' 64 KiB: only for syntax cases
/// and the reader's size check).
fn row_of_size(size: usize) -> String {
    let at = |n: usize| row("user", U3, &json!({"bio": "x".repeat(n)}));
    let base = at(0).len();
    at(size - base)
}

fn limit_cases(s: &mut Suite) {
    let mib = 1024 * 1024;
    s.file(
        "f-size-at-limit",
        "format.md §5",
        "a row file of exactly 1 MiB (1,048,576 bytes) is read",
        row_of_size(mib),
        Accept,
    );
    let over = row_of_size(mib + 1);
    s.file(
        "f-size-over-limit",
        "format.md §5",
        "a row file is at most 1 MiB (here 1,048,577 bytes)",
        over.clone(),
        Refuse("too-large"),
    );
    let mut rows = users();
    rows.insert(path("user", U3), over.into_bytes());
    s.bundle(
        "b-row-too-large",
        "format.md §5",
        "a listed row file is at most 1 MiB, refused from its listed length before it is read",
        Layer::Format,
        bundle(&rows),
        Refuse("too-large"),
    );

    let pk = test_public_key();
    s.manifest(
        "m-valid-key-1024",
        "format.md §4",
        "a Public-Key of 1024 characters is read (the format checks only alphabet and length)",
        rep(
            &manifest_text(INSTANCE, &pk, "1", &full_rows()),
            &pk,
            &"A".repeat(1024),
        ),
        Accept,
    );

    let longest = format!("instance={} sequence=9223372036854775807", "a".repeat(253));
    assert_eq!(longest.len(), 291);
    s.trusted_comment(
        "t-valid-longest",
        "the longest trusted comment of a bundle (291 bytes: a 253-character instance, sequence 2^63-1)",
        &longest,
        Accept,
    );
    let tail = " sequence=1";
    let over = format!("instance={}{tail}", "a".repeat(8174 - 9 - tail.len()));
    assert_eq!(over.len(), 8174);
    s.trusted_comment(
        "t-over-8173",
        "a trusted comment is at most 8173 bytes (here 8174)",
        &over,
        Refuse("bad-signature"),
    );

    // The first base64 character after `RW` comes from the key id's first
    // two bits: RWQ, RWR (the test key), RWS, RWT.
    for (id, first, seed) in [
        ("k-prefix-rwq", 0x00u8, 0x61u8),
        ("k-prefix-rws", 0x80, 0x62),
        ("k-prefix-rwt", 0xc0, 0x63),
    ] {
        let key = SigningKey::from_seed(
            wb_crypto::KeyId::from_bytes([first, 1, 2, 3, 4, 5, 6, 7]),
            &[seed; 32],
        );
        let file = key.public_key().to_minisign_file();
        let prefix = id.trim_start_matches("k-prefix-").to_uppercase();
        assert!(file.lines().nth(1).unwrap_or_default().starts_with(&prefix));
        s.public_key(
            id,
            &format!("a public key may start {prefix} (the key id's first bits)"),
            file,
            Accept,
        );
    }
}
