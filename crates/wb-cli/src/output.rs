//! What commands print: tables for people, JSON for scripts.
//!
//! `wb list` prints the engine's listings ([`wb_engine::listing`]): the
//! rows, their effective scopes and reasons and the names come from there.
//!
//! Listings never show secrets (emails, invite codes): they are for looking
//! at scopes, and terminals get shared and logged.
//!
//! Field values may come from other instances: every line for people goes
//! through [`escape_control`], so a bio holding `ESC ] 0 ;` or `ESC [ 2 J`
//! is shown as `\x1b]0;…`, never obeyed. JSON is escaped by the
//! [`JsonFormatter`] (serde_json's escapes, plus `DEL` and the C1 controls,
//! which serde_json leaves raw).

use std::io::Write as _;

use anyhow::Result;
use serde_json::{Value, json};
use wb_engine::listing::{Cursor, ListQuery, ListRow, Listed, Listing, MAX_PAGE_SIZE, Member};
use wb_engine::{Instance, ScopeReport};
use wb_model::text::{escape_control, needs_escape};
use wb_model::{EffectiveScope, EntityKind, Timestamp, Uuid};

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
    /// For the order of the whole list: creation time, then id.
    created_at: Timestamp,
    json: serde_json::Map<String, Value>,
    cells: Vec<String>,
    /// The effective scope in words.
    effective: String,
}

fn effective_word(effective: &EffectiveScope) -> &'static str {
    match effective {
        EffectiveScope::Public => "public",
        EffectiveScope::Private => "private",
        EffectiveScope::HeldBack(_) => "held-back",
    }
}

/// A member as the table names them: `@name`, or the id of a user not
/// stored.
fn name(member: &Member) -> String {
    match &member.username {
        Some(username) => format!("@{username}"),
        None => member.id.to_string(),
    }
}

/// A listed row in the shape of `wb list`: `fields` between the origin and
/// the scopes in JSON, `cells` after the origin in the table.
fn row<T: ListRow>(
    listed: &Listed<T>,
    fields: Vec<(&'static str, Value)>,
    cells: Vec<String>,
) -> Row {
    let Listed { row, scopes } = listed;
    let origin = row.origin().to_string();
    let mut object = serde_json::Map::new();
    object.insert("entity".into(), json!(T::KIND.as_str()));
    object.insert("id".into(), json!(row.id()));
    object.insert("origin".into(), json!(origin));
    for (field, value) in fields {
        object.insert(field.into(), value);
    }
    object.insert("scope".into(), json!(scopes.own.as_str()));
    object.insert("effective".into(), json!(effective_word(&scopes.effective)));
    let effective = match &scopes.hold {
        Some(hold) => {
            object.insert("held_back_reason".into(), json!(hold.text));
            format!("Public, held back: {}", hold.text)
        }
        None => scopes.effective.to_string(),
    };
    let mut all_cells = vec![origin];
    all_cells.extend(cells);
    Row {
        id: row.id(),
        created_at: row.created_at(),
        json: object,
        cells: all_cells,
        effective,
    }
}

/// Every page of a listing, through `page` (one of the engine's `list_*`).
async fn every_page<T, F, Fut>(mut page: F, mut each: impl FnMut(&Listing<T>)) -> Result<()>
where
    T: ListRow,
    F: FnMut(ListQuery) -> Fut,
    Fut: std::future::Future<Output = wb_engine::Result<Listing<T>>>,
{
    let mut query = ListQuery {
        size: MAX_PAGE_SIZE,
        ..ListQuery::default()
    };
    loop {
        let listing = page(query.clone()).await?;
        each(&listing);
        match listing.last_id() {
            Some(last) if listing.has_next => query.cursor = Cursor::After(last),
            _ => return Ok(()),
        }
    }
}

/// Every row of `kind`, from the engine's listings, by creation time then
/// id.
async fn rows(instance: &Instance, kind: EntityKind) -> Result<Vec<Row>> {
    let local = instance.name();
    let mut out = Vec::new();
    match kind {
        EntityKind::User => {
            every_page(
                |q| async move { instance.list_users(&q).await },
                |page| {
                    for listed in &page.rows {
                        let u = &listed.row;
                        // Roles are private: an imported member's is unknown here.
                        let local_role = (u.origin == *local).then_some(u.role);
                        out.push(row(
                            listed,
                            vec![
                                ("username", json!(u.username.as_str())),
                                ("display_name", json!(u.display_name)),
                                ("bio", json!(u.bio)),
                                ("role", json!(local_role.map(|r| r.as_str()))),
                            ],
                            vec![
                                format!("@{}", u.username),
                                shorten(&u.display_name),
                                local_role.map_or_else(|| "-".into(), |r| r.to_string()),
                            ],
                        ));
                    }
                },
            )
            .await?;
        }
        EntityKind::Request => {
            every_page(
                |q| async move { instance.list_requests(&q).await },
                |page| {
                    for listed in &page.rows {
                        let r = &listed.row;
                        out.push(row(
                            listed,
                            vec![
                                ("title", json!(r.title)),
                                ("status", json!(r.status.as_str())),
                                ("author_id", json!(r.author_id)),
                            ],
                            vec![
                                shorten(&r.title),
                                format!("by {}", name(&page.member(r.author_id))),
                                r.status.to_string(),
                            ],
                        ));
                    }
                },
            )
            .await?;
        }
        EntityKind::Comment => {
            every_page(
                |q| async move { instance.list_comments(&q).await },
                |page| {
                    for listed in &page.rows {
                        let c = &listed.row;
                        out.push(row(
                            listed,
                            vec![
                                ("request_id", json!(c.request_id)),
                                ("author_id", json!(c.author_id)),
                                ("body", json!(c.body)),
                            ],
                            vec![
                                shorten(&c.body),
                                format!("by {}", name(&page.member(c.author_id))),
                                format!("on {}", c.request_id),
                            ],
                        ));
                    }
                },
            )
            .await?;
        }
        EntityKind::Invite => {
            every_page(
                |q| async move { instance.list_invites(&q).await },
                |page| {
                    for listed in &page.rows {
                        let i = &listed.row;
                        let invitee = i
                            .invitee_id
                            .map_or_else(|| "-".into(), |id| name(&page.member(id)));
                        out.push(row(
                            listed,
                            vec![
                                ("inviter_id", json!(i.inviter_id)),
                                ("invitee_id", json!(i.invitee_id)),
                                ("status", json!(i.status.as_str())),
                            ],
                            vec![
                                format!("{} -> {invitee}", name(&page.member(i.inviter_id))),
                                i.status.to_string(),
                            ],
                        ));
                    }
                },
            )
            .await?;
        }
        EntityKind::Vouch => {
            every_page(
                |q| async move { instance.list_vouches(&q).await },
                |page| {
                    for listed in &page.rows {
                        let v = &listed.row;
                        out.push(row(
                            listed,
                            vec![
                                ("voucher_id", json!(v.voucher_id)),
                                ("subject_id", json!(v.subject_id)),
                                ("created_at", json!(v.created_at.to_string())),
                            ],
                            vec![format!(
                                "{} vouches for {}",
                                name(&page.member(v.voucher_id)),
                                name(&page.member(v.subject_id))
                            )],
                        ));
                    }
                },
            )
            .await?;
        }
    }
    out.sort_by_key(|r| (r.created_at, r.id));
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

/// The stable code of the rule a refused bundle broke (`docs/format.md` §7,
/// "Refusal codes"; an export's or a bundle directory's refusal, e.g.
/// `foreign-bundle`), when `err` is one: printed after the message and put
/// in `--json` output, for tools to match.
pub(crate) fn refusal_code(err: &anyhow::Error) -> Option<&'static str> {
    err.chain().find_map(
        |cause| match cause.downcast_ref::<wb_engine::EngineError>() {
            Some(wb_engine::EngineError::Refused { refusal, .. }) => Some(refusal.code()),
            Some(wb_engine::EngineError::BundleRefused { reason, .. }) => Some(reason.code()),
            _ => None,
        },
    )
}
