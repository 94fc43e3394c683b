//! The store's queries, one file per concern, compiled once per dialect:
//! this module tree is declared by `dialect/sqlite.rs` and by
//! `dialect/postgres.rs` (see `crate::dialect`), whose `D` names the
//! dialect. Every query is a `&'static str` readable whole where it is
//! defined: written once when both dialects accept it, or as a
//! `PerDialect` with both texts when it needs one of the contract's SQL
//! items. No SQL is assembled from input at run time.
//!
//! - `meta.rs`: `instance_meta` and the migration table;
//! - `decode.rs`: rows into model types (driver rows and packed rows);
//! - `rows.rs`: reading rows (by id, all of a kind, id prefixes, counts);
//! - `edits.rs`: local writes (inserts, updates, scope, deletes);
//! - `pins.rs`: origins' sync state and pins;
//! - `import.rs`: applying a bundle;
//! - `scans.rs`: tables read whole, in packed chunks;
//! - `export_cache.rs`: row heads, the change journal, rendered files;
//! - `lists.rs`: keyset-paged, filtered lists.

mod decode;
mod edits;
mod export_cache;
mod import;
mod lists;
mod meta;
mod pins;
mod rows;
mod scans;

pub(crate) use self::{
    edits::*, export_cache::*, import::*, lists::*, meta::*, pins::*, rows::*, scans::*,
};

use super::{D, DbRow};
use crate::dialect::Dialect;

/// The driver of this compilation's dialect.
type Db = <D as Dialect>::Db;
type DbConn = <Db as sqlx::Database>::Connection;
type DbQueryResult = <Db as sqlx::Database>::QueryResult;
type DbQuery<'a> = sqlx::query::Query<'a, Db, <Db as sqlx::Database>::Arguments>;
type Pool = sqlx::Pool<Db>;

/// Rows per multi-row statement (an import's `INSERT`s, the export's
/// upserts of rendered files), largest first: new rows go in statements of
/// 16 rows, the rest in smaller ones. One statement per row costs a round
/// trip each (to SQLite's worker thread or the Postgres server); much
/// larger statements cost more than they save, because binding parameter
/// `$i` makes SQLite scan its parameter names
/// (`sqlite3_bind_parameter_name`), quadratic in the parameters of a
/// statement (measured with wb-bench: 256 rows were slower than 1).
const INSERT_SIZES: [usize; 3] = [16, 4, 1];

/// The largest statement of [`INSERT_SIZES`] for `left` rows (at least 1):
/// its index and its size.
fn statement_size(left: usize) -> (usize, usize) {
    INSERT_SIZES
        .iter()
        .enumerate()
        .find(|(_, size)| **size <= left)
        .map(|(which, size)| (which, *size))
        .unwrap_or((INSERT_SIZES.len() - 1, 1))
}

/// `<head> VALUES ($1, …, $columns), (…)<tail>` for each size of
/// [`INSERT_SIZES`]. Built once from constants, never from input, and kept
/// for the whole program (in a `LazyLock`), so these are `&'static str`
/// like every other query.
fn multi_row_sqls(head: &str, columns: usize, tail: &str) -> Vec<String> {
    INSERT_SIZES
        .iter()
        .map(|&rows| {
            let mut sql = String::with_capacity(head.len() + rows * columns * 6 + tail.len());
            sql.push_str(head);
            sql.push_str(" VALUES ");
            for row in 0..rows {
                sql.push_str(if row == 0 { "(" } else { ", (" });
                for column in 0..columns {
                    if column > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('$');
                    sql.push_str(&(row * columns + column + 1).to_string());
                }
                sql.push(')');
            }
            sql.push_str(tail);
            sql
        })
        .collect()
}

/// `ids` as a JSON array of strings (UUIDs need no escaping): the
/// parameter of a query's JSON set (the contract's item 6).
fn json_ids(ids: &[wb_model::Uuid]) -> String {
    let mut out = String::with_capacity(2 + ids.len() * 39);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&id.to_string());
        out.push('"');
    }
    out.push(']');
    out
}
