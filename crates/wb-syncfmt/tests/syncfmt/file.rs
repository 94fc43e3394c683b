//! Rendering and parsing single `.sync.txt` files.

use serde_json::json;
use time::macros::datetime;
use wb_syncfmt::{
    CURRENT_SCHEMA_VERSION, EntityKind, ParseErrorKind, Scope, SyncFile, WriteError, sha256_hex,
};

use crate::{object, sample_file};

const SAMPLE_TEXT: &str = "\
Entity: request
ID: 01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65
Instance: alpha.example
Schema-Version: 1
Sync-Scope: public
Updated-At: 2026-11-24T10:00:00.000000Z

{
  \"author_id\": \"01936f3e-0000-7000-8000-000000000001\",
  \"status\": \"open\",
  \"title\": \"A ladder for the orchard\"
}
";

#[test]
fn renders_the_documented_text() {
    assert_eq!(sample_file().to_text().unwrap(), SAMPLE_TEXT);
    assert_eq!(
        sample_file().relative_path(),
        "request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt"
    );
}

#[test]
fn render_then_parse_gives_the_same_file() {
    let file = sample_file();
    let parsed = SyncFile::parse(file.to_text().unwrap().as_bytes(), "x").unwrap();
    assert_eq!(parsed, file);
}

#[test]
fn nested_values_are_laid_out_one_per_line() {
    let mut file = sample_file();
    file.body = object(json!({
        "b": [1, [], {}, {"y": null, "x": true}],
        "a": {"inner": [-5, "s"]},
    }));
    let text = file.to_text().unwrap();
    let body = text.split_once("\n\n").unwrap().1;
    assert_eq!(
        body,
        "{\n  \"a\": {\n    \"inner\": [\n      -5,\n      \"s\"\n    ]\n  },\n  \"b\": [\n    1,\n    [],\n    {},\n    {\n      \"x\": true,\n      \"y\": null\n    }\n  ]\n}\n"
    );
    assert_eq!(SyncFile::parse(text.as_bytes(), "x").unwrap(), file);
}

#[test]
fn changing_one_field_changes_one_line() {
    let before = sample_file();
    let mut after = sample_file();
    after.body.insert("status".to_owned(), json!("fulfilled"));
    let before = before.to_text().unwrap();
    let after = after.to_text().unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    assert_eq!(
        changed,
        vec![("  \"status\": \"open\",", "  \"status\": \"fulfilled\",")]
    );
}

#[test]
fn changing_updated_at_changes_one_line() {
    let before = sample_file();
    let mut after = sample_file();
    after.updated_at = datetime!(2026-11-25 08:30:00.000123 UTC);
    let before = before.to_text().unwrap();
    let after = after.to_text().unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![(
            "Updated-At: 2026-11-24T10:00:00.000000Z",
            "Updated-At: 2026-11-25T08:30:00.000123Z"
        )]
    );
}

#[test]
fn updated_at_in_another_offset_is_written_as_utc() {
    let mut file = sample_file();
    file.updated_at = datetime!(2026-11-24 12:00 +02:00);
    assert!(
        file.to_text()
            .unwrap()
            .contains("\nUpdated-At: 2026-11-24T10:00:00.000000Z\n")
    );
}

#[test]
fn private_file_parses_but_is_never_written() {
    let text = SAMPLE_TEXT.replace("Sync-Scope: public", "Sync-Scope: private");
    let file = SyncFile::parse(text.as_bytes(), "x").unwrap();
    assert_eq!(file.sync_scope, Scope::Private);
    let err = file.to_text().unwrap_err();
    assert!(matches!(err, WriteError::PrivateScope { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refusing to write request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt: Sync-Scope is private"
    );
}

fn write_error(change: impl FnOnce(&mut SyncFile)) -> String {
    let mut file = sample_file();
    change(&mut file);
    file.to_text().unwrap_err().to_string()
}

/// A change to the sample file.
type FileEdit = Box<dyn FnOnce(&mut SyncFile)>;

#[test]
fn writer_refuses_invalid_fields() {
    let cases: Vec<(FileEdit, &str)> = vec![
        (
            Box::new(|f| f.id = "../../etc/passwd".to_owned()),
            "ID \"../../etc/passwd\" is not a lowercase hyphenated UUID",
        ),
        (
            Box::new(|f| f.instance = "Alpha".to_owned()),
            "Instance \"Alpha\" is not a valid instance name",
        ),
        (
            Box::new(|f| f.instance = String::new()),
            "Instance \"\" is not a valid instance name",
        ),
        (
            Box::new(|f| f.schema_version = 2),
            "cannot write schema version 2; this writer writes version 1",
        ),
        (
            Box::new(|f| f.updated_at = datetime!(2026-11-24 10:00:00.000000001 UTC)),
            "sub-microsecond precision (1 ns)",
        ),
        (
            Box::new(|f| {
                f.body
                    .insert("price".to_owned(), json!({"amount": [1, 2.5]}));
            }),
            "body field \"/price/amount/1\" is a float (2.5); only integers are allowed",
        ),
    ];
    for (change, expected) in cases {
        let message = write_error(change);
        assert!(
            message.contains(expected),
            "{message:?} does not contain {expected:?}"
        );
    }
}

#[test]
fn file_over_the_size_limit_is_refused_before_parsing() {
    let mut file = sample_file();
    file.body
        .insert("title".to_owned(), json!("x".repeat(2 * 1024 * 1024)));
    let text = file.to_text().unwrap();
    let err = SyncFile::parse(text.as_bytes(), "big.sync.txt").unwrap_err();
    assert_eq!(err.line(), None);
    assert!(matches!(
        err.kind(),
        ParseErrorKind::TooLarge {
            limit: 1_048_576,
            ..
        }
    ));
    assert!(
        err.to_string().starts_with("big.sync.txt: file is 2097"),
        "{err}"
    );
    let small = SyncFile::parse_with_limit(SAMPLE_TEXT.as_bytes(), "small", 100).unwrap_err();
    assert!(
        small.to_string().contains("over the limit of 100 bytes"),
        "{small}"
    );
}

#[test]
fn parse_error_exposes_path_line_and_kind() {
    let text = SAMPLE_TEXT.replace("Schema-Version: 1", "Schema-Version: 7");
    let err = SyncFile::parse(text.as_bytes(), "request/x.sync.txt").unwrap_err();
    assert_eq!(err.path(), "request/x.sync.txt");
    assert_eq!(err.line(), Some(4));
    assert_eq!(
        err.kind(),
        &ParseErrorKind::SchemaVersionTooNew {
            found: 7,
            supported: CURRENT_SCHEMA_VERSION
        }
    );
    assert_eq!(
        err.to_string(),
        "request/x.sync.txt:4: schema version 7 is newer than this reader supports (1); upgrade wb"
    );
}

#[test]
fn entity_kinds_spell_and_order_as_documented() {
    let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["user", "request", "comment", "invite", "vouch"]);
    for kind in EntityKind::ALL {
        assert_eq!(kind.to_string().parse::<EntityKind>().unwrap(), kind);
    }
    let err = "User".parse::<EntityKind>().unwrap_err();
    assert_eq!(err.name(), "User");
    assert!(err.to_string().contains("unknown entity \"User\""));
    assert_eq!("private".parse::<Scope>().unwrap(), Scope::Private);
    assert_eq!(Scope::Public.to_string(), "public");
    assert!("Public".parse::<Scope>().is_err());
}

#[test]
fn identifier_checks() {
    assert!(wb_syncfmt::is_canonical_uuid(
        "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65"
    ));
    assert!(!wb_syncfmt::is_canonical_uuid(
        "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a6"
    ));
    assert!(!wb_syncfmt::is_canonical_uuid(
        "01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a6g"
    ));
    assert!(!wb_syncfmt::is_canonical_uuid(
        "01936f3e-5c1a-7b2e-9a4d_2f0c1e8b7a65"
    ));
    assert!(wb_syncfmt::is_valid_instance_name("alpha.example"));
    assert!(wb_syncfmt::is_valid_instance_name("1-a"));
    assert!(wb_syncfmt::is_valid_instance_name(&"a".repeat(253)));
    assert!(!wb_syncfmt::is_valid_instance_name(&"a".repeat(254)));
    assert!(!wb_syncfmt::is_valid_instance_name("-a"));
    assert!(!wb_syncfmt::is_valid_instance_name("a_b"));
    assert!(!wb_syncfmt::is_valid_instance_name("a."));
    assert!(!wb_syncfmt::is_valid_instance_name("a..b"));
    for ok in ["a", "0", "ada", "ada_b-2", "a_", "a-", &"a".repeat(32)] {
        assert!(wb_syncfmt::is_valid_username(ok), "{ok:?}");
    }
    for bad in [
        "",
        "_ada",
        "-ada",
        "Ada",
        "a.b",
        "a b",
        "é",
        &"a".repeat(33),
    ] {
        assert!(!wb_syncfmt::is_valid_username(bad), "{bad:?}");
    }
    assert!(wb_syncfmt::is_valid_public_key(
        "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
    ));
    assert!(!wb_syncfmt::is_valid_public_key("RWQ f6"));
    assert!(!wb_syncfmt::is_valid_public_key(""));
}

#[test]
fn sha256_hex_matches_sha256sum() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
