//! Effective scopes of stored rows, computed with `wb_model::effective_scope`
//! and memoised, so listing many rows costs one lookup per referenced row.

use std::collections::HashMap;

use wb_model::{
    EffectiveScope, EntityKind, InstanceName, Reference, Relation, SyncScope, Uuid, effective_scope,
};
use wb_store::Store;

use crate::{EngineError, Result};

/// What the rule needs to know about one row.
#[derive(Clone, Debug)]
struct Facts {
    own: SyncScope,
    imported: bool,
    references: Vec<(Relation, Uuid)>,
}

/// Resolves effective scopes against one store, caching every answer.
///
/// A resolver sees the database as it was when each row was first asked
/// about: make a new one after changing scopes.
#[derive(Debug)]
pub struct ScopeResolver<'a> {
    store: &'a Store,
    local: &'a InstanceName,
    cache: HashMap<(EntityKind, Uuid), (SyncScope, EffectiveScope)>,
}

impl<'a> ScopeResolver<'a> {
    /// A resolver for the instance `local` backed by `store`.
    pub fn new(store: &'a Store, local: &'a InstanceName) -> Self {
        Self {
            store,
            local,
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
        let mut references = Vec::with_capacity(facts.references.len());
        for (relation, target) in facts.references {
            // References only point at earlier kinds (users, requests), whose
            // own references point at users only: the recursion is two deep.
            let (own_scope, effective) =
                Box::pin(self.scopes(relation.target_kind(), target)).await?;
            references.push(Reference {
                relation,
                id: target,
                exported: effective.is_exported(),
                own_scope,
            });
        }
        let effective = effective_scope(facts.own, facts.imported, &references);
        self.cache
            .insert((kind, id), (facts.own, effective.clone()));
        Ok((facts.own, effective))
    }

    async fn facts(&self, kind: EntityKind, id: Uuid) -> Result<Facts> {
        let missing = || EngineError::UnknownRow {
            kind,
            id: id.to_string(),
        };
        let local = self.local;
        let facts = match kind {
            EntityKind::User => {
                let u = self.store.user(id).await?.ok_or_else(missing)?;
                Facts {
                    own: u.scope,
                    imported: u.origin != *local,
                    references: vec![],
                }
            }
            EntityKind::Request => {
                let r = self.store.request(id).await?.ok_or_else(missing)?;
                Facts {
                    own: r.scope,
                    imported: r.origin != *local,
                    references: vec![(Relation::Author, r.author_id)],
                }
            }
            EntityKind::Comment => {
                let c = self.store.comment(id).await?.ok_or_else(missing)?;
                Facts {
                    own: c.scope,
                    imported: c.origin != *local,
                    references: vec![
                        (Relation::Request, c.request_id),
                        (Relation::Author, c.author_id),
                    ],
                }
            }
            EntityKind::Invite => {
                let i = self.store.invite(id).await?.ok_or_else(missing)?;
                let mut references = vec![(Relation::Inviter, i.inviter_id)];
                references.extend(i.invitee_id.map(|invitee| (Relation::Invitee, invitee)));
                Facts {
                    own: i.scope,
                    imported: i.origin != *local,
                    references,
                }
            }
            EntityKind::Vouch => {
                let v = self.store.vouch(id).await?.ok_or_else(missing)?;
                Facts {
                    own: v.scope,
                    imported: v.origin != *local,
                    references: vec![
                        (Relation::Voucher, v.voucher_id),
                        (Relation::Subject, v.subject_id),
                    ],
                }
            }
        };
        Ok(facts)
    }
}
