//! Pins: the one key that speaks for each other instance.
//!
//! The database (`sync_pins`, through [`wb_store::Store::pin`]) is the one
//! source of truth: manual import, pull and relay export all read it
//! (`docs/peers.md`, "Pins"). A pin is set by `wb sync peers add --key`,
//! `wb sync peers pin`, the first import with `--key` or
//! `--accept-new-keys`, or adopted from a `Key:` line of `sync_peers.txt`
//! ([`adopt_registry_keys`]); it is changed only on purpose
//! ([`pin_key`] with [`PinSource::PeersPin`]) or by a verified rotation.
//! One key is never pinned for two origins.

use wb_crypto::PublicKey;
use wb_model::{InstanceName, Timestamp};
use wb_store::{OriginState, Pin, PinChange, PinSource, StoreError};

use super::peers::{PeerKind, PeerRegistry};
use crate::{EngineError, Instance, Result};

fn pin_refused(reason: String) -> EngineError {
    EngineError::PinRefused { reason }
}

/// A `Key:` line of `sync_peers.txt` adopted as a pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adopted {
    /// The peer.
    pub origin: InstanceName,
    /// Its key, now pinned.
    pub key: String,
}

/// Reconciles the `Key:` lines of `registry` with the pins: a peer's key
/// is adopted as its pin when it has none (pinned by
/// [`PinSource::Registry`]); a key that disagrees with the pin, or is
/// another origin's pin, is refused naming both keys and the command that
/// changes a pin on purpose. The entry named `except` is skipped (the one
/// `wb sync peers pin` or `remove` is about to settle). Keys of hub entries
/// mean nothing and are ignored.
///
/// Every command that reads the registry calls this first, so the file can
/// never silently disagree with the pins.
///
/// # Errors
///
/// [`EngineError::PinRefused`] at the first disagreement (pins adopted
/// before it stay: each agreed with everything), or a store error.
pub async fn adopt_registry_keys(
    instance: &Instance,
    registry: &PeerRegistry,
    except: Option<&str>,
) -> Result<Vec<Adopted>> {
    let store = instance.store();
    let mut adopted = Vec::new();
    for peer in registry.peers() {
        let Some(key) = &peer.key else { continue };
        if peer.kind != PeerKind::Peer || except == Some(peer.name.as_str()) {
            continue;
        }
        let origin = InstanceName::parse(&peer.name)?;
        match store.pin(&origin).await? {
            Some(pin) if pin.public_key == *key => {}
            Some(pin) => {
                return Err(pin_refused(format!(
                    "sync_peers.txt has Key {key} for {origin}, but the key pinned for {origin} \
                     is {} (pinned by {} at {}); pins live in the database: if {key} is right, \
                     run `wb sync peers pin {origin} --key {key}`, otherwise delete the Key line \
                     of {origin} from sync_peers.txt",
                    pin.public_key, pin.source, pin.pinned_at
                )));
            }
            None => {
                pin_key(instance, &origin, key, PinSource::Registry, false)
                    .await
                    .map_err(|e| match e {
                        EngineError::Store(StoreError::KeyPinnedElsewhere {
                            pinned_for, ..
                        }) => pin_refused(format!(
                            "sync_peers.txt has Key {key} for {origin}, but that key is already \
                             pinned for {pinned_for}; one key cannot be pinned for two origins: \
                             fix the Key line of {origin} in sync_peers.txt"
                        )),
                        other => other,
                    })?;
                adopted.push(Adopted {
                    origin,
                    key: key.clone(),
                });
            }
        }
    }
    Ok(adopted)
}

/// What [`pin_key`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinOutcome {
    /// The pin before, if any.
    pub previous: Option<Pin>,
    /// Whether the pinned key changed (false: it was already this key).
    pub changed: bool,
    /// The high-water mark forgotten (`reset_sequence`), if there was one.
    pub forgotten_sequence: Option<u64>,
}

/// Pins `key` for `origin`, replacing the pin it has now; with
/// `reset_sequence`, also forgets the last sequence applied from it, so the
/// next bundle of any sequence is accepted (the recovery from a lost or
/// compromised key, and from a frozen origin: `docs/peers.md`). With
/// [`PinSource::PeersAdd`] (or [`PinSource::Registry`]) an existing pin for
/// another key is refused: only [`PinSource::PeersPin`] changes a pin.
///
/// # Errors
///
/// An unacceptable key; this instance's own name; a pin this source may
/// not change; the key pinned for another origin
/// ([`StoreError::KeyPinnedElsewhere`]); the pin changed meanwhile.
pub async fn pin_key(
    instance: &Instance,
    origin: &InstanceName,
    key: &str,
    source: PinSource,
    reset_sequence: bool,
) -> Result<PinOutcome> {
    PublicKey::from_minisign_base64(key).map_err(|e| EngineError::InvalidField {
        field: "key",
        reason: e.to_string(),
    })?;
    if origin == instance.name() {
        return Err(pin_refused(format!(
            "{origin} is this instance's own name; pins are for other instances"
        )));
    }
    let store = instance.store();
    let previous = store.pin(origin).await?;
    if let Some(pin) = &previous
        && pin.public_key != key
        && source != PinSource::PeersPin
    {
        return Err(pin_refused(format!(
            "key {} is pinned for {origin} (by {} at {}); to change it on purpose, run \
             `wb sync peers pin {origin} --key {key}`",
            pin.public_key, pin.source, pin.pinned_at
        )));
    }
    let forgotten_sequence = store
        .change_pin(&PinChange {
            instance: origin.clone(),
            replaces: previous.as_ref().map(|p| p.public_key.clone()),
            public_key: key.to_owned(),
            source,
            at: Timestamp::now(),
            reset_sequence,
        })
        .await?;
    let changed = previous.as_ref().is_none_or(|p| p.public_key != key);
    Ok(PinOutcome {
        previous,
        changed,
        forgotten_sequence,
    })
}

/// One line of `wb sync peers list`: a registry entry, a pinned origin, an
/// origin something was imported from, or all of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginEntry {
    /// The entry's or origin's name.
    pub name: String,
    /// Hub or peer, when the registry lists it.
    pub kind: Option<PeerKind>,
    /// The registry's URL, when it lists it.
    pub url: Option<String>,
    /// The pin, if any.
    pub pin: Option<Pin>,
    /// What was applied last from it, if anything.
    pub applied: Option<OriginState>,
}

/// Every registry entry (in file order), then every other origin that has
/// a pin or imported state (by name), each with its pin and last applied
/// bundle.
///
/// # Errors
///
/// A store error.
pub async fn list_origins(
    instance: &Instance,
    registry: &PeerRegistry,
) -> Result<Vec<OriginEntry>> {
    let store = instance.store();
    let mut pins = store.pins().await?;
    let mut states = store.origin_states().await?;
    let mut out = Vec::new();
    for peer in registry.peers() {
        out.push(OriginEntry {
            name: peer.name.clone(),
            kind: Some(peer.kind),
            url: Some(peer.url.clone()),
            pin: take(&mut pins, &peer.name, |p| &p.instance),
            applied: take(&mut states, &peer.name, |s| &s.instance),
        });
    }
    let mut rest: Vec<String> = pins
        .iter()
        .map(|p| p.instance.to_string())
        .chain(states.iter().map(|s| s.instance.to_string()))
        .collect();
    rest.sort();
    rest.dedup();
    for name in rest {
        out.push(OriginEntry {
            pin: take(&mut pins, &name, |p| &p.instance),
            applied: take(&mut states, &name, |s| &s.instance),
            name,
            kind: None,
            url: None,
        });
    }
    Ok(out)
}

/// Removes and returns the item of `items` named `name`.
fn take<T>(items: &mut Vec<T>, name: &str, of: impl Fn(&T) -> &InstanceName) -> Option<T> {
    let index = items.iter().position(|item| of(item).as_str() == name)?;
    Some(items.remove(index))
}
