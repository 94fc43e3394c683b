//! The suite covers every rule: each rule id stated in `docs/format.md`
//! and `docs/keys.md` (the refusal codes of §7 and the limits of §5), and
//! each refusal code the code base can produce, has at least one accepting
//! and one refusing case in `fixtures/conformance/index.json` — or the
//! registry (`index.json`'s `rules`) says why no fixture can show it, and
//! `docs/conformance.md` says so too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn index() -> Value {
    serde_json::from_str(&read("fixtures/conformance/index.json")).unwrap_or_default()
}

/// A rule id or code: lowercase letters and digits in `-`-separated words.
fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The ids written in backticks in `text`.
fn backticked_ids(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| is_id(t))
        .map(str::to_owned)
        .collect()
}

/// The string literals of `text` that are ids.
fn literal_ids(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|t| is_id(t))
        .map(str::to_owned)
        .collect()
}

/// The codes the docs list: the backticked ids of format.md §7 "Refusal
/// codes", up to the next section.
fn documented_codes() -> BTreeSet<String> {
    let format = read("docs/format.md");
    let start = format
        .find("### Refusal codes")
        .expect("format.md has a Refusal codes section");
    let rest = &format[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    backticked_ids(&rest[..end])
}

/// The limits the docs state: `limit-…` ids in either page.
fn documented_limits() -> BTreeSet<String> {
    let mut text = read("docs/format.md");
    text.push_str(&read("docs/keys.md"));
    backticked_ids(&text)
        .into_iter()
        .filter(|id| id.starts_with("limit-"))
        .collect()
}

/// The body of `pub fn code` in `file`.
fn code_fn_body(file: &str) -> String {
    let text = read(file);
    let start = text
        .find("pub fn code(&self) -> &'static str {")
        .unwrap_or_else(|| panic!("{file} has no `pub fn code`"));
    let rest = &text[start..];
    let end = rest.find("\n    }\n").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// Every code the code base can produce: `ParseErrorKind::code`,
/// `BundleError::code`, and the codes of `Refusal`s made by the engine's
/// verification and import (every kebab-case literal of those files).
fn produced_codes() -> BTreeSet<String> {
    let mut codes = literal_ids(&code_fn_body("crates/wb-syncfmt/src/error.rs"));
    codes.extend(literal_ids(&code_fn_body(
        "crates/wb-syncfmt/src/bundle/mod.rs",
    )));
    for file in [
        "crates/wb-engine/src/sync/verify.rs",
        "crates/wb-engine/src/sync/import.rs",
    ] {
        codes.extend(
            literal_ids(&read(file))
                .into_iter()
                .filter(|id| id.contains('-')),
        );
    }
    codes
}

fn registry(index: &Value) -> Vec<&Value> {
    index["rules"]
        .as_array()
        .expect("index.json lists its rules")
        .iter()
        .collect()
}

#[test]
fn the_docs_list_every_code_the_code_can_produce_and_no_other() {
    let documented = documented_codes();
    let produced = produced_codes();
    assert!(produced.len() >= 50, "{produced:?}");
    let undocumented: Vec<_> = produced.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&produced).collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "codes the code produces that format.md §7 does not list: {undocumented:?}; \
         codes format.md §7 lists that no code produces: {phantom:?}"
    );
}

#[test]
fn the_registry_holds_exactly_the_rules_of_the_docs() {
    let index = index();
    let registered: BTreeSet<String> = registry(&index)
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut stated = documented_codes();
    stated.extend(documented_limits());
    assert!(stated.iter().any(|id| id.starts_with("limit-")));
    let unregistered: Vec<_> = stated.difference(&registered).collect();
    let unstated: Vec<_> = registered.difference(&stated).collect();
    assert!(
        unregistered.is_empty() && unstated.is_empty(),
        "rules of the docs missing from the registry: {unregistered:?}; \
         registered rules the docs do not state: {unstated:?}"
    );
}

#[test]
fn every_rule_has_an_accepting_and_a_refusing_case() {
    let index = index();
    let rules = registry(&index);
    let ids: BTreeSet<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let cases = index["cases"].as_array().expect("index.json lists cases");
    let mut accepted = BTreeSet::new();
    let mut refused = BTreeSet::new();
    let mut problems = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or_default();
        let covered: Vec<&str> = case["rules"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if covered.is_empty() {
            problems.push(format!("{id}: covers no rule"));
        }
        for rule in &covered {
            if !ids.contains(rule) {
                problems.push(format!("{id}: unknown rule {rule}"));
            }
        }
        match case["expected"]["refuse"].as_str() {
            Some(code) => {
                if !covered.contains(&code) {
                    problems.push(format!(
                        "{id}: refused with {code}, a rule it does not list"
                    ));
                }
                refused.extend(covered);
            }
            None => accepted.extend(covered),
        }
    }
    let conformance = read("docs/conformance.md");
    for rule in &rules {
        let id = rule["id"].as_str().unwrap_or_default();
        if rule.get("uncovered").is_some() {
            // No fixture can show it: the docs of the suite say so.
            if !conformance.contains(&format!("`{id}`")) {
                problems.push(format!(
                    "{id}: not covered by cases, and docs/conformance.md does not say so"
                ));
            }
            continue;
        }
        if !accepted.contains(id) {
            problems.push(format!("{id}: no accepting case"));
        }
        if !refused.contains(id) {
            problems.push(format!("{id}: no refusing case"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn docs_conformance_states_the_number_of_cases() {
    let index = index();
    let cases = index["cases"].as_array().map(Vec::len).unwrap_or_default();
    let accepted = index["cases"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["expected"] == "accept").count())
        .unwrap_or_default();
    let text = read("docs/conformance.md").replace('\n', " ");
    assert!(
        text.contains(&format!("There are {cases} cases"))
            && text.contains(&format!("{accepted} are accepted")),
        "docs/conformance.md should say: There are {cases} cases … {accepted} are accepted"
    );
}
