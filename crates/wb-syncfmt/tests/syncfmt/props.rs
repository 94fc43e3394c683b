//! Property tests: generated bodies round-trip, and any text that parses is
//! the one canonical rendering of what it parsed to.

use proptest::prelude::*;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use wb_syncfmt::{EntityKind, Scope, SyncFile};

use crate::sample_file;

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[ -~\u{0}-\u{1f}\u{7f}\u{80}-\u{ff}\u{2028}\u{1F600}]{0,12}".prop_map(Value::String),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z_]{0,8}", "[\u{0}-\u{7f}]{0,4}"]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_body() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(arb_key(), arb_value(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn arb_timestamp() -> impl Strategy<Value = OffsetDateTime> {
    // 0000-01-01 to 9999-12-31, microsecond precision.
    (-62_167_219_200_i64..253_402_300_800_i64, 0_u32..1_000_000).prop_map(|(secs, micros)| {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
            + time::Duration::microseconds(i64::from(micros))
    })
}

fn arb_file() -> impl Strategy<Value = SyncFile> {
    (
        prop::sample::select(EntityKind::ALL.to_vec()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]{1,10}){0,3}",
        arb_timestamp(),
        arb_body(),
    )
        .prop_map(|(entity, id, instance, updated_at, body)| SyncFile {
            entity,
            id,
            instance,
            sync_scope: Scope::Public,
            updated_at,
            body,
            ..sample_file()
        })
}

// 256 cases each by default; set PROPTEST_CASES for a longer run.
proptest! {

    #[test]
    fn render_parse_round_trip(file in arb_file()) {
        let text = file.to_text().unwrap();
        let parsed = SyncFile::parse(text.as_bytes(), "p.sync.txt").unwrap();
        prop_assert_eq!(&parsed, &file);
        prop_assert_eq!(parsed.to_text().unwrap(), text);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does(s in any::<String>()) {
        let mut file = sample_file();
        file.body = Map::new();
        file.body.insert("k".to_owned(), Value::String(s.clone()));
        let text = file.to_text().unwrap();
        let expected = format!("\n{{\n  \"k\": {}\n}}\n", serde_json::to_string(&s).unwrap());
        prop_assert!(text.ends_with(&expected), "{:?} does not end with {:?}", text, expected);
    }

    /// Long strings mixing plain runs (escaped eight bytes at a time) with
    /// quotes, backslashes, control and non-ASCII characters at any offset.
    #[test]
    fn long_strings_are_escaped_as_serde_json_does(
        parts in prop::collection::vec(
            prop_oneof![
                "[a-z ]{0,20}",
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                "[\\x00-\\x1f\\x7f]",
                "[é日🚲]{1,3}",
            ],
            0..40,
        )
    ) {
        let s: String = parts.concat();
        let mut file = sample_file();
        file.body = Map::new();
        file.body.insert("k".to_owned(), Value::String(s.clone()));
        let text = file.to_text().unwrap();
        let expected = format!("\n{{\n  \"k\": {}\n}}\n", serde_json::to_string(&s).unwrap());
        prop_assert!(text.ends_with(&expected), "{:?} does not end with {:?}", text, expected);
    }

    #[test]
    fn whatever_parses_is_canonical(
        file in arb_file(),
        position in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b' '), Just(b'\n'), Just(b'\t'), Just(b'0'), Just(b'"'), Just(b'\\'), Just(b','), any::<u8>()],
        action in 0..3_u8,
    ) {
        let mut bytes = file.to_text().unwrap().into_bytes();
        let at = position.index(bytes.len());
        match action {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ => { bytes.remove(at); }
        }
        if let Ok(parsed) = SyncFile::parse(&bytes, "m.sync.txt")
            && parsed.sync_scope == Scope::Public
        {
            prop_assert_eq!(parsed.to_text().unwrap().into_bytes(), bytes);
        }
    }
}

/// A manifest of the files `ids` (each with one byte of content), as text.
fn manifest_text(ids: &[(u16, u8)], sequence: u64) -> String {
    let mut files: Vec<wb_syncfmt::ManifestEntry> = ids
        .iter()
        .map(|(id, byte)| {
            wb_syncfmt::ManifestEntry::for_bytes(
                format!("user/00000000-0000-4000-8000-{id:012x}.sync.txt"),
                &[*byte],
            )
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    wb_syncfmt::Manifest {
        instance: "alpha.example".to_owned(),
        public_key: "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3".to_owned(),
        schema_version: wb_syncfmt::CURRENT_SCHEMA_VERSION,
        sequence,
        files,
    }
    .to_text()
    .unwrap()
}

/// One edit of a manifest's file lines: some keep it valid, some break it.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u16, u8),
    Remove(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Corrupt(usize),
    Append(u16, u8),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0_u16..64, any::<u8>()).prop_map(|(i, id, b)| Edit::Replace(i, id, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
        any::<usize>().prop_map(Edit::Corrupt),
        (0_u16..64, any::<u8>()).prop_map(|(id, b)| Edit::Append(id, b)),
    ]
}

proptest! {
    /// Parsing with a base gives exactly what parsing alone gives — the
    /// same manifest, or the same error naming the same line — whatever
    /// the edits: in order or not, duplicated, corrupted, at either end.
    #[test]
    fn parsing_with_a_base_is_parsing(
        ids in prop::collection::vec((0_u16..64, any::<u8>()), 0..40),
        edits in prop::collection::vec(arb_edit(), 0..4),
        fix_count in any::<bool>(),
    ) {
        let base_text = manifest_text(&ids, 1);
        let base = wb_syncfmt::Manifest::parse(base_text.as_bytes(), "base").unwrap();
        let new_text = manifest_text(&ids, 2);
        let (headers, body) = new_text.split_at(new_text.find("\n\n").unwrap() + 2);
        let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
        let line_of = |id: u16, byte: u8| {
            let e = wb_syncfmt::ManifestEntry::for_bytes(
                format!("user/00000000-0000-4000-8000-{id:012x}.sync.txt"),
                &[byte],
            );
            format!("{} {} {}", e.sha256_hex(), e.len, e.path)
        };
        for edit in edits {
            let n = lines.len();
            match edit {
                Edit::Replace(i, id, b) if n > 0 => lines[i % n] = line_of(id, b),
                Edit::Remove(i) if n > 0 => {
                    lines.remove(i % n);
                }
                Edit::Duplicate(i) if n > 0 => lines.insert(i % n, lines[i % n].clone()),
                Edit::Swap(i, j) if n > 0 => lines.swap(i % n, j % n),
                Edit::Corrupt(i) if n > 0 => lines[i % n].insert(3, 'x'),
                Edit::Append(id, b) => lines.push(line_of(id, b)),
                _ => {}
            }
        }
        let mut headers = headers.to_owned();
        if fix_count {
            let count = headers.lines().nth(5).unwrap().to_owned();
            headers = headers.replace(&count, &format!("Files: {}", lines.len()));
        }
        let mut text = headers;
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        let alone = wb_syncfmt::Manifest::parse_with_limit(text.as_bytes(), "m", 1 << 20)
            .map_err(|e| e.to_string());
        let with_base = wb_syncfmt::Manifest::parse_with_base(
            text.as_bytes(),
            "m",
            1 << 20,
            &base,
            base_text.as_bytes(),
        )
        .map_err(|e| e.to_string());
        prop_assert_eq!(with_base, alone);
    }
}
