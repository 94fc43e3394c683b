//! Effective scopes of stored rows, decided by `wb_model::EffectiveScopes`
//! (the one evaluator of the rule, which the export uses too) and memoised,
//! so listing many rows costs one lookup per referenced row.

use std::collections::HashMap;

use wb_model::{
    EffectiveScope, EffectiveScopes, EntityKind, InstanceName, ScopeFacts, SyncScope, Uuid,
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
}

impl<'a> ScopeResolver<'a> {
    /// A resolver for the instance `local` backed by `store`.
    pub fn new(store: &'a Store, local: &'a InstanceName) -> Self {
        Self {
            store,
            local,
            rule: EffectiveScopes::new(),
            cache: HashMap::new(),
        }
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
        let local = self.local;
        let (own, origin, refs) = match kind {
            EntityKind::User => {
                let u = self.store.user(id).await?.ok_or_else(missing)?;
                (u.scope, u.origin, [None, None])
            }
            EntityKind::Request => {
                let r = self.store.request(id).await?.ok_or_else(missing)?;
                (r.scope, r.origin, [Some(r.author_id), None])
            }
            EntityKind::Comment => {
                let c = self.store.comment(id).await?.ok_or_else(missing)?;
                (c.scope, c.origin, [Some(c.request_id), Some(c.author_id)])
            }
            EntityKind::Invite => {
                let i = self.store.invite(id).await?.ok_or_else(missing)?;
                (i.scope, i.origin, [Some(i.inviter_id), i.invitee_id])
            }
            EntityKind::Vouch => {
                let v = self.store.vouch(id).await?.ok_or_else(missing)?;
                (v.scope, v.origin, [Some(v.voucher_id), Some(v.subject_id)])
            }
        };
        Ok(ScopeFacts {
            kind,
            id,
            own,
            imported: origin != *local,
            refs,
        })
    }
}
