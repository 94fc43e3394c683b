//! Key files: permissions, no overwrite, load_or_generate once, damage
//! detected, names validated, secrets kept out of Debug.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use wb_crypto::{Created, Error, KeyStore, PublicKey};

use crate::TestResult;

const INSTANCE: &str = "alpha.example";

fn mode(path: &std::path::Path) -> Result<u32, std::io::Error> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn generate_writes_owner_only_secret_and_minisign_public_key() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path().join(".sync/keys"));
    let key = store.generate(INSTANCE)?;

    let secret_path = store.secret_key_path(INSTANCE)?;
    let public_path = store.public_key_path(INSTANCE)?;
    assert_eq!(
        secret_path,
        temp.path().join(".sync/keys/alpha.example.key")
    );
    assert_eq!(
        public_path,
        temp.path().join(".sync/keys/alpha.example.pub")
    );
    assert_eq!(mode(&secret_path)?, 0o600);
    assert_eq!(mode(store.dir())?, 0o700);

    let public_file = fs::read_to_string(&public_path)?;
    assert_eq!(
        PublicKey::from_minisign_file(&public_file)?,
        key.public_key()
    );
    assert_eq!(public_file, key.public_key().to_minisign_file());
    assert_eq!(store.load_public(INSTANCE)?, key.public_key());

    let secret_file = fs::read_to_string(&secret_path)?;
    assert!(secret_file.starts_with("untrusted comment: wb sync secret key for alpha.example"));
    assert_eq!(secret_file.lines().count(), 2);

    let loaded = store.load(INSTANCE)?;
    assert_eq!(loaded.public_key(), key.public_key());
    assert_eq!(loaded.sign(b"x"), key.sign(b"x"));
    let leftovers: Vec<_> = fs::read_dir(store.dir())?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
    Ok(())
}

#[test]
fn generate_refuses_to_overwrite() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    let first = store.generate(INSTANCE)?;
    let outcome = store.generate(INSTANCE);
    assert!(
        matches!(outcome, Err(Error::KeyExists { .. })),
        "{outcome:?}"
    );
    assert_eq!(store.load(INSTANCE)?.public_key(), first.public_key());
    Ok(())
}

#[test]
fn group_or_world_readable_secret_key_is_refused() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    store.generate(INSTANCE)?;
    let path = store.secret_key_path(INSTANCE)?;
    for bad in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad))?;
        let outcome = store.load(INSTANCE);
        let Err(error @ Error::InsecurePermissions { .. }) = outcome else {
            return Err(format!("mode {bad:o}: expected a refusal, got {outcome:?}").into());
        };
        let message = error.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
        let outcome = store.load_or_generate(INSTANCE);
        assert!(
            matches!(outcome, Err(Error::InsecurePermissions { .. })),
            "{outcome:?}"
        );
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400))?;
    store.load(INSTANCE)?;
    Ok(())
}

#[test]
fn load_or_generate_creates_exactly_once() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path().join("keys"));
    let (first, created) = store.load_or_generate(INSTANCE)?;
    assert_eq!(created, Created::New);
    for _ in 0..3 {
        let (again, created) = store.load_or_generate(INSTANCE)?;
        assert_eq!(created, Created::Existing);
        assert_eq!(again.public_key(), first.public_key());
    }
    let (other, created) = store.load_or_generate("beta.example")?;
    assert_eq!(created, Created::New);
    assert_ne!(other.public_key(), first.public_key());
    assert_ne!(other.key_id(), first.key_id());
    Ok(())
}

#[test]
fn missing_key_is_an_error_naming_the_path() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    let outcome = store.load(INSTANCE);
    let Err(error @ Error::Io { .. }) = outcome else {
        return Err(format!("expected an I/O error, got {outcome:?}").into());
    };
    assert!(error.to_string().contains("alpha.example.key"), "{error}");
    Ok(())
}

#[test]
fn damaged_key_files_are_refused() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    store.generate(INSTANCE)?;
    let path = store.secret_key_path(INSTANCE)?;
    let good = fs::read_to_string(&path)?;
    let (comment, line) = good.split_once('\n').ok_or("two lines")?;

    // Change one base64 character in the stored public key part.
    let mut damaged_line = line.trim_end().to_owned();
    let last = damaged_line.len() - 4;
    let replacement = if &damaged_line[last..=last] == "A" {
        "B"
    } else {
        "A"
    };
    damaged_line.replace_range(last..=last, replacement);
    for damaged in [
        format!("{comment}\n{damaged_line}\n"),
        format!("{comment}\n"),
        format!("comment\n{line}"),
        format!("{comment}\n{line}extra\n"),
    ] {
        fs::write(&path, damaged)?;
        let outcome = store.load(INSTANCE);
        assert!(
            matches!(outcome, Err(Error::MalformedSecretKeyFile { .. })),
            "{outcome:?}"
        );
    }

    // A public key file holding another key.
    fs::write(&path, &good)?;
    let other = KeyStore::new(temp.path().join("other")).generate(INSTANCE)?;
    fs::write(
        store.public_key_path(INSTANCE)?,
        other.public_key().to_minisign_file(),
    )?;
    let outcome = store.load(INSTANCE);
    assert!(
        matches!(outcome, Err(Error::PublicKeyFileMismatch { .. })),
        "{outcome:?}"
    );
    Ok(())
}

#[test]
fn instance_names_cannot_escape_the_directory() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path().join("keys"));
    for name in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "a..b",
        "Alpha",
        "-a",
        "a.",
    ] {
        for outcome in [
            store.generate(name).map(|_| ()),
            store.load(name).map(|_| ()),
            store.load_or_generate(name).map(|_| ()),
            store.secret_key_path(name).map(|_| ()),
            store.public_key_path(name).map(|_| ()),
        ] {
            assert!(
                matches!(outcome, Err(Error::InvalidInstanceName { .. })),
                "{name:?}: {outcome:?}"
            );
        }
    }
    assert!(!temp.path().join("keys").exists(), "nothing was created");
    Ok(())
}

#[test]
fn debug_output_shows_only_the_key_id() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    let key = store.generate(INSTANCE)?;
    let debug = format!("{key:?}");
    assert!(debug.contains(&key.key_id().to_string()), "{debug}");
    let secret_line = fs::read_to_string(store.secret_key_path(INSTANCE)?)?;
    let secret_line = secret_line.lines().nth(1).ok_or("line 2")?;
    assert!(!debug.contains(&secret_line[..16]), "{debug}");
    assert_eq!(
        debug,
        format!("SigningKey {{ key_id: KeyId({}), .. }}", key.key_id())
    );
    Ok(())
}

/// `docs/keys.md`: key files may have CRLF line ends, no final newline and
/// empty lines after line 2 (as minisign's); any other text there is
/// refused, and so is a secret key line with spaces around it.
#[test]
fn key_files_line_ends_and_trailing_lines() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path().join(".sync/keys"));
    let key = store.generate(INSTANCE)?;
    let secret_path = store.secret_key_path(INSTANCE)?;
    let public_path = store.public_key_path(INSTANCE)?;
    let secret = fs::read_to_string(&secret_path)?;
    let public = fs::read_to_string(&public_path)?;
    let write = |path: &std::path::Path, text: &str| -> TestResult {
        fs::write(path, text)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        Ok(())
    };
    for (secret_text, public_text) in [
        (secret.replace('\n', "\r\n"), public.replace('\n', "\r\n")),
        (secret.trim_end().to_owned(), public.trim_end().to_owned()),
        (format!("{secret}\n\n"), format!("{public}\r\n\n")),
    ] {
        write(&secret_path, &secret_text)?;
        write(&public_path, &public_text)?;
        assert_eq!(store.load(INSTANCE)?.public_key(), key.public_key());
        assert_eq!(store.load_public(INSTANCE)?, key.public_key());
    }
    write(&public_path, &public)?;
    for bad in [format!("{secret}more\n"), secret.replacen('\n', "\n ", 1)] {
        write(&secret_path, &bad)?;
        assert!(store.load(INSTANCE).is_err(), "{bad:?} accepted");
    }
    write(&secret_path, &secret)?;
    write(&public_path, &format!("{public}more\n"))?;
    assert!(store.load_public(INSTANCE).is_err());
    Ok(())
}

#[test]
fn rotate_replaces_the_key_keeps_the_old_one_and_extends_the_chain() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path().join("keys"));
    assert!(store.load_rotations(INSTANCE)?.is_empty());
    let first = store.generate(INSTANCE)?;

    let rotation = store.rotate(INSTANCE)?;
    assert_eq!(rotation.old, first.public_key());
    let second = store.load(INSTANCE)?;
    assert_eq!(second.public_key(), rotation.new.public_key());
    assert_ne!(second.public_key(), first.public_key());
    assert_eq!(store.load_public(INSTANCE)?, second.public_key());
    // The old secret key is kept, owner-only, and still signs as before.
    assert_eq!(
        rotation.retired_key,
        store
            .retired_dir()
            .join(format!("{INSTANCE}.{}.key", first.key_id()))
    );
    assert_eq!(mode(&rotation.retired_key)?, 0o600);
    assert_eq!(mode(&store.retired_dir())?, 0o700);
    let public = fs::read_to_string(
        store
            .retired_dir()
            .join(format!("{INSTANCE}.{}.pub", first.key_id())),
    )?;
    assert_eq!(PublicKey::from_minisign_file(&public)?, first.public_key());
    let kept = fs::read_to_string(&rotation.retired_key)?;
    assert!(kept.starts_with("untrusted comment: wb sync secret key for alpha.example"));

    // The chain is on disk and leads from the first key to the second.
    let chain = store.load_rotations(INSTANCE)?;
    assert_eq!(chain, rotation.chain);
    assert_eq!(
        fs::read_to_string(store.rotations_path(INSTANCE)?)?,
        chain.to_text()
    );
    chain.verify_path(INSTANCE, &first.public_key(), &second.public_key())?;

    // A second rotation extends it.
    let third = store.rotate(INSTANCE)?.new;
    let chain = store.load_rotations(INSTANCE)?;
    assert_eq!(chain.statements().len(), 2);
    assert_eq!(
        chain
            .verify_path(INSTANCE, &first.public_key(), &third.public_key())?
            .len(),
        2
    );
    assert_eq!(
        chain
            .verify_path(INSTANCE, &second.public_key(), &third.public_key())?
            .len(),
        1
    );
    let retired: Vec<_> = fs::read_dir(store.retired_dir())?.collect::<Result<_, _>>()?;
    assert_eq!(retired.len(), 4, "two keys, each .key and .pub");
    Ok(())
}

#[test]
fn rotate_refuses_without_a_key_or_with_a_chain_ending_elsewhere() -> TestResult {
    let temp = tempfile::tempdir()?;
    let store = KeyStore::new(temp.path());
    let outcome = store.rotate(INSTANCE);
    assert!(matches!(outcome, Err(Error::Io { .. })), "{outcome:?}");
    assert!(!store.retired_dir().exists());

    store.generate(INSTANCE)?;
    store.rotate(INSTANCE)?;
    // The key was replaced behind the chain's back (an interrupted
    // rotation, a hand edit): rotating again would break the chain.
    fs::remove_file(store.secret_key_path(INSTANCE)?)?;
    fs::remove_file(store.public_key_path(INSTANCE)?)?;
    let stray = store.generate(INSTANCE)?;
    let before = fs::read_to_string(store.rotations_path(INSTANCE)?)?;
    let outcome = store.rotate(INSTANCE);
    let Err(error @ Error::RotationFile { .. }) = outcome else {
        return Err(format!("expected a refusal, got {outcome:?}").into());
    };
    assert!(
        error.to_string().contains("alpha.example.rotations"),
        "{error}"
    );
    assert_eq!(store.load(INSTANCE)?.public_key(), stray.public_key());
    assert_eq!(fs::read_to_string(store.rotations_path(INSTANCE)?)?, before);

    // A chain file that is not a chain is named.
    fs::write(store.rotations_path(INSTANCE)?, "garbage\n")?;
    let outcome = store.load_rotations(INSTANCE);
    assert!(
        matches!(outcome, Err(Error::RotationFile { .. })),
        "{outcome:?}"
    );
    Ok(())
}
