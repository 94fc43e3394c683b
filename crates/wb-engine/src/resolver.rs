//! Effective scopes of stored rows, decided by `wb_model::EffectiveScopes`
//! (the one evaluator of the rule, which the export uses too) and memoised,
//! so listing many rows costs one lookup per referenced row.

use std::collections::HashMap;

use wb_model::{
    Comment, EffectiveScope, EffectiveScopes, EntityKind, InstanceName, Invite, Request,
    ScopeFacts, SyncScope, User, Uuid, Vouch,
};
use wb_store::Store;

use crate::{EngineError, Result};

/// Resolves effective scopes against one store, caching every answer.
///
/// A resolver sees the database as it was when each row was first asked
/// about: make a new one after changing scopes.
#[derive(Debug)]
pub struct ScopeResolver<'a> {
    store: &'a Store,
    local: &'a InstanceName,
    /// The rule, with the users and requests decided so far.
    rule: EffectiveScopes,
    cache: HashMap<(EntityKind, Uuid), (SyncScope, EffectiveScope)>,
    /// Rows the caller already holds (a listing's page), so they are not
    /// read again by id.
    known: HashMap<(EntityKind, Uuid), ScopeFacts>,
}

impl<'a> ScopeResolver<'a> {
    /// A resolver for the instance `local` backed by `store`.
    pub fn new(store: &'a Store, local: &'a InstanceName) -> Self {
        Self {
            store,
            local,
            rule: EffectiveScopes::new(),
            cache: HashMap::new(),
            known: HashMap::new(),
        }
    }

    /// Tells the resolver a row the caller already read, so that deciding
    /// it does not read it again (a listing's page of 50 rows saves 50
    /// round trips).
    pub(crate) fn know(&mut self, row: &impl RowFacts) {
        let facts = row.scope_facts(self.local);
        self.known.insert((facts.kind, facts.id), facts);
    }

    /// The effective scope of a row, or [`EngineError::UnknownRow`].
    pub async fn effective(&mut self, kind: EntityKind, id: Uuid) -> Result<EffectiveScope> {
        Ok(self.scopes(kind, id).await?.1)
    }

    /// A row's own scope and its effective scope.
    pub async fn scopes(
        &mut self,
        kind: EntityKind,
        id: Uuid,
    ) -> Result<(SyncScope, EffectiveScope)> {
        if let Some(hit) = self.cache.get(&(kind, id)) {
            return Ok(hit.clone());
        }
        let facts = self.facts(kind, id).await?;
        // The rule decides a row after the rows it references. References
        // only point at earlier kinds (users, requests), whose own
        // references point at users only: the recursion is two deep.
        for (relation, target) in kind.relations().into_iter().zip(facts.refs) {
            if let (Some(relation), Some(target)) = (relation, target)
                && !self.rule.knows(relation.target_kind(), target)
            {
                Box::pin(self.scopes(relation.target_kind(), target)).await?;
            }
        }
        let effective = self.rule.effective(&facts);
        self.cache
            .insert((kind, id), (facts.own, effective.clone()));
        Ok((facts.own, effective))
    }

    /// What the rule needs to know about one row.
    async fn facts(&self, kind: EntityKind, id: Uuid) -> Result<ScopeFacts> {
        let missing = || EngineError::UnknownRow {
            kind,
            id: id.to_string(),
        };
        if let Some(facts) = self.known.get(&(kind, id)) {
            return Ok(*facts);
        }
        let local = self.local;
        Ok(match kind {
            EntityKind::User => self
                .store
                .user(id)
                .await?
                .ok_or_else(missing)?
                .scope_facts(local),
            EntityKind::Request => self
                .store
                .request(id)
                .await?
                .ok_or_else(missing)?
                .scope_facts(local),
            EntityKind::Comment => self
                .store
                .comment(id)
                .await?
                .ok_or_else(missing)?
                .scope_facts(local),
            EntityKind::Invite => self
                .store
                .invite(id)
                .await?
                .ok_or_else(missing)?
                .scope_facts(local),
            EntityKind::Vouch => self
                .store
                .vouch(id)
                .await?
                .ok_or_else(missing)?
                .scope_facts(local),
        })
    }
}

/// A stored row as the effective-scope rule sees it: its own scope,
/// whether it was imported, and its references in the order of
/// [`EntityKind::relations`].
pub(crate) trait RowFacts {
    /// The facts of this row, on the instance `local`.
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts;
}

fn facts(
    kind: EntityKind,
    id: Uuid,
    own: SyncScope,
    origin: &InstanceName,
    local: &InstanceName,
    refs: [Option<Uuid>; 2],
) -> ScopeFacts {
    ScopeFacts {
        kind,
        id,
        own,
        imported: origin != local,
        refs,
    }
}

impl RowFacts for User {
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts {
        facts(
            EntityKind::User,
            self.id,
            self.scope,
            &self.origin,
            local,
            [None, None],
        )
    }
}

impl RowFacts for Request {
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts {
        let refs = [Some(self.author_id), None];
        facts(
            EntityKind::Request,
            self.id,
            self.scope,
            &self.origin,
            local,
            refs,
        )
    }
}

impl RowFacts for Comment {
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts {
        let refs = [Some(self.request_id), Some(self.author_id)];
        facts(
            EntityKind::Comment,
            self.id,
            self.scope,
            &self.origin,
            local,
            refs,
        )
    }
}

impl RowFacts for Invite {
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts {
        let refs = [Some(self.inviter_id), self.invitee_id];
        facts(
            EntityKind::Invite,
            self.id,
            self.scope,
            &self.origin,
            local,
            refs,
        )
    }
}

impl RowFacts for Vouch {
    fn scope_facts(&self, local: &InstanceName) -> ScopeFacts {
        let refs = [Some(self.voucher_id), Some(self.subject_id)];
        facts(
            EntityKind::Vouch,
            self.id,
            self.scope,
            &self.origin,
            local,
            refs,
        )
    }
}
