//! The cases and their machine-readable index, `index.json`.

use serde_json::{Map, Value, json};

/// What a case's input is, and so how to check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One row file (`<entity>/<id>.sync.txt`), parsed on its own (§2).
    File,
    /// One `manifest.sync.txt`, parsed on its own (§4).
    Manifest,
    /// A bundle directory, read and checked as an importer does (§7).
    Bundle,
    /// The text of a trusted comment of a bundle signature (`keys.md`).
    TrustedComment,
    /// A minisign public key file (`keys.md`, "Public key").
    PublicKey,
}

impl Kind {
    /// The name in the index.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Manifest => "manifest",
            Kind::Bundle => "bundle",
            Kind::TrustedComment => "trusted-comment",
            Kind::PublicKey => "public-key",
        }
    }
}

/// Which layer of checks decides the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The format alone (no cryptography, no state): syntax, layout,
    /// lengths and hashes (`wb-syncfmt`).
    Format,
    /// Also keys, signatures, bodies and actor origins, with the test key
    /// pinned, no other state (`wb_engine::sync::verify`, `wb-crypto`).
    Verify,
    /// Also the importer's state: sequences applied, rows held, its own
    /// name (`import_bundle` into an empty instance `local.example`).
    Import,
}

impl Layer {
    /// The name in the index.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Format => "format",
            Layer::Verify => "verify",
            Layer::Import => "import",
        }
    }
}

/// The result a conforming implementation gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Accepted.
    Accept,
    /// Refused with this code (`docs/format.md` §7, "Refusal codes").
    Refuse(&'static str),
}

/// One case of the suite.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique id, also the last part of its path.
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// Path relative to the suite directory: a directory for bundles, a
    /// file otherwise.
    pub path: String,
    /// The rule it tests, in words.
    pub rule: String,
    /// The section of the docs stating the rule.
    pub section: &'static str,
    /// The expected result.
    pub expected: Expected,
    /// Which layer decides it.
    pub layer: Layer,
    /// Whether the test key is pinned for the bundle's instance (bundles
    /// only; `false` only for the `key-not-pinned` cases).
    pub pinned: bool,
    /// Cases (bundles) to import, in order, before this one.
    pub requires: Vec<String>,
    /// The case's files, relative to `path` (`""` for a single-file case).
    pub files: Vec<(String, Vec<u8>)>,
    /// The rule ids it covers (`index.json`'s `rules`): the refusal code
    /// of a refusing case and the limits it tests; for an accepting case,
    /// the rules whose accepting side it shows.
    pub rules: Vec<&'static str>,
    /// Symbolic links of the case, relative to `path`, and their targets
    /// (stored in git as links).
    pub links: Vec<(String, String)>,
    /// Entries git cannot store, which a runner creates at test time in a
    /// copy of the case: relative path and type (`fifo`, `socket`, `dir`).
    pub create: Vec<(String, &'static str)>,
}

/// Renders the index: pretty JSON with sorted keys, one case per object.
pub(crate) fn render(cases: &[Case]) -> String {
    let list: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("id".into(), json!(c.id));
            m.insert("kind".into(), json!(c.kind.as_str()));
            m.insert("path".into(), json!(c.path));
            m.insert("rule".into(), json!(c.rule));
            m.insert("section".into(), json!(c.section));
            m.insert(
                "expected".into(),
                match c.expected {
                    Expected::Accept => json!("accept"),
                    Expected::Refuse(code) => json!({ "refuse": code }),
                },
            );
            m.insert("layer".into(), json!(c.layer.as_str()));
            if c.kind == Kind::Bundle {
                m.insert("pinned".into(), json!(c.pinned));
                m.insert("requires".into(), json!(c.requires));
            }
            m.insert("rules".into(), json!(c.rules));
            if !c.links.is_empty() {
                let links: Vec<Value> = c
                    .links
                    .iter()
                    .map(|(path, target)| json!({"path": path, "target": target}))
                    .collect();
                m.insert("links".into(), Value::Array(links));
            }
            if !c.create.is_empty() {
                let create: Vec<Value> = c
                    .create
                    .iter()
                    .map(|(path, kind)| json!({"path": path, "type": kind}))
                    .collect();
                m.insert("create".into(), Value::Array(create));
            }
            Value::Object(m)
        })
        .collect();
    let index = json!({
        "format": "wb-sync-conformance",
        "version": 1,
        "instance": crate::INSTANCE,
        "importer": crate::IMPORTER,
        "public_key": crate::test_public_key(),
        "beta_public_key": crate::beta_key().public_key().to_minisign_base64(),
        "test_key": {
            "seed_hex": hex(&crate::TEST_SEED),
            "key_id_hex": hex(&crate::TEST_KEY_ID),
        },
        "rules": crate::rules::registry_json(),
        "cases": list,
    });
    let mut text = serde_json::to_string_pretty(&index).unwrap_or_default();
    text.push('\n');
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
