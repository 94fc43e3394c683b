//! The hub operator's commands: register instances with their keys, issue
//! and revoke upload tokens. The `wb-hub` binary is a thin front end.

use wb_model::{InstanceName, Timestamp};
use wb_store::StoreError;
use wb_store::hub::{HubInstance, HubStore, HubToken};

use crate::token::{IssuedToken, RandomError};

/// An admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The instance name is invalid.
    #[error("{0}")]
    InstanceName(String),
    /// The key is not a valid, strong Ed25519 minisign public key.
    #[error("--key is not an acceptable public key: {0}")]
    BadKey(wb_crypto::Error),
    /// The instance is already registered.
    #[error("instance {0} is already registered")]
    AlreadyRegistered(String),
    /// The instance is not registered.
    #[error(
        "instance {0} is not registered; register it with `wb-hub instance add {0} --key PUBKEY`"
    )]
    UnknownInstance(String),
    /// No token has this id.
    #[error("no token with id {0}")]
    UnknownToken(String),
    /// The OS random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn parse_name(name: &str) -> Result<InstanceName, AdminError> {
    InstanceName::parse(name).map_err(|e| AdminError::InstanceName(e.to_string()))
}

/// Registers `name` with its public key (minisign one-line form). Refuses
/// keys that are invalid, of small order or non-canonical, and names
/// already registered.
///
/// # Errors
///
/// See [`AdminError`].
pub async fn add_instance(
    store: &HubStore,
    name: &str,
    key: &str,
) -> Result<HubInstance, AdminError> {
    let name = parse_name(name)?;
    let key = wb_crypto::PublicKey::from_minisign_base64(key.trim()).map_err(AdminError::BadKey)?;
    if store.instance(&name).await?.is_some() {
        return Err(AdminError::AlreadyRegistered(name.to_string()));
    }
    let instance = HubInstance {
        name,
        public_key: key.to_minisign_base64(),
        registered_at: Timestamp::now(),
    };
    store.add_instance(&instance).await.map_err(|e| match e {
        StoreError::Constraint { .. } => AdminError::AlreadyRegistered(instance.name.to_string()),
        other => other.into(),
    })?;
    Ok(instance)
}

/// Replaces the registered key of `name` by hand: the operator's way to
/// revoke a compromised or lost key (`docs/hub.md`). The hub then accepts
/// only bundles signed by `key` (or by a key a rotation chain leads to from
/// it). Returns the instance as now registered.
///
/// # Errors
///
/// See [`AdminError`]: an invalid name or key, an unregistered instance.
pub async fn rekey_instance(
    store: &HubStore,
    name: &str,
    key: &str,
) -> Result<HubInstance, AdminError> {
    let name = parse_name(name)?;
    let key = wb_crypto::PublicKey::from_minisign_base64(key.trim()).map_err(AdminError::BadKey)?;
    if !store
        .set_instance_key(&name, &key.to_minisign_base64())
        .await?
    {
        return Err(AdminError::UnknownInstance(name.to_string()));
    }
    store
        .instance(&name)
        .await?
        .ok_or_else(|| AdminError::UnknownInstance(name.to_string()))
}

/// Issues a new upload token for `instance`; the returned token's
/// [`IssuedToken::reveal`] is the only time its secret is seen.
///
/// # Errors
///
/// See [`AdminError`].
pub async fn issue_token(store: &HubStore, instance: &str) -> Result<IssuedToken, AdminError> {
    let name = parse_name(instance)?;
    if store.instance(&name).await?.is_none() {
        return Err(AdminError::UnknownInstance(name.to_string()));
    }
    let token = IssuedToken::generate()?;
    store
        .add_token(&HubToken {
            id: token.id().to_owned(),
            instance: name,
            secret_sha256: token.secret_sha256(),
            created_at: Timestamp::now(),
            revoked_at: None,
        })
        .await?;
    Ok(token)
}

/// Revokes the token with this id (its `wbt_<id>_…` part, or the whole
/// token text); returns the id. Revoking twice is not an error.
///
/// # Errors
///
/// See [`AdminError`].
pub async fn revoke_token(store: &HubStore, id: &str) -> Result<String, AdminError> {
    let id = IssuedToken::parse(id)
        .map(|t| t.id().to_owned())
        .unwrap_or_else(|_| id.trim().to_owned());
    if store.revoke_token(&id, Timestamp::now()).await? {
        Ok(id)
    } else {
        Err(AdminError::UnknownToken(id))
    }
}
