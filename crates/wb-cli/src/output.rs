//! What commands print: tables for people, JSON for scripts.
//!
//! Listings never show secrets (emails, invite codes): they are for looking
//! at scopes, and terminals get shared and logged.
//!
//! Field values may come from other instances: every line for people goes
//! through [`escape_control`], so a bio holding `ESC ] 0 ;` or `ESC [ 2 J`
//! is shown as `\x1b]0;…`, never obeyed. JSON is escaped by the
//! [`JsonFormatter`] (serde_json's escapes, plus `DEL` and the C1 controls,
//! which serde_json leaves raw).

use std::collections::HashMap;
use std::io::Write as _;

use anyhow::Result;
use serde_json::{Value, json};
use wb_engine::{Instance, ScopeReport};
use wb_model::text::{escape_control, needs_escape};
use wb_model::{EffectiveScope, EntityKind, Uuid};

pub async fn print_scope_report(instance: &Instance, report: &ScopeReport) -> Result<()> {
    let origin = if report.origin == *instance.name() {
        format!("{} (local)", report.origin)
    } else {
        format!("{} (imported, read-only here)", report.origin)
    };
    // Names and reasons quote rows that may come from other instances.
    let name = named(instance, report.kind, report.id).await?;
    println!("{}", escape_control(&name));
    println!("id:        {}", report.id);
    println!("origin:    {}", escape_control(&origin));
    println!("own scope: {}", report.own);
    println!(
        "effective: {}",
        escape_control(&describe_effective(instance, &report.effective).await?)
    );
    Ok(())
}

/// `wb scope show --json`: one object, the shape documented in
/// docs/privacy.md.
pub async fn print_scope_report_json(instance: &Instance, report: &ScopeReport) -> Result<()> {
    let mut object = serde_json::Map::new();
    object.insert("entity".into(), json!(report.kind.as_str()));
    object.insert("id".into(), json!(report.id));
    object.insert(
        "name".into(),
        json!(instance.describe(report.kind, report.id).await?),
    );
    object.insert("origin".into(), json!(report.origin.as_str()));
    object.insert("local".into(), json!(report.origin == *instance.name()));
    object.insert("scope".into(), json!(report.own.as_str()));
    object.insert("effective".into(), json!(effective_word(&report.effective)));
    if let EffectiveScope::HeldBack(reason) = &report.effective {
        object.insert(
            "held_back_reason".into(),
            json!(instance.describe_hold(reason).await?),
        );
    }
    write_json(&Value::Object(object))
}

/// Writes `value` pretty-printed to stdout through [`JsonFormatter`].
pub(crate) fn write_json(value: &Value) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut writer = serde_json::Serializer::with_formatter(&mut stdout, JsonFormatter::new());
    serde::Serialize::serialize(value, &mut writer)?;
    writeln!(stdout)?;
    Ok(())
}

/// A row as people call it: `user @ada`, `request "Borrow a ladder"`,
/// `comment 0193abcd`.
pub async fn named(instance: &Instance, kind: EntityKind, id: Uuid) -> Result<String> {
    let described = instance.describe(kind, id).await?;
    Ok(match kind {
        EntityKind::User => format!("user {described}"),
        _ => described,
    })
}

/// An effective scope in words, a held-back reason naming the row that
/// holds it back: `Public, held back: its author @chloe is private`.
pub async fn describe_effective(instance: &Instance, effective: &EffectiveScope) -> Result<String> {
    Ok(match effective {
        EffectiveScope::HeldBack(reason) => {
            format!(
                "Public, held back: {}",
                instance.describe_hold(reason).await?
            )
        }
        other => other.to_string(),
    })
}

/// One listed row: its JSON object (ids, for scripts) and its table cells
/// (names, for people).
struct Row {
    id: Uuid,
    json: serde_json::Map<String, Value>,
    cells: Vec<String>,
    /// The effective scope in words.
    effective: String,
}

/// A row before its effective scope is known.
struct Item {
    id: Uuid,
    origin: String,
    own: String,
    fields: Vec<(&'static str, Value)>,
    cells: Vec<String>,
}

fn effective_word(effective: &EffectiveScope) -> &'static str {
    match effective {
        EffectiveScope::Public => "public",
        EffectiveScope::Private => "private",
        EffectiveScope::HeldBack(_) => "held-back",
    }
}

async fn rows(instance: &Instance, kind: EntityKind) -> Result<Vec<Row>> {
    let store = instance.store();
    let users = store.users().await?;
    let names: HashMap<Uuid, String> = users
        .iter()
        .map(|u| (u.id, format!("@{}", u.username)))
        .collect();
    let name = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut resolver = instance.resolver();
    let mut out = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    match kind {
        EntityKind::User => {
            for u in users.iter() {
                items.push(Item {
                    id: u.id,
                    origin: u.origin.to_string(),
                    own: u.scope.to_string(),
                    fields: vec![
                        ("username", json!(u.username.as_str())),
                        ("display_name", json!(u.display_name)),
                        ("bio", json!(u.bio)),
                        // Roles are private: an imported member's is unknown here.
                        (
                            "role",
                            if u.origin == *instance.name() {
                                json!(u.role.as_str())
                            } else {
                                Value::Null
                            },
                        ),
                    ],
                    cells: vec![
                        format!("@{}", u.username),
                        shorten(&u.display_name),
                        // Roles are private: an imported member's is unknown here.
                        if u.origin == *instance.name() {
                            u.role.to_string()
                        } else {
                            "-".into()
                        },
                    ],
                });
            }
        }
        EntityKind::Request => {
            for r in store.requests().await? {
                items.push(Item {
                    id: r.id,
                    origin: r.origin.to_string(),
                    own: r.scope.to_string(),
                    fields: vec![
                        ("title", json!(r.title)),
                        ("status", json!(r.status.as_str())),
                        ("author_id", json!(r.author_id)),
                    ],
                    cells: vec![
                        shorten(&r.title),
                        format!("by {}", name(&r.author_id)),
                        r.status.to_string(),
                    ],
                });
            }
        }
        EntityKind::Comment => {
            for c in store.comments().await? {
                items.push(Item {
                    id: c.id,
                    origin: c.origin.to_string(),
                    own: c.scope.to_string(),
                    fields: vec![
                        ("request_id", json!(c.request_id)),
                        ("author_id", json!(c.author_id)),
                        ("body", json!(c.body)),
                    ],
                    cells: vec![
                        shorten(&c.body),
                        format!("by {}", name(&c.author_id)),
                        format!("on {}", c.request_id),
                    ],
                });
            }
        }
        EntityKind::Invite => {
            for i in store.invites().await? {
                let invitee = i
                    .invitee_id
                    .as_ref()
                    .map(name)
                    .unwrap_or_else(|| "-".into());
                items.push(Item {
                    id: i.id,
                    origin: i.origin.to_string(),
                    own: i.scope.to_string(),
                    fields: vec![
                        ("inviter_id", json!(i.inviter_id)),
                        ("invitee_id", json!(i.invitee_id)),
                        ("status", json!(i.status.as_str())),
                    ],
                    cells: vec![
                        format!("{} -> {invitee}", name(&i.inviter_id)),
                        i.status.to_string(),
                    ],
                });
            }
        }
        EntityKind::Vouch => {
            for v in store.vouches().await? {
                items.push(Item {
                    id: v.id,
                    origin: v.origin.to_string(),
                    own: v.scope.to_string(),
                    fields: vec![
                        ("voucher_id", json!(v.voucher_id)),
                        ("subject_id", json!(v.subject_id)),
                        ("created_at", json!(v.created_at.to_string())),
                    ],
                    cells: vec![format!(
                        "{} vouches for {}",
                        name(&v.voucher_id),
                        name(&v.subject_id)
                    )],
                });
            }
        }
    }
    for Item {
        id,
        origin,
        own,
        fields,
        cells,
    } in items
    {
        let effective = resolver.effective(kind, id).await?;
        let mut object = serde_json::Map::new();
        object.insert("entity".into(), json!(kind.as_str()));
        object.insert("id".into(), json!(id));
        object.insert("origin".into(), json!(origin));
        for (field, value) in fields {
            object.insert(field.into(), value);
        }
        object.insert("scope".into(), json!(own));
        object.insert("effective".into(), json!(effective_word(&effective)));
        let effective_text = describe_effective(instance, &effective).await?;
        if let EffectiveScope::HeldBack(reason) = &effective {
            object.insert(
                "held_back_reason".into(),
                json!(instance.describe_hold(reason).await?),
            );
        }
        let mut all_cells = vec![origin];
        all_cells.extend(cells);
        out.push(Row {
            id,
            json: object,
            cells: all_cells,
            effective: effective_text,
        });
    }
    Ok(out)
}

pub async fn print_list(instance: &Instance, kind: EntityKind, as_json: bool) -> Result<()> {
    let rows = rows(instance, kind).await?;
    if as_json {
        let items: Vec<Value> = rows
            .into_iter()
            .map(|row| Value::Object(row.json))
            .collect();
        return write_json(&Value::Array(items));
    }
    let mut stdout = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(stdout, "no {kind} rows")?;
        return Ok(());
    }
    for row in &rows {
        let line = format!("{}  {}", row.id, row.cells.join("  "));
        writeln!(stdout, "{}", escape_control(&line))?;
        writeln!(stdout, "    {}", escape_control(&row.effective))?;
    }
    Ok(())
}

/// serde_json's pretty printer, also escaping what it leaves raw: `DEL`
/// and the C1 controls (`U+0080`–`U+009F`; `U+009B` is a CSI to some
/// terminals), and the bidirectional overrides of [`needs_escape`], as
/// `\u00XX` escapes — still the same JSON strings to a parser.
struct JsonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl JsonFormatter {
    fn new() -> Self {
        Self(serde_json::ser::PrettyFormatter::new())
    }
}

impl serde_json::ser::Formatter for JsonFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| needs_escape(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// One line of at most 40 characters.
fn shorten(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!("\"{short}\"")
}
