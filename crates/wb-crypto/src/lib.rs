//! Ed25519 instance keys and minisign-compatible bundle signatures for wb
//! sync.
//!
//! - [`SigningKey`] / [`PublicKey`]: an Ed25519 key pair with its minisign
//!   [`KeyId`]. Public keys travel in minisign's one-line base64 form.
//! - [`sign_minisign`] / [`verify_minisign`]: the `bundle.sig` format, a
//!   prehashed minisign signature that the stock `minisign -V` accepts.
//! - [`KeyStore`]: the key files under `.sync/keys/`, and
//!   [`KeyStore::rotate`], which replaces an instance key.
//! - [`RotationStatement`] / [`RotationChain`]: the old key's signed word
//!   for the new one, and [`RotationChain::verify_path`], which decides
//!   whether a bundle's key is reachable from a pinned key.
//!
//! Verification is always strict Ed25519 (`verify_strict`): non-canonical
//! signatures and small-order keys are refused. Secret keys are zeroized
//! on drop and never appear in `Debug` output.
//!
//! ```
//! use wb_crypto::{SigningKey, bundle_trusted_comment, parse_bundle_trusted_comment};
//! use wb_crypto::{sign_minisign, verify_minisign};
//!
//! # fn main() -> Result<(), wb_crypto::Error> {
//! let key = SigningKey::generate()?;
//! let public = key.public_key();
//! let manifest = b"the manifest";
//!
//! let comment = bundle_trusted_comment("alpha.example", 7)?;
//! let signature = sign_minisign(&key, manifest, &comment);
//!
//! // Anyone holding the public key (e.g. from `--key RWQ...`) can check it.
//! let public: wb_crypto::PublicKey = public.to_string().parse()?;
//! let trusted = verify_minisign(&public, manifest, &signature)?;
//! assert_eq!(parse_bundle_trusted_comment(&trusted)?, ("alpha.example", 7));
//!
//! // A changed manifest is refused.
//! assert!(verify_minisign(&public, b"another manifest", &signature).is_err());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod instance;
mod key_id;
mod key_store;
mod minisign;
mod public_key;
mod rotation;
mod signing_key;

pub use error::{Error, Result};
pub use key_id::KeyId;
pub use key_store::{Created, KeyStore, Rotation};
pub use minisign::{
    MAX_SEQUENCE, TRUSTED_COMMENT_MAX_BYTES, TrustedComment, UNTRUSTED_COMMENT,
    bundle_trusted_comment, parse_bundle_trusted_comment, sign_minisign, verify_minisign,
};
pub use public_key::PublicKey;
pub use rotation::{
    MAX_ROTATION_CHAIN_BYTES, RotationChain, RotationError, RotationStatement, verify_bundle_key,
};
pub use signing_key::SigningKey;
