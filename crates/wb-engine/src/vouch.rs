//! Vouches (SPEC §4): who can be vouched for, and signed vouches.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wb_crypto::{KeyStore, PublicKey};
use wb_model::{SyncScope, Timestamp, User, Uuid, Vouch, new_id};
use wb_syncfmt::vouch_signing_bytes;

use crate::sync::instance_key;
use crate::{EngineError, Instance, Result};

/// Why a vouch was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VouchError {
    /// A member cannot vouch for themself.
    #[error("nobody can vouch for themself")]
    SelfVouch,
    /// The pair exists already.
    #[error("@{voucher} already vouches for {subject}; nothing to do")]
    Duplicate {
        /// The voucher's username.
        voucher: String,
        /// The subject, as shown to the operator.
        subject: String,
    },
    /// The signature of an imported vouch does not verify.
    #[error("vouch signature does not verify against {origin}'s key")]
    BadSignature {
        /// The instance whose key should have signed it.
        origin: String,
    },
}

/// The bytes signed for `vouch`, per `docs/format.md`.
pub(crate) fn signing_bytes(vouch: &Vouch) -> Vec<u8> {
    vouch_signing_bytes(
        vouch.origin.as_str(),
        &vouch.voucher_id.to_string(),
        &vouch.subject_id.to_string(),
        &vouch.created_at.to_string(),
    )
}

/// Checks an imported vouch's signature against its origin's key.
pub(crate) fn verify(vouch: &Vouch, key: &PublicKey) -> std::result::Result<(), VouchError> {
    let bad = || VouchError::BadSignature {
        origin: vouch.origin.to_string(),
    };
    let signature = STANDARD.decode(&vouch.signature).map_err(|_| bad())?;
    key.verify_strict(&signing_bytes(vouch), &signature)
        .map_err(|_| bad())
}

impl Instance {
    /// The root users (nobody invited them; local or imported) that the
    /// local member `voucher` has not vouched for yet, by origin then name.
    pub async fn vouch_candidates(&self, voucher: &str) -> Result<Vec<User>> {
        let voucher = self.local_user(voucher).await?;
        let vouched: std::collections::HashSet<Uuid> = self
            .store()
            .vouches()
            .await?
            .into_iter()
            .filter(|v| v.voucher_id == voucher.id)
            .map(|v| v.subject_id)
            .collect();
        Ok(self
            .store()
            .root_users()
            .await?
            .into_iter()
            .filter(|u| u.id != voucher.id && !vouched.contains(&u.id))
            .collect())
    }

    /// Records that the local member `voucher` vouches for `subject`,
    /// signed with this instance's key (created if missing). New vouches are
    /// private, like every new row.
    pub async fn add_vouch(&self, keys: &KeyStore, voucher: &str, subject: Uuid) -> Result<Vouch> {
        let voucher = self.local_user(voucher).await?;
        let subject = self
            .store()
            .user(subject)
            .await?
            .ok_or_else(|| EngineError::UnknownRow {
                kind: wb_model::EntityKind::User,
                id: subject.to_string(),
            })?;
        if subject.id == voucher.id {
            return Err(VouchError::SelfVouch.into());
        }
        let duplicate = self
            .store()
            .vouches()
            .await?
            .iter()
            .any(|v| v.voucher_id == voucher.id && v.subject_id == subject.id);
        if duplicate {
            return Err(VouchError::Duplicate {
                voucher: voucher.username.to_string(),
                subject: format!("@{} ({})", subject.username, subject.origin),
            }
            .into());
        }
        let (key, _) = instance_key(keys, self.name())?;
        let now = Timestamp::now();
        let mut vouch = Vouch {
            id: new_id(),
            origin: self.name().clone(),
            voucher_id: voucher.id,
            subject_id: subject.id,
            signature: String::new(),
            scope: SyncScope::Private,
            created_at: now,
            updated_at: now,
        };
        vouch.signature = STANDARD.encode(key.sign(&signing_bytes(&vouch)));
        self.store().insert_vouch(&vouch).await?;
        Ok(vouch)
    }
}
