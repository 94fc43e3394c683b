//! The export's caches, all of which only save work (losing them makes an
//! export look at more): the rows' heads (what decides whether a row is
//! exported and whether its file must be rendered again, without its text),
//! the journal of changes the triggers note (`export_changes`), and the
//! record of rendered files (`export_files`).
//!
//! A heads query packs the heads of one table into one text of one line per
//! row (the contract's item 5): `id local scope updated_at ref1 ref2
//! rendered_at rendered_length rendered_sha256`, space-separated, absent
//! values empty. None of these values can hold a space or a newline (UUIDs,
//! scope words, integers, hex). One row instead of thousands: the drivers'
//! cost per row (SQLite's worker thread hands every row over a channel) is
//! what a narrow read of many rows spends its time on. `ref1` and `ref2`
//! are the table's reference columns in `RowHead::refs` order, or `NULL`;
//! `$1` is the local instance's name. The `HEADS_MATCHING_*` queries take
//! JSON arrays of ids (item 6) in `$2` and `$3`.

use std::collections::HashSet;
use std::sync::LazyLock;

use sqlx::Row as _;
use wb_model::{EntityKind, InstanceName, Timestamp, Uuid};

use super::decode::{corrupt, get_uuid};
use super::meta::SET_META;
use super::{D, Pool, json_ids, multi_row_sqls, statement_size};
use crate::dialect::{Dialect, PerDialect};
use crate::{Changes, RenderedFile, Result, RowHead};

// ---- row heads -----------------------------------------------------------------

/// The heads of every row of `users`.
const HEADS_USERS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM users t LEFT JOIN export_files e ON e.entity = 'user' AND e.id = t.id",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM users t LEFT JOIN export_files e ON e.entity = 'user' AND e.id = t.id",
};

/// The heads of every row of `requests`.
const HEADS_REQUESTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.author_id, '') || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM requests t LEFT JOIN export_files e ON e.entity = 'request' AND e.id = t.id",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.author_id, '') || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM requests t LEFT JOIN export_files e ON e.entity = 'request' AND e.id = t.id",
};

/// The heads of every row of `comments`.
const HEADS_COMMENTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.request_id, '') || ' ' || \
             COALESCE(t.author_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM comments t LEFT JOIN export_files e ON e.entity = 'comment' AND e.id = t.id",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.request_id, '') || ' ' || \
               COALESCE(t.author_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM comments t LEFT JOIN export_files e ON e.entity = 'comment' AND e.id = t.id",
};

/// The heads of every row of `invites`.
const HEADS_INVITES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.inviter_id, '') || ' ' || \
             COALESCE(t.invitee_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM invites t LEFT JOIN export_files e ON e.entity = 'invite' AND e.id = t.id",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.inviter_id, '') || ' ' || \
               COALESCE(t.invitee_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM invites t LEFT JOIN export_files e ON e.entity = 'invite' AND e.id = t.id",
};

/// The heads of every row of `vouches`.
const HEADS_VOUCHES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.voucher_user_id, '') || ' ' || \
             COALESCE(t.subject_user_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM vouches t LEFT JOIN export_files e ON e.entity = 'vouch' AND e.id = t.id",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.voucher_user_id, '') || ' ' || \
               COALESCE(t.subject_user_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM vouches t LEFT JOIN export_files e ON e.entity = 'vouch' AND e.id = t.id",
};

/// The heads of the rows of `users` whose id is in `$2`.
/// Users reference nothing; `$3` is named only so that Postgres knows
/// every parameter's type.
const HEADS_MATCHING_USERS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM users t LEFT JOIN export_files e ON e.entity = 'user' AND e.id = t.id \
             WHERE t.id IN (SELECT value FROM json_each($2)) \
             AND CAST($3 AS TEXT) IS NOT NULL",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM users t LEFT JOIN export_files e ON e.entity = 'user' AND e.id = t.id \
               WHERE t.id IN (SELECT json_array_elements_text(CAST($2 AS json))) \
               AND CAST($3 AS TEXT) IS NOT NULL",
};

/// The heads of the rows of `requests` whose id is in `$2` or that reference one in `$3`.
/// One reference column, so no `NULL IN …` term, which would keep SQLite
/// from searching each term by its index (it would scan the table).
const HEADS_MATCHING_REQUESTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.author_id, '') || ' ' || \
             COALESCE(NULL, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM requests t LEFT JOIN export_files e ON e.entity = 'request' AND e.id = t.id \
             WHERE t.id IN (SELECT value FROM json_each($2)) \
             OR t.author_id IN (SELECT value FROM json_each($3))",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.author_id, '') || ' ' || \
               COALESCE(NULL, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM requests t LEFT JOIN export_files e ON e.entity = 'request' AND e.id = t.id \
               WHERE t.id IN (SELECT json_array_elements_text(CAST($2 AS json))) \
               OR t.author_id IN (SELECT json_array_elements_text(CAST($3 AS json)))",
};

/// The heads of the rows of `comments` whose id is in `$2` or that reference one in `$3`.
const HEADS_MATCHING_COMMENTS: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.request_id, '') || ' ' || \
             COALESCE(t.author_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM comments t LEFT JOIN export_files e ON e.entity = 'comment' AND e.id = t.id \
             WHERE t.id IN (SELECT value FROM json_each($2)) \
             OR t.request_id IN (SELECT value FROM json_each($3)) \
             OR t.author_id IN (SELECT value FROM json_each($3))",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.request_id, '') || ' ' || \
               COALESCE(t.author_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM comments t LEFT JOIN export_files e ON e.entity = 'comment' AND e.id = t.id \
               WHERE t.id IN (SELECT json_array_elements_text(CAST($2 AS json))) \
               OR t.request_id IN (SELECT json_array_elements_text(CAST($3 AS json))) \
               OR t.author_id IN (SELECT json_array_elements_text(CAST($3 AS json)))",
};

/// The heads of the rows of `invites` whose id is in `$2` or that reference one in `$3`.
const HEADS_MATCHING_INVITES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.inviter_id, '') || ' ' || \
             COALESCE(t.invitee_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM invites t LEFT JOIN export_files e ON e.entity = 'invite' AND e.id = t.id \
             WHERE t.id IN (SELECT value FROM json_each($2)) \
             OR t.inviter_id IN (SELECT value FROM json_each($3)) \
             OR t.invitee_id IN (SELECT value FROM json_each($3))",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.inviter_id, '') || ' ' || \
               COALESCE(t.invitee_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM invites t LEFT JOIN export_files e ON e.entity = 'invite' AND e.id = t.id \
               WHERE t.id IN (SELECT json_array_elements_text(CAST($2 AS json))) \
               OR t.inviter_id IN (SELECT json_array_elements_text(CAST($3 AS json))) \
               OR t.invitee_id IN (SELECT json_array_elements_text(CAST($3 AS json)))",
};

/// The heads of the rows of `vouches` whose id is in `$2` or that reference one in `$3`.
const HEADS_MATCHING_VOUCHES: PerDialect = PerDialect {
    sqlite: "SELECT group_concat(\
             t.id || ' ' || \
             CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
             t.sync_scope || ' ' || \
             CAST(t.updated_at AS TEXT) || ' ' || \
             COALESCE(t.voucher_user_id, '') || ' ' || \
             COALESCE(t.subject_user_id, '') || ' ' || \
             COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
             COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
             COALESCE(e.sha256, ''), char(10)) \
             FROM vouches t LEFT JOIN export_files e ON e.entity = 'vouch' AND e.id = t.id \
             WHERE t.id IN (SELECT value FROM json_each($2)) \
             OR t.voucher_user_id IN (SELECT value FROM json_each($3)) \
             OR t.subject_user_id IN (SELECT value FROM json_each($3))",
    postgres: "SELECT string_agg(\
               t.id || ' ' || \
               CASE WHEN t.origin = $1 THEN '1' ELSE '0' END || ' ' || \
               t.sync_scope || ' ' || \
               CAST(t.updated_at AS TEXT) || ' ' || \
               COALESCE(t.voucher_user_id, '') || ' ' || \
               COALESCE(t.subject_user_id, '') || ' ' || \
               COALESCE(CAST(e.updated_at AS TEXT), '') || ' ' || \
               COALESCE(CAST(e.length AS TEXT), '') || ' ' || \
               COALESCE(e.sha256, ''), chr(10)) \
               FROM vouches t LEFT JOIN export_files e ON e.entity = 'vouch' AND e.id = t.id \
               WHERE t.id IN (SELECT json_array_elements_text(CAST($2 AS json))) \
               OR t.voucher_user_id IN (SELECT json_array_elements_text(CAST($3 AS json))) \
               OR t.subject_user_id IN (SELECT json_array_elements_text(CAST($3 AS json)))",
};

fn heads_sql(kind: EntityKind) -> &'static PerDialect {
    match kind {
        EntityKind::User => &HEADS_USERS,
        EntityKind::Request => &HEADS_REQUESTS,
        EntityKind::Comment => &HEADS_COMMENTS,
        EntityKind::Invite => &HEADS_INVITES,
        EntityKind::Vouch => &HEADS_VOUCHES,
    }
}

fn heads_matching_sql(kind: EntityKind) -> &'static PerDialect {
    match kind {
        EntityKind::User => &HEADS_MATCHING_USERS,
        EntityKind::Request => &HEADS_MATCHING_REQUESTS,
        EntityKind::Comment => &HEADS_MATCHING_COMMENTS,
        EntityKind::Invite => &HEADS_MATCHING_INVITES,
        EntityKind::Vouch => &HEADS_MATCHING_VOUCHES,
    }
}

/// One line of a heads query.
fn head_from_line(line: &str) -> Result<RowHead> {
    let bad = || corrupt("row head", line);
    let fields: Vec<&str> = line.split(' ').collect();
    let [
        id,
        local,
        scope,
        updated_at,
        ref1,
        ref2,
        rendered_at,
        length,
        sha256,
    ] = fields[..]
    else {
        return Err(bad());
    };
    let uuid = |text: &str, what| Uuid::parse_str(text).map_err(|e| corrupt(what, e));
    let opt_uuid = |text: &str, what| (!text.is_empty()).then(|| uuid(text, what)).transpose();
    let micros = |text: &str, what| {
        text.parse::<i64>()
            .map_err(|e| corrupt(what, e))
            .and_then(|n| Timestamp::from_unix_micros(n).map_err(|e| corrupt(what, e)))
    };
    let rendered = if rendered_at.is_empty() {
        None
    } else {
        Some(RenderedFile {
            updated_at: micros(rendered_at, "rendered_at")?,
            length: length.parse().map_err(|e| corrupt("rendered_length", e))?,
            sha256: sha256.to_owned(),
        })
    };
    Ok(RowHead {
        id: uuid(id, "id")?,
        local: match local {
            "1" => true,
            "0" => false,
            _ => return Err(bad()),
        },
        scope: scope
            .parse()
            .map_err(|e: String| corrupt("sync_scope", e))?,
        updated_at: micros(updated_at, "updated_at")?,
        refs: [opt_uuid(ref1, "reference")?, opt_uuid(ref2, "reference")?],
        rendered,
    })
}

pub(crate) async fn row_heads(
    pool: &Pool,
    kind: EntityKind,
    local: &InstanceName,
) -> Result<Vec<RowHead>> {
    let packed: Option<String> = sqlx::query_scalar(D::sql(heads_sql(kind)))
        .bind(local.as_str())
        .fetch_one(pool)
        .await?;
    packed.as_deref().map_or(Ok(Vec::new()), |text| {
        text.split('\n').map(head_from_line).collect()
    })
}

pub(crate) async fn row_heads_matching(
    pool: &Pool,
    kind: EntityKind,
    local: &InstanceName,
    ids: &[Uuid],
    referencing: &[Uuid],
) -> Result<Vec<RowHead>> {
    let packed: Option<String> = sqlx::query_scalar(D::sql(heads_matching_sql(kind)))
        .bind(local.as_str())
        .bind(json_ids(ids))
        .bind(json_ids(referencing))
        .fetch_one(pool)
        .await?;
    packed.as_deref().map_or(Ok(Vec::new()), |text| {
        text.split('\n').map(head_from_line).collect()
    })
}

/// The journal's last `seq` (0 when empty) on every row, with its first
/// `$1` entries in order: one statement, so one consistent view. An empty
/// journal gives one row with no entry.
const READ_JOURNAL: &str = "SELECT j.entity, j.id, m.through \
     FROM (SELECT COALESCE(MAX(seq), 0) AS through FROM export_changes) AS m \
     LEFT JOIN (SELECT seq, entity, id FROM export_changes ORDER BY seq LIMIT $1) AS j ON TRUE \
     ORDER BY j.seq";

pub(crate) async fn export_changes(pool: &Pool, limit: usize) -> Result<Changes> {
    let wanted = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let entries = D::read_journal(pool, READ_JOURNAL, wanted).await?;
    let through: i64 = match entries.first() {
        Some(first) => first.try_get("through")?,
        None => 0,
    };
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(entries.len());
    let mut count = 0;
    for entry in &entries {
        let Some(kind) = entry.try_get::<Option<String>, _>("entity")? else {
            continue;
        };
        count += 1;
        let kind: EntityKind = kind.parse().map_err(|e: String| corrupt("entity", e))?;
        let id = get_uuid(entry, "id")?;
        if seen.insert((kind, id)) {
            rows.push((kind, id));
        }
    }
    if count > limit {
        return Ok(Changes {
            through,
            rows: None,
        });
    }
    Ok(Changes {
        through,
        rows: Some(rows),
    })
}

pub(crate) async fn forget_changes(pool: &Pool, through: i64) -> Result<()> {
    sqlx::query("DELETE FROM export_changes WHERE seq <= $1")
        .bind(through)
        .execute(pool)
        .await?;
    Ok(())
}

/// Multi-row upserts of `export_files`, one per size in `INSERT_SIZES`.
static UPSERT_RENDERED: LazyLock<Vec<String>> = LazyLock::new(|| {
    let head = "INSERT INTO export_files (entity, id, updated_at, length, sha256)";
    let tail = " ON CONFLICT (entity, id) DO UPDATE SET updated_at = excluded.updated_at, \
                length = excluded.length, sha256 = excluded.sha256";
    multi_row_sqls(head, 5, tail)
});

pub(crate) async fn record_rendered(
    pool: &Pool,
    kind: EntityKind,
    rendered: &[(Uuid, RenderedFile)],
    forget: &[Uuid],
) -> Result<()> {
    if rendered.is_empty() && forget.is_empty() {
        return Ok(());
    }
    let entity = kind.as_str();
    let upsert = |rows: &[(Uuid, RenderedFile)]| -> Result<_> {
        let sql: &'static str = UPSERT_RENDERED[statement_size(rows.len()).0].as_str();
        let mut query = sqlx::query(sql);
        for (id, file) in rows {
            let length = i64::try_from(file.length).map_err(|e| corrupt("length", e))?;
            query = query
                .bind(entity)
                .bind(id.to_string())
                .bind(file.updated_at.unix_micros())
                .bind(length)
                .bind(file.sha256.as_str());
        }
        Ok(query)
    };
    // What one statement records needs no transaction of its own (the usual
    // case of an export after a few changes: one round trip, not three).
    if forget.is_empty() && statement_size(rendered.len()).1 == rendered.len() {
        upsert(rendered)?.execute(pool).await?;
        return Ok(());
    }
    let mut tx = D::begin(pool).await?;
    for id in forget {
        sqlx::query("DELETE FROM export_files WHERE entity = $1 AND id = $2")
            .bind(entity)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let mut start = 0;
    while start < rendered.len() {
        let (_, size) = statement_size(rendered.len() - start);
        upsert(&rendered[start..start + size])?
            .execute(&mut *tx)
            .await?;
        start += size;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn reset_rendered(pool: &Pool, key: &str, renderer: &str) -> Result<()> {
    let mut tx = D::begin(pool).await?;
    sqlx::query("DELETE FROM export_files")
        .execute(&mut *tx)
        .await?;
    sqlx::query(SET_META)
        .bind(key)
        .bind(renderer)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
