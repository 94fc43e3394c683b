//! The examples of `docs/format.md` are what they claim: the row files
//! parse, the manifests parse, and the manifest example lists the §2
//! example with its true length and SHA-256. (wb-engine's conformance test
//! checks that the row examples form a bundle an importer accepts.)

use std::path::Path;

use wb_syncfmt::{Manifest, SyncFile, sha256_hex};

/// The fenced code blocks of `docs/format.md` whose first line starts with
/// `prefix`, each as the text of its lines, each ending in LF.
pub fn doc_blocks(prefix: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/format.md"))
            .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
        .into_iter()
        .filter(|b| b.starts_with(prefix))
        .collect()
}

#[test]
fn the_row_examples_parse() {
    let rows = doc_blocks("Entity: ");
    assert_eq!(
        rows.len(),
        2,
        "the request of §2 and the user of Entity bodies"
    );
    for row in &rows {
        let file = SyncFile::parse(row.as_bytes(), "docs/format.md").unwrap();
        assert_eq!(file.to_text().unwrap(), *row, "the example is canonical");
    }
}

#[test]
fn the_manifest_examples_parse_and_list_the_row_example() {
    let manifests = doc_blocks("Format: wb-sync-manifest");
    assert_eq!(
        manifests.len(),
        2,
        "the example of §4 and the empty bundle's"
    );
    let row = &doc_blocks("Entity: request")[0];
    let listed = Manifest::parse(manifests[0].as_bytes(), "manifest.sync.txt").unwrap();
    assert_eq!(listed.files.len(), 1);
    let entry = &listed.files[0];
    assert_eq!(
        (entry.path.as_str(), entry.len, entry.sha256_hex()),
        (
            "request/01936f3e-5c1a-7b2e-9a4d-2f0c1e8b7a65.sync.txt",
            row.len() as u64,
            sha256_hex(row.as_bytes())
        )
    );
    let empty = Manifest::parse(manifests[1].as_bytes(), "manifest.sync.txt").unwrap();
    assert!(empty.files.is_empty());
    assert!(manifests[1].ends_with("Files: 0\n\n"));
    assert_eq!(empty.to_text().unwrap(), manifests[1]);
}
