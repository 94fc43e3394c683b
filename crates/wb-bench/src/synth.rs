//! A synthetic community of a given size, the same for the same size: a
//! fixed-seed PRNG chooses every id, text, scope and timestamp, so runs on
//! different days (or before and after a change) measure the same rows.
//!
//! The mix follows issue 7: about 10% users, 30% requests, 50% comments, 5%
//! invites, 5% vouches; each row's own scope is public with probability
//! 0.7; titles are 20–80 characters, request bodies 100–1000, comment bodies
//! 40–600, bios 0–300.

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wb_crypto::SigningKey;
use wb_model::{
    Comment, InstanceName, Invite, InviteStatus, Request, RequestStatus, Role, SyncScope,
    Timestamp, User, Username, Uuid, Vouch,
};
use wb_store::Batch;
use wb_syncfmt::vouch_signing_bytes;

/// The seed of every synthetic instance.
const SEED: u64 = 0x005e_ed0f_3b5c_7a11;

/// 2026-01-01T00:00:00Z in microseconds since the epoch.
const EPOCH_MICROS: i64 = 1_767_225_600_000_000;

/// SplitMix64: tiny, fast, and good enough to pick test data.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    /// A generator with the bench's fixed seed, mixed with `stream`.
    pub fn new(stream: u64) -> Self {
        Self(SEED ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        let span = (high - low + 1) as u64;
        low + usize::try_from(self.next_u64() % span).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A random (version 4) UUID.
    pub fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Words of a small vocabulary, `low..=high` characters in all.
    pub fn text(&mut self, low: usize, high: usize) -> String {
        const WORDS: &[&str] = &[
            "the",
            "garden",
            "needs",
            "help",
            "with",
            "a",
            "ladder",
            "on",
            "saturday",
            "could",
            "someone",
            "lend",
            "me",
            "their",
            "bike",
            "pump",
            "thanks",
            "for",
            "offering",
            "i",
            "can",
            "bring",
            "soup",
            "to",
            "neighbours",
            "who",
            "are",
            "ill",
            "this",
            "week",
            "our",
            "shared",
            "kitchen",
            "will",
            "be",
            "closed",
            "until",
            "monday",
            "please",
            "water",
            "the",
            "plants",
            "while",
            "we",
            "travel",
            "happy",
            "to",
            "drive",
            "anyone",
            "station",
            "early",
            "morning",
            "books",
            "tools",
            "spare",
            "room",
            "painting",
            "fence",
            "repair",
            "childcare",
            "tutoring",
            "maths",
        ];
        let target = self.range(low, high);
        let mut out = String::with_capacity(target + 12);
        while out.len() < target {
            if !out.is_empty() {
                out.push(if self.chance(8) { '\n' } else { ' ' });
            }
            out.push_str(WORDS[self.range(0, WORDS.len() - 1)]);
        }
        out.truncate(target.max(1));
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out
    }

    fn scope(&mut self) -> SyncScope {
        if self.chance(70) {
            SyncScope::Public
        } else {
            SyncScope::Private
        }
    }
}

/// How many rows of each kind an instance of `rows` rows has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Users (10%).
    pub users: usize,
    /// Requests (30%).
    pub requests: usize,
    /// Comments (50%).
    pub comments: usize,
    /// Invites (5%).
    pub invites: usize,
    /// Vouches (the rest, about 5%).
    pub vouches: usize,
}

impl Mix {
    /// The mix of `rows` rows (at least 20, so that there are two users).
    pub fn of(rows: usize) -> Result<Self> {
        if rows < 20 {
            bail!("--rows must be at least 20 (got {rows})");
        }
        let users = rows / 10;
        let requests = rows * 3 / 10;
        let comments = rows / 2;
        let invites = rows / 20;
        let vouches = (rows - users - requests - comments - invites).min(users * (users - 1));
        Ok(Self {
            users,
            requests,
            comments,
            invites,
            vouches,
        })
    }

    /// All rows.
    pub fn total(&self) -> usize {
        self.users + self.requests + self.comments + self.invites + self.vouches
    }
}

fn time(prng: &mut Prng, index: usize) -> Timestamp {
    let micros = EPOCH_MICROS
        + i64::try_from(index).unwrap_or(0) * 60_000_000
        + i64::try_from(prng.next_u64() % 60_000_000).unwrap_or(0);
    Timestamp::from_unix_micros(micros).unwrap_or_else(|_| Timestamp::now())
}

/// The ids whose scope is public.
fn public_ids(ids: &[Uuid], scopes: impl Iterator<Item = SyncScope>) -> Vec<Uuid> {
    ids.iter()
        .zip(scopes)
        .filter(|(_, scope)| *scope == SyncScope::Public)
        .map(|(id, _)| *id)
        .collect()
}

/// An id from `public` for a public row (if there is one), else from `all`.
fn pick(prng: &mut Prng, scope: SyncScope, all: &[Uuid], public: &[Uuid]) -> Uuid {
    let from = if scope == SyncScope::Public && !public.is_empty() {
        public
    } else {
        all
    };
    from[prng.range(0, from.len() - 1)]
}

/// Generates the rows of the instance `origin`; vouches are signed with
/// `key` as `Instance::add_vouch` signs them, so that they verify on import.
pub fn generate(origin: &InstanceName, key: &SigningKey, mix: Mix) -> Result<Batch> {
    let mut prng = Prng::new(mix.total() as u64);
    let mut batch = Batch::default();
    let mut clock = 0;
    let mut tick = |prng: &mut Prng| {
        clock += 1;
        time(prng, clock)
    };

    for n in 0..mix.users {
        let at = tick(&mut prng);
        let username = Username::parse(&format!("member-{n:06}")).context("username")?;
        batch.users.push(User {
            id: prng.uuid(),
            origin: origin.clone(),
            username,
            display_name: format!("Member {n}"),
            bio: prng.text(0, 300),
            email: Some(format!("member-{n}@example.org")),
            role: if n == 0 { Role::Admin } else { Role::Member },
            invited_by: None,
            scope: prng.scope(),
            created_at: at,
            updated_at: at,
        });
    }
    // A public row references public rows only, so that its effective scope
    // is its own and about 70% of all rows are exported; a private row
    // references any.
    let all_users: Vec<Uuid> = batch.users.iter().map(|u| u.id).collect();
    let public_users = public_ids(&all_users, batch.users.iter().map(|u| u.scope));
    let pick_user =
        |prng: &mut Prng, scope: SyncScope| pick(prng, scope, &all_users, &public_users);

    for _ in 0..mix.requests {
        let at = tick(&mut prng);
        let scope = prng.scope();
        let status = match prng.range(0, 9) {
            0 => RequestStatus::Closed,
            1 | 2 => RequestStatus::Fulfilled,
            _ => RequestStatus::Open,
        };
        batch.requests.push(Request {
            id: prng.uuid(),
            origin: origin.clone(),
            author_id: pick_user(&mut prng, scope),
            title: prng.text(20, 80).replace('\n', " "),
            body: prng.text(100, 1000),
            status,
            scope,
            created_at: at,
            updated_at: at,
        });
    }
    let all_requests: Vec<Uuid> = batch.requests.iter().map(|r| r.id).collect();
    let public_requests = public_ids(&all_requests, batch.requests.iter().map(|r| r.scope));
    for _ in 0..mix.comments {
        let at = tick(&mut prng);
        let scope = prng.scope();
        batch.comments.push(Comment {
            id: prng.uuid(),
            origin: origin.clone(),
            request_id: pick(&mut prng, scope, &all_requests, &public_requests),
            author_id: pick_user(&mut prng, scope),
            body: prng.text(40, 600),
            scope,
            created_at: at,
            updated_at: at,
        });
    }
    for _ in 0..mix.invites {
        let at = tick(&mut prng);
        let scope = prng.scope();
        let inviter_id = pick_user(&mut prng, scope);
        let invitee_id =
            Some(pick_user(&mut prng, scope)).filter(|id| *id != inviter_id && prng.chance(50));
        let code = format!("{:016x}{:016x}", prng.next_u64(), prng.next_u64());
        batch.invites.push(Invite {
            id: prng.uuid(),
            origin: origin.clone(),
            inviter_id,
            invitee_id,
            status: if invitee_id.is_some() {
                InviteStatus::Accepted
            } else {
                InviteStatus::Pending
            },
            code: Some(code),
            scope,
            created_at: at,
            updated_at: at,
        });
    }
    // Distinct (voucher, subject) pairs: voucher k mod U, subject shifted by
    // 1 + k div U, which stays below U because vouches ≤ U·(U−1). Public
    // when both users are, as often as other rows.
    let users = batch.users.len();
    for k in 0..mix.vouches {
        let at = tick(&mut prng);
        let voucher = &batch.users[k % users];
        let subject = &batch.users[(k % users + 1 + k / users) % users];
        let both_public = voucher.scope == SyncScope::Public && subject.scope == SyncScope::Public;
        let scope = if both_public && prng.chance(91) {
            SyncScope::Public
        } else {
            SyncScope::Private
        };
        let mut vouch = Vouch {
            id: prng.uuid(),
            origin: origin.clone(),
            voucher_id: voucher.id,
            subject_id: subject.id,
            signature: String::new(),
            scope,
            created_at: at,
            updated_at: at,
        };
        let message = vouch_signing_bytes(
            origin.as_str(),
            &vouch.voucher_id.to_string(),
            &vouch.subject_id.to_string(),
            &vouch.created_at.to_string(),
        );
        vouch.signature = STANDARD.encode(key.sign(&message));
        batch.vouches.push(vouch);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_of_ten_thousand_rows() {
        let mix = Mix::of(10_000).expect("mix");
        assert_eq!(
            (
                mix.users,
                mix.requests,
                mix.comments,
                mix.invites,
                mix.vouches
            ),
            (1_000, 3_000, 5_000, 500, 500)
        );
    }

    #[test]
    fn same_seed_same_text() {
        assert_eq!(Prng::new(7).text(100, 1000), Prng::new(7).text(100, 1000));
        let title = Prng::new(9).text(20, 80);
        assert!((1..=80).contains(&title.len()), "{title:?}");
    }
}
