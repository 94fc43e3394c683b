//! Listings: one page of rows of a kind, as the command line (`wb list`)
//! and the admin UI show them — filtered and keyset-paged by the store
//! ([`wb_store::ListFilter`], [`wb_store::Cursor`]), each row with its own
//! and effective scope and, when held back, the reason in words naming the
//! row that holds it back, and the members and requests it references
//! named (`@chloe`, a request's title).
//!
//! Effective scopes come from [`ScopeResolver`] (the model's rule), reasons
//! from [`Instance::describe_hold`]: front ends format a [`Listing`], they
//! do not assemble one.

use std::collections::HashMap;

use wb_model::{
    Comment, EffectiveScope, EntityKind, HoldReason, InstanceName, Invite, Request, SyncScope,
    Timestamp, User, Username, Uuid, Vouch,
};
pub use wb_store::{
    COUNT_CAP, Cursor, DEFAULT_PAGE_SIZE, Exported, ListFilter, ListPage, MAX_PAGE_SIZE,
};

use crate::resolver::RowFacts;
use crate::{Instance, Result, ScopeResolver};

/// What to list: the filter, where the page starts, and how many rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Which rows.
    pub filter: ListFilter,
    /// Where the page starts.
    pub cursor: Cursor,
    /// Rows per page (clamped to 1..=[`MAX_PAGE_SIZE`]).
    pub size: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filter: ListFilter::default(),
            cursor: Cursor::First,
            size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// A member as listings name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The user's id.
    pub id: Uuid,
    /// `None` when no such user is stored.
    pub username: Option<Username>,
    /// The instance the member belongs to, when not this one.
    pub imported_from: Option<InstanceName>,
}

impl Member {
    /// `@chloe`, `@bea@beta.example`, or the id of a user not stored.
    pub fn handle(&self) -> String {
        match (&self.username, &self.imported_from) {
            (Some(name), None) => format!("@{name}"),
            (Some(name), Some(origin)) => format!("@{name}@{origin}"),
            (None, _) => self.id.to_string(),
        }
    }
}

/// The row that holds a row back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A member (an author, inviter, invitee, voucher or subject).
    Member(Member),
    /// A request, with its title (`None` if it is not stored).
    Request {
        /// Its id.
        id: Uuid,
        /// Its title.
        title: Option<String>,
    },
}

/// Why a row is held back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The model's reason.
    pub reason: HoldReason,
    /// In words: `its author @chloe is private`.
    pub text: String,
    /// The row named in `text`.
    pub holder: Holder,
}

/// A row's scopes as a listing shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes {
    /// Its own scope.
    pub own: SyncScope,
    /// Its effective scope.
    pub effective: EffectiveScope,
    /// When held back: why.
    pub hold: Option<Hold>,
    /// The instance it came from, when imported (read-only here).
    pub imported_from: Option<InstanceName>,
}

/// One listed row and its scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed<T> {
    /// The row.
    pub row: T,
    /// Its scopes.
    pub scopes: Scopes,
}

/// A row kind that listings show.
pub trait ListRow: Sized {
    /// Its kind.
    const KIND: EntityKind;
    /// Its id.
    fn id(&self) -> Uuid;
    /// Its origin.
    fn origin(&self) -> &InstanceName;
    /// When it was created.
    fn created_at(&self) -> Timestamp;
    /// The users it names (author, inviter, …).
    fn members(&self) -> Vec<Uuid>;
    /// The requests it names.
    fn requests(&self) -> Vec<Uuid> {
        Vec::new()
    }
    /// A user's own name and origin (the row names itself).
    fn own_name(&self) -> Option<(&Username, &InstanceName)> {
        None
    }
}

impl ListRow for User {
    const KIND: EntityKind = EntityKind::User;
    fn id(&self) -> Uuid {
        self.id
    }
    fn origin(&self) -> &InstanceName {
        &self.origin
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn members(&self) -> Vec<Uuid> {
        Vec::new()
    }
    fn own_name(&self) -> Option<(&Username, &InstanceName)> {
        Some((&self.username, &self.origin))
    }
}

impl ListRow for Request {
    const KIND: EntityKind = EntityKind::Request;
    fn id(&self) -> Uuid {
        self.id
    }
    fn origin(&self) -> &InstanceName {
        &self.origin
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn members(&self) -> Vec<Uuid> {
        vec![self.author_id]
    }
}

impl ListRow for Comment {
    const KIND: EntityKind = EntityKind::Comment;
    fn id(&self) -> Uuid {
        self.id
    }
    fn origin(&self) -> &InstanceName {
        &self.origin
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn members(&self) -> Vec<Uuid> {
        vec![self.author_id]
    }
    fn requests(&self) -> Vec<Uuid> {
        vec![self.request_id]
    }
}

impl ListRow for Invite {
    const KIND: EntityKind = EntityKind::Invite;
    fn id(&self) -> Uuid {
        self.id
    }
    fn origin(&self) -> &InstanceName {
        &self.origin
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn members(&self) -> Vec<Uuid> {
        let mut ids = vec![self.inviter_id];
        ids.extend(self.invitee_id);
        ids
    }
}

impl ListRow for Vouch {
    const KIND: EntityKind = EntityKind::Vouch;
    fn id(&self) -> Uuid {
        self.id
    }
    fn origin(&self) -> &InstanceName {
        &self.origin
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn members(&self) -> Vec<Uuid> {
        vec![self.voucher_id, self.subject_id]
    }
}

/// One page of a listing: the rows with their scopes, the count, the
/// neighbours, and the names of what the rows reference.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    /// The rows, in id order.
    pub rows: Vec<Listed<T>>,
    /// How many rows match, at most [`COUNT_CAP`].
    pub total: u64,
    /// Whether more than [`COUNT_CAP`] match.
    pub total_capped: bool,
    /// Whether rows follow this page.
    pub has_next: bool,
    /// Whether rows precede this page.
    pub has_previous: bool,
    members: HashMap<Uuid, Member>,
    titles: HashMap<Uuid, Option<String>>,
    comments: HashMap<Uuid, u64>,
}

impl<T: ListRow> Listing<T> {
    /// The member with this id, as the page's rows name them.
    pub fn member(&self, id: Uuid) -> Member {
        self.members.get(&id).cloned().unwrap_or(Member {
            id,
            username: None,
            imported_from: None,
        })
    }

    /// The title of a request the page's rows name (`None` if not stored).
    pub fn request_title(&self, id: Uuid) -> Option<&str> {
        self.titles.get(&id).and_then(|t| t.as_deref())
    }

    /// How many comments a listed request has (requests listings only;
    /// 0 otherwise).
    pub fn comment_count(&self, request_id: Uuid) -> u64 {
        self.comments.get(&request_id).copied().unwrap_or(0)
    }

    /// The id of the first row (the "previous" link's cursor).
    pub fn first_id(&self) -> Option<Uuid> {
        self.rows.first().map(|r| r.row.id())
    }

    /// The id of the last row (the "next" link's cursor).
    pub fn last_id(&self) -> Option<Uuid> {
        self.rows.last().map(|r| r.row.id())
    }

    /// The total as people read it: `42`, or `1,000+` past the cap.
    pub fn total_text(&self) -> String {
        let digits = self.total.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if self.total_capped {
            grouped.push('+');
        }
        grouped
    }
}

/// Looks up and remembers names and reasons while a page is assembled.
struct Namer<'a> {
    instance: &'a Instance,
    resolver: ScopeResolver<'a>,
    members: HashMap<Uuid, Member>,
    titles: HashMap<Uuid, Option<String>>,
    holds: HashMap<(String, Uuid, bool), String>,
}

impl<'a> Namer<'a> {
    fn new(instance: &'a Instance) -> Self {
        Self {
            instance,
            resolver: instance.resolver(),
            members: HashMap::new(),
            titles: HashMap::new(),
            holds: HashMap::new(),
        }
    }

    async fn member(&mut self, id: Uuid) -> Result<Member> {
        if let Some(member) = self.members.get(&id) {
            return Ok(member.clone());
        }
        let user = self.instance.store().user(id).await?;
        let local = self.instance.name();
        let member = Member {
            id,
            imported_from: user
                .as_ref()
                .filter(|u| u.origin != *local)
                .map(|u| u.origin.clone()),
            username: user.map(|u| u.username),
        };
        self.members.insert(id, member.clone());
        Ok(member)
    }

    async fn title(&mut self, id: Uuid) -> Result<Option<String>> {
        if let Some(title) = self.titles.get(&id) {
            return Ok(title.clone());
        }
        let title = self.instance.store().request(id).await?.map(|r| r.title);
        self.titles.insert(id, title.clone());
        Ok(title)
    }

    async fn scopes(
        &mut self,
        kind: EntityKind,
        id: Uuid,
        origin: &InstanceName,
    ) -> Result<Scopes> {
        let (own, effective) = self.resolver.scopes(kind, id).await?;
        let hold = match &effective {
            EffectiveScope::HeldBack(reason) => {
                let key = (
                    reason.relation.as_str().to_owned(),
                    reason.id,
                    reason.referenced_is_private,
                );
                let text = match self.holds.get(&key) {
                    Some(text) => text.clone(),
                    None => {
                        let text = self.instance.describe_hold(reason).await?;
                        self.holds.insert(key, text.clone());
                        text
                    }
                };
                let holder = match reason.relation.target_kind() {
                    EntityKind::Request => Holder::Request {
                        id: reason.id,
                        title: self.title(reason.id).await?,
                    },
                    _ => Holder::Member(self.member(reason.id).await?),
                };
                Some(Hold {
                    reason: reason.clone(),
                    text,
                    holder,
                })
            }
            _ => None,
        };
        Ok(Scopes {
            own,
            effective,
            hold,
            imported_from: (origin != self.instance.name()).then(|| origin.clone()),
        })
    }

    /// The page's rows with their scopes and names.
    async fn assemble<T: ListRow + RowFacts>(mut self, page: ListPage<T>) -> Result<Listing<T>> {
        let mut rows = Vec::with_capacity(page.rows.len());
        let local = self.instance.name().clone();
        // The page's rows are in hand: the rule need not read them again.
        for row in &page.rows {
            self.resolver.know(row);
        }
        for row in page.rows {
            if let Some((username, origin)) = row.own_name() {
                let member = Member {
                    id: row.id(),
                    username: Some(username.clone()),
                    imported_from: (*origin != local).then(|| origin.clone()),
                };
                self.members.insert(row.id(), member);
            }
            for id in row.members() {
                self.member(id).await?;
            }
            for id in row.requests() {
                self.title(id).await?;
            }
            let scopes = self.scopes(T::KIND, row.id(), row.origin()).await?;
            rows.push(Listed { row, scopes });
        }
        Ok(Listing {
            rows,
            total: page.total,
            total_capped: page.total_capped,
            has_next: page.has_next,
            has_previous: page.has_previous,
            members: self.members,
            titles: self.titles,
            comments: HashMap::new(),
        })
    }
}

impl Instance {
    /// One page of users.
    pub async fn list_users(&self, query: &ListQuery) -> Result<Listing<User>> {
        let page = self
            .store()
            .list_users(self.name(), &query.filter, query.cursor, query.size)
            .await?;
        Namer::new(self).assemble(page).await
    }

    /// One page of requests, each with its number of comments.
    pub async fn list_requests(&self, query: &ListQuery) -> Result<Listing<Request>> {
        let page = self
            .store()
            .list_requests(self.name(), &query.filter, query.cursor, query.size)
            .await?;
        let ids: Vec<Uuid> = page.rows.iter().map(|r| r.id).collect();
        let counts = self.store().comment_counts(&ids).await?;
        let mut listing = Namer::new(self).assemble(page).await?;
        listing.comments = counts.into_iter().collect();
        Ok(listing)
    }

    /// One page of comments.
    pub async fn list_comments(&self, query: &ListQuery) -> Result<Listing<Comment>> {
        let page = self
            .store()
            .list_comments(self.name(), &query.filter, query.cursor, query.size)
            .await?;
        Namer::new(self).assemble(page).await
    }

    /// One page of the comments on one request (the query's filter is not
    /// used: a request's comments are few enough to page through).
    pub async fn list_comments_of(
        &self,
        request_id: Uuid,
        cursor: Cursor,
        size: u32,
    ) -> Result<Listing<Comment>> {
        let page = self
            .store()
            .list_comments_of(request_id, cursor, size)
            .await?;
        Namer::new(self).assemble(page).await
    }

    /// One page of invites.
    pub async fn list_invites(&self, query: &ListQuery) -> Result<Listing<Invite>> {
        let page = self
            .store()
            .list_invites(self.name(), &query.filter, query.cursor, query.size)
            .await?;
        Namer::new(self).assemble(page).await
    }

    /// One page of vouches.
    pub async fn list_vouches(&self, query: &ListQuery) -> Result<Listing<Vouch>> {
        let page = self
            .store()
            .list_vouches(self.name(), &query.filter, query.cursor, query.size)
            .await?;
        Namer::new(self).assemble(page).await
    }

    /// A member as listings name them (a detail page's author).
    pub async fn describe_member(&self, id: Uuid) -> Result<Member> {
        Namer::new(self).member(id).await
    }

    /// The scopes of one row as listings show them (a detail page's row).
    pub async fn listed_scopes<T: ListRow>(&self, row: &T) -> Result<Scopes> {
        Namer::new(self)
            .scopes(T::KIND, row.id(), row.origin())
            .await
    }
}
