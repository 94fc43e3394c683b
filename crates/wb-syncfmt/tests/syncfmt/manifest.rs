//! Rendering and parsing manifests.

use wb_syncfmt::{CURRENT_SCHEMA_VERSION, Manifest, ManifestEntry, sha256_hex};

const USER: &str = "user/01936f3e-0000-7000-8000-000000000001.sync.txt";
const REQUEST: &str = "request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt";
const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

fn sample_manifest() -> Manifest {
    Manifest {
        instance: "alpha.example".to_owned(),
        public_key: KEY.to_owned(),
        schema_version: CURRENT_SCHEMA_VERSION,
        sequence: 42,
        files: vec![
            ManifestEntry::for_bytes(REQUEST.to_owned(), b"request bytes"),
            ManifestEntry::for_bytes(USER.to_owned(), b"user bytes"),
        ],
    }
}

fn sample_text() -> String {
    format!(
        "Format: wb-sync-manifest\nInstance: alpha.example\nPublic-Key: {KEY}\nSchema-Version: 1\nSequence: 42\nFiles: 2\n\n{} 13 {REQUEST}\n{} 10 {USER}\n",
        sha256_hex(b"request bytes"),
        sha256_hex(b"user bytes"),
    )
}

#[test]
fn renders_the_documented_text_and_parses_back() {
    let text = sample_manifest().to_text().unwrap();
    assert_eq!(text, sample_text());
    let parsed = Manifest::parse(text.as_bytes(), "manifest.sync.txt").unwrap();
    assert_eq!(parsed, sample_manifest());
    assert_eq!(parsed.files[0].sha256_hex(), sha256_hex(b"request bytes"));
}

#[test]
fn empty_manifest_round_trips() {
    let mut manifest = sample_manifest();
    manifest.files.clear();
    let text = manifest.to_text().unwrap();
    assert!(text.ends_with("Files: 0\n\n"), "{text:?}");
    assert_eq!(Manifest::parse(text.as_bytes(), "m").unwrap(), manifest);
}

/// Applies `edit` to the sample text and checks the parse error contains
/// `expected`.
fn check_manifest(edit: impl FnOnce(String) -> String, expected: &str) {
    let text = edit(sample_text());
    match Manifest::parse(text.as_bytes(), "manifest.sync.txt") {
        Ok(_) => panic!("parsed, but expected an error containing {expected:?}:\n{text}"),
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.starts_with("manifest.sync.txt:") && message.contains(expected),
                "{message:?} does not contain {expected:?}"
            );
        }
    }
}

/// A change to the sample manifest text.
type TextEdit = Box<dyn FnOnce(String) -> String>;

#[test]
fn malformed_manifests_are_refused_with_line_numbers() {
    let req_hash = sha256_hex(b"request bytes");
    let cases: Vec<(TextEdit, &str)> = vec![
        (Box::new(|t| t.replace("\n", "\r\n")), ":1: carriage return"),
        (
            Box::new(|t| t.replace("wb-sync-manifest", "wb-sync")),
            ":1: Format \"wb-sync\" is not \"wb-sync-manifest\"",
        ),
        (
            Box::new(|t| t.replace("Instance: alpha.example", "Instance: ALPHA")),
            ":2: Instance \"ALPHA\" is not a valid instance name",
        ),
        (
            Box::new(|t| t.replace(KEY, "RWQ-abc")),
            ":3: Public-Key \"RWQ-abc\" is not a base64 string",
        ),
        (
            Box::new(|t| t.replace("Schema-Version: 1", "Schema-Version: 3")),
            ":4: schema version 3 is newer than this reader supports (1); upgrade wb",
        ),
        (
            Box::new(|t| t.replace("Sequence: 42", "Sequence: 0")),
            ":5: Sequence 0 is invalid",
        ),
        (
            Box::new(|t| t.replace("Sequence: 42", "Sequence: -1")),
            ":5: Sequence \"-1\" is not a number",
        ),
        (
            Box::new(|t| t.replace("Files: 2", "Files: 3")),
            ":6: Files says 3 but 2 file lines follow",
        ),
        (
            Box::new(|t| t.replace("Sequence: 42\nFiles: 2", "Files: 2\nSequence: 42")),
            ":5: header \"Files\" is out of order: expected \"Sequence\"",
        ),
        (
            Box::new(|t| t.replace("Files: 2\n\n", "Files: 2\n")),
            ":7: expected an empty line after the headers",
        ),
        (
            Box::new(|t| t.trim_end().to_owned()),
            ":9: missing newline at the end of the file",
        ),
        (
            Box::new(|t| t + "\n"),
            ":10: expected \"<sha256 hex> <length> <path>\": empty line",
        ),
        (
            Box::new(|t| t.replace(" 13 ", " 013 ")),
            ":8: expected \"<sha256 hex> <length> <path>\": the length must be a decimal number",
        ),
        (
            Box::new(move |t| t.replace(&req_hash, &req_hash.to_uppercase())),
            ":8: expected \"<sha256 hex> <length> <path>\": the SHA-256 must be 64 lowercase hex digits",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "../request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            ":8: path \"../request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt\" is not allowed",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "request/../01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            "\"..\" segments are not allowed",
        ),
        (
            Box::new(|t| t.replace(REQUEST, "/etc/passwd")),
            ":8: path \"/etc/passwd\" is not allowed: absolute paths",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "request\\01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            "backslashes are not allowed",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "request//01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            "empty path segments are not allowed",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "post/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            "the directory is not an entity",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "request/01936F3E-5C1A-7B2E-9A4D-2F0C1E8B7A65.sync.txt",
                )
            }),
            "a file name is <lowercase uuid>.sync.txt",
        ),
        (
            Box::new(|t| {
                t.replace(
                    REQUEST,
                    "request/sub/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
                )
            }),
            "a file path is <entity>/<uuid>.sync.txt",
        ),
        (
            Box::new(|t| {
                let mut lines: Vec<&str> = t.lines().collect();
                lines.swap(7, 8);
                lines.join("\n") + "\n"
            }),
            ":9: path \"request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt\" is not sorted after \"user/",
        ),
        (
            Box::new(|t| t.replace(USER, REQUEST)),
            ":9: path \"request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt\" is listed twice",
        ),
    ];
    for (edit, expected) in cases {
        check_manifest(edit, expected);
    }
}

#[test]
fn writer_refuses_invalid_manifests() {
    let mut m = sample_manifest();
    m.files.reverse();
    assert!(m.to_text().unwrap_err().to_string().contains("not sorted"));
    let mut m = sample_manifest();
    m.sequence = 0;
    assert!(m.to_text().unwrap_err().to_string().contains("Sequence 0"));
    let mut m = sample_manifest();
    m.public_key = "not a key".to_owned();
    assert!(m.to_text().unwrap_err().to_string().contains("Public-Key"));
    let mut m = sample_manifest();
    m.files[0].path = "../x".to_owned();
    assert!(
        m.to_text()
            .unwrap_err()
            .to_string()
            .contains("is not allowed")
    );
}
