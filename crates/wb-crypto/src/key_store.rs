//! Key files on disk: a directory (`.sync/keys/`) holding, per instance,
//! `<instance>.key` (the secret key, owner-only) and `<instance>.pub` (the
//! minisign public key file).
//!
//! The secret key file is two lines of text:
//!
//! ```text
//! untrusted comment: wb sync secret key for <instance> - keep it private
//! base64("Ed" ‖ key id (8 bytes) ‖ Ed25519 seed (32 bytes) ‖ Ed25519 public key (32 bytes))
//! ```
//!
//! The public key is stored too so that a damaged file is detected. The
//! file is created with mode `0600` (write to a temporary file in the same
//! directory, then link it into place, never replacing an existing key),
//! and refused on load when group or others have any access to it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

use crate::instance::check_instance_name;
use crate::public_key::KEY_ALGORITHM;
use crate::rotation::MAX_ROTATION_CHAIN_BYTES;
use crate::{
    Error, KeyId, PublicKey, Result, RotationChain, RotationError, RotationStatement, SigningKey,
};

const SECRET_KEY_LEN: usize = 2 + 8 + 32 + 32;
/// Key files are tiny; refuse to read more than this.
const MAX_KEY_FILE_BYTES: u64 = 4096;
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";

/// Whether [`KeyStore::load_or_generate`] found a key or made one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Created {
    /// The key already existed and was loaded.
    Existing,
    /// No key existed: a new one was generated and written. The caller
    /// should warn the operator, naming [`KeyStore::secret_key_path`].
    New,
}

/// What [`KeyStore::rotate`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rotation {
    /// The key rotated from (now retired).
    pub old: PublicKey,
    /// The new signing key, now the instance key.
    pub new: SigningKey,
    /// The statement "old → new", signed by the old key.
    pub statement: RotationStatement,
    /// Where the old secret key is kept.
    pub retired_key: PathBuf,
    /// The whole chain, ending with `statement`.
    pub chain: RotationChain,
}

/// The key directory of one wb sync installation (usually `.sync/keys/`).
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// A key store in `dir`. Nothing is touched until a key is generated
    /// (which creates `dir`, mode `0700`, if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the secret key of `instance` lives: `<dir>/<instance>.key`.
    ///
    /// # Errors
    /// [`Error::InvalidInstanceName`] for a name that is not a valid instance
    /// name (so never a path such as `../x`).
    pub fn secret_key_path(&self, instance: &str) -> Result<PathBuf> {
        check_instance_name(instance)?;
        Ok(self.dir.join(format!("{instance}.key")))
    }

    /// Where the public key of `instance` lives: `<dir>/<instance>.pub`.
    ///
    /// # Errors
    /// As [`KeyStore::secret_key_path`].
    pub fn public_key_path(&self, instance: &str) -> Result<PathBuf> {
        check_instance_name(instance)?;
        Ok(self.dir.join(format!("{instance}.pub")))
    }

    /// Generates a new key for `instance` and writes both files.
    ///
    /// # Errors
    /// [`Error::KeyExists`] if a secret key file is already there (it is
    /// never overwritten), [`Error::Io`] if writing fails, [`Error::Rng`] if
    /// the system has no randomness.
    pub fn generate(&self, instance: &str) -> Result<SigningKey> {
        let secret_path = self.secret_key_path(instance)?;
        let public_path = self.public_key_path(instance)?;
        if fs::symlink_metadata(&secret_path).is_ok() {
            return Err(Error::KeyExists { path: secret_path });
        }
        create_private_dir(&self.dir)?;
        let key = SigningKey::generate()?;
        let contents = secret_key_file(instance, &key);
        write_file(&secret_path, contents.as_bytes(), 0o600, Replace::Never)?;
        let public = key.public_key().to_minisign_file();
        write_file(&public_path, public.as_bytes(), 0o644, Replace::Allowed)?;
        sync_dir(&self.dir)?;
        Ok(key)
    }

    /// Loads the secret key of `instance`.
    ///
    /// If `<instance>.pub` exists it must hold the same key.
    ///
    /// # Errors
    /// [`Error::Io`] if the file is missing or unreadable,
    /// [`Error::InsecurePermissions`] if group or others may access it,
    /// [`Error::MalformedSecretKeyFile`] if it is damaged,
    /// [`Error::PublicKeyFileMismatch`] if the public key file disagrees.
    pub fn load(&self, instance: &str) -> Result<SigningKey> {
        let path = self.secret_key_path(instance)?;
        match open_secret_key(&path)? {
            Some(file) => self.load_from(instance, &path, file),
            None => Err(Error::Io {
                action: "no secret key at",
                source: io::ErrorKind::NotFound.into(),
                path,
            }),
        }
    }

    /// Loads the key of `instance`, or generates it if there is none yet;
    /// [`Created::New`] tells the caller to warn, naming the path.
    ///
    /// # Errors
    /// As [`KeyStore::load`] and [`KeyStore::generate`].
    pub fn load_or_generate(&self, instance: &str) -> Result<(SigningKey, Created)> {
        let path = self.secret_key_path(instance)?;
        if let Some(file) = open_secret_key(&path)? {
            return Ok((self.load_from(instance, &path, file)?, Created::Existing));
        }
        match self.generate(instance) {
            Ok(key) => Ok((key, Created::New)),
            // Another process created it between our look and our write.
            Err(Error::KeyExists { .. }) => Ok((self.load(instance)?, Created::Existing)),
            Err(error) => Err(error),
        }
    }

    /// Reads the public key file of `instance`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::PublicKeyFile`] if it
    /// does not hold a valid minisign public key.
    pub fn load_public(&self, instance: &str) -> Result<PublicKey> {
        let path = self.public_key_path(instance)?;
        let file = File::open(&path).map_err(|source| io_error("cannot open", &path, source))?;
        read_public_key(&path, file)
    }

    /// Where the rotation chain of `instance` lives:
    /// `<dir>/<instance>.rotations`.
    ///
    /// # Errors
    /// As [`KeyStore::secret_key_path`].
    pub fn rotations_path(&self, instance: &str) -> Result<PathBuf> {
        check_instance_name(instance)?;
        Ok(self.dir.join(format!("{instance}.rotations")))
    }

    /// The directory that keeps retired keys: `<dir>/retired`.
    pub fn retired_dir(&self) -> PathBuf {
        self.dir.join("retired")
    }

    /// Reads the rotation chain of `instance`: empty when no rotation was
    /// made.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::RotationFile`]
    /// if it is not a valid chain.
    pub fn load_rotations(&self, instance: &str) -> Result<RotationChain> {
        let path = self.rotations_path(instance)?;
        let text = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.len() > MAX_ROTATION_CHAIN_BYTES => {
                return Err(rotation_file(
                    &path,
                    RotationError::TooLarge {
                        size: meta.len(),
                        limit: MAX_ROTATION_CHAIN_BYTES,
                    },
                ));
            }
            Ok(_) => fs::read_to_string(&path).map_err(|e| io_error("cannot read", &path, e))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(RotationChain::new());
            }
            Err(source) => return Err(io_error("cannot read", &path, source)),
        };
        let chain = RotationChain::parse(&text).map_err(|e| rotation_file(&path, e))?;
        if let Some(found) = chain.instance()
            && found != instance
        {
            return Err(rotation_file(
                &path,
                RotationError::WrongInstance {
                    statement: 1,
                    expected: instance.to_owned(),
                    found: found.to_owned(),
                },
            ));
        }
        Ok(chain)
    }

    /// Replaces the key of `instance` with a new one, keeping the old.
    ///
    /// In order: the current key is loaded (it must exist, and must be the
    /// end of the rotation chain if there is one); a new key is generated
    /// and the statement "old → new", signed by the old key, appended to
    /// the chain in memory; the old key files are copied into
    /// [`KeyStore::retired_dir`] as `<instance>.<OLD KEY ID>.key` and
    /// `.pub` (never overwriting); the new key replaces
    /// `<instance>.key` and `<instance>.pub`; the chain is written to
    /// [`KeyStore::rotations_path`]. Each file is written atomically. If the
    /// process dies between the last two steps, the old key is still in
    /// `retired/` and the next load of the chain reports that it does not
    /// end at the instance key (`docs/keys.md` says how to recover).
    ///
    /// # Errors
    /// As [`KeyStore::load`]; [`Error::RotationFile`] for a chain that is
    /// invalid or does not end at the current key; I/O errors.
    pub fn rotate(&self, instance: &str) -> Result<Rotation> {
        let old = self.load(instance)?;
        let mut chain = self.load_rotations(instance)?;
        let rotations_path = self.rotations_path(instance)?;
        if let Some(last) = chain.last_key()
            && *last != old.public_key()
        {
            return Err(rotation_file(
                &rotations_path,
                RotationError::EndsElsewhere {
                    end: last.key_id(),
                    key: old.key_id(),
                },
            ));
        }
        let new = SigningKey::generate()?;
        let statement = RotationStatement::sign(instance, &old, &new.public_key())?;
        chain
            .push(statement.clone())
            .map_err(|e| rotation_file(&rotations_path, e))?;

        let retired = self.retired_dir();
        create_private_dir(&retired)?;
        let stem = format!("{instance}.{}", old.key_id());
        let retired_key = retired.join(format!("{stem}.key"));
        let contents = secret_key_file(instance, &old);
        write_file(&retired_key, contents.as_bytes(), 0o600, Replace::Never)?;
        let old_public = old.public_key().to_minisign_file();
        write_file(
            &retired.join(format!("{stem}.pub")),
            old_public.as_bytes(),
            0o644,
            Replace::Allowed,
        )?;
        sync_dir(&retired)?;

        let contents = secret_key_file(instance, &new);
        write_file(
            &self.secret_key_path(instance)?,
            contents.as_bytes(),
            0o600,
            Replace::Allowed,
        )?;
        let public = new.public_key().to_minisign_file();
        write_file(
            &self.public_key_path(instance)?,
            public.as_bytes(),
            0o644,
            Replace::Allowed,
        )?;
        write_file(
            &rotations_path,
            chain.to_text().as_bytes(),
            0o644,
            Replace::Allowed,
        )?;
        sync_dir(&self.dir)?;
        Ok(Rotation {
            old: old.public_key(),
            new,
            statement,
            retired_key,
            chain,
        })
    }

    fn load_from(&self, instance: &str, path: &Path, file: File) -> Result<SigningKey> {
        check_permissions(path, &file)?;
        let text = read_limited(path, file)?;
        let key = parse_secret_key_file(path, &text)?;
        let public_path = self.public_key_path(instance)?;
        match File::open(&public_path) {
            Ok(file) => {
                let public = read_public_key(&public_path, file)?;
                if public != key.public_key() {
                    return Err(Error::PublicKeyFileMismatch {
                        path: public_path,
                        expected: key.key_id(),
                        found: public.key_id(),
                    });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("cannot open", &public_path, source)),
        }
        Ok(key)
    }
}

fn rotation_file(path: &Path, source: RotationError) -> Error {
    Error::RotationFile {
        path: path.to_owned(),
        source: Box::new(source),
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Opens the secret key file, `None` if it does not exist.
fn open_secret_key(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error("cannot open", path, source)),
    }
}

fn read_limited(path: &Path, file: File) -> Result<Zeroizing<String>> {
    // Room for the whole allowed size, so that reading never reallocates
    // and leaves a copy of a secret behind.
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_BYTES as usize + 1));
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|source| io_error("cannot read", path, source))?;
    Ok(text)
}

fn read_public_key(path: &Path, file: File) -> Result<PublicKey> {
    let text = read_limited(path, file)?;
    PublicKey::from_minisign_file(&text).map_err(|source| Error::PublicKeyFile {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn secret_key_file(instance: &str, key: &SigningKey) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
    bytes.extend_from_slice(KEY_ALGORITHM);
    bytes.extend_from_slice(&key.key_id().to_bytes());
    bytes.extend_from_slice(key.seed().as_ref());
    bytes.extend_from_slice(&key.public_key().to_ed25519_bytes());
    let encoded = Zeroizing::new(BASE64.encode(bytes.as_slice()));
    Zeroizing::new(format!(
        "{UNTRUSTED_PREFIX}wb sync secret key for {instance} - keep it private\n{}\n",
        encoded.as_str()
    ))
}

fn parse_secret_key_file(path: &Path, text: &str) -> Result<SigningKey> {
    let malformed = |reason| Error::MalformedSecretKeyFile {
        path: path.to_owned(),
        reason,
    };
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    if !lines
        .next()
        .unwrap_or_default()
        .starts_with(UNTRUSTED_PREFIX)
    {
        return Err(malformed(
            "line 1 should start with \"untrusted comment: \"",
        ));
    }
    let encoded = lines.next().unwrap_or_default();
    if lines.any(|line| !line.is_empty()) {
        return Err(malformed("unexpected text after line 2"));
    }
    let bytes = Zeroizing::new(
        BASE64
            .decode(encoded)
            .map_err(|_| malformed("line 2 is not valid base64"))?,
    );
    let Ok(bytes) = <&[u8; SECRET_KEY_LEN]>::try_from(bytes.as_slice()) else {
        return Err(malformed("line 2 does not decode to 74 bytes"));
    };
    let (algorithm, rest) = bytes.split_at(2);
    if algorithm != KEY_ALGORITHM {
        return Err(malformed("the algorithm is not \"Ed\""));
    }
    let (key_id, rest) = rest.split_at(8);
    let (seed, public) = rest.split_at(32);
    let mut key_id_bytes = [0u8; 8];
    key_id_bytes.copy_from_slice(key_id);
    let mut seed_bytes = Zeroizing::new([0u8; 32]);
    seed_bytes.copy_from_slice(seed);
    let key = SigningKey::from_seed(KeyId::from_bytes(key_id_bytes), &seed_bytes);
    if key.public_key().to_ed25519_bytes() != public {
        return Err(malformed(
            "the stored public key does not match the secret key (damaged file)",
        ));
    }
    Ok(key)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Never,
    Allowed,
}

/// Writes `contents` to `path` atomically: a temporary file with `mode`
/// in the same directory, flushed, then moved into place. With
/// [`Replace::Never`] an existing file is left alone and
/// [`Error::KeyExists`] returned.
fn write_file(path: &Path, contents: &[u8], mode: u32, replace: Replace) -> Result<()> {
    let temporary = temporary_path(path)?;
    let result = write_temporary(&temporary, contents, mode)
        .and_then(|()| move_into_place(&temporary, path, replace));
    if result.is_err() {
        // Best effort: the temporary file may not exist.
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn temporary_path(path: &Path) -> Result<PathBuf> {
    let mut random = [0u8; 8];
    rand_core::TryRng::try_fill_bytes(&mut getrandom::SysRng, &mut random).map_err(Error::Rng)?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let suffix: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(path.with_file_name(format!(".{name}.tmp-{suffix}")))
}

fn write_temporary(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|source| io_error("cannot create", path, source))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error("cannot write", path, source))
}

fn move_into_place(temporary: &Path, path: &Path, replace: Replace) -> Result<()> {
    match replace {
        Replace::Allowed => {
            fs::rename(temporary, path).map_err(|source| io_error("cannot write", path, source))
        }
        Replace::Never => match fs::hard_link(temporary, path) {
            Ok(()) => fs::remove_file(temporary)
                .map_err(|source| io_error("cannot remove", temporary, source)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(Error::KeyExists {
                path: path.to_owned(),
            }),
            // Some file systems have no hard links: check, then rename.
            Err(_) if fs::symlink_metadata(path).is_ok() => Err(Error::KeyExists {
                path: path.to_owned(),
            }),
            Err(_) => {
                fs::rename(temporary, path).map_err(|source| io_error("cannot write", path, source))
            }
        },
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|source| io_error("cannot create directory", dir, source))
}

/// Makes the new directory entries durable (Unix only; elsewhere a no-op).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io_error("cannot sync directory", dir, source))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Refuses a secret key file that group or others may access (Unix only).
fn check_permissions(path: &Path, file: &File) -> Result<()> {
    let metadata = file
        .metadata()
        .map_err(|source| io_error("cannot read", path, source))?;
    if !metadata.is_file() {
        return Err(Error::MalformedSecretKeyFile {
            path: path.to_owned(),
            reason: "not a regular file",
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}
