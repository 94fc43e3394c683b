//! What the server remembers: the instance, the start-up token, and the
//! sessions of the browsers that opened the token URL (in memory: this is a
//! single-operator tool, and a restart asks for the new URL anyway).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use wb_engine::Instance;

use crate::AdminError;
use crate::secret::{Secret, session_key};

/// At most this many sessions live at once; opening the token URL again
/// beyond that ends the oldest.
const MAX_SESSIONS: usize = 64;

/// How a flash message reads: an outcome, or a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlashKind {
    /// Something changed (or nothing needed to).
    Done,
    /// Refused; nothing changed.
    Refused,
}

/// A one-time message shown on the next page of the session.
#[derive(Clone, Debug)]
pub(crate) struct Flash {
    pub(crate) kind: FlashKind,
    pub(crate) text: String,
}

impl Flash {
    pub(crate) fn done(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Done,
            text: text.into(),
        }
    }

    pub(crate) fn refused(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Refused,
            text: text.into(),
        }
    }
}

#[derive(Debug)]
struct SessionData {
    csrf: Secret,
    acting: Option<String>,
    flash: Option<Flash>,
    opened: Instant,
}

/// A snapshot of one session, as a request handler sees it.
#[derive(Clone, Debug)]
pub(crate) struct SessionView {
    pub(crate) key: [u8; 32],
    pub(crate) csrf: Secret,
    pub(crate) acting: Option<String>,
}

/// The admin UI's shared state: cheap to clone, one per server.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

struct Inner {
    instance: Instance,
    instance_dir: Option<PathBuf>,
    token: Secret,
    sessions: Mutex<HashMap<[u8; 32], SessionData>>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState")
            .field("instance", self.inner.instance.name())
            .field("token", &self.inner.token)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// State for serving `instance`, with a fresh secret start-up token.
    pub fn new(instance: Instance) -> Result<Self, AdminError> {
        Ok(Self {
            inner: Arc::new(Inner {
                instance,
                instance_dir: None,
                token: Secret::generate()?,
                sessions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The path and query that open a session: `/?token=…`. It carries the
    /// secret: show it to the operator only.
    pub fn login_path(&self) -> String {
        format!("/?token={}", self.inner.token.expose())
    }

    /// The instance served.
    pub fn instance(&self) -> &Instance {
        &self.inner.instance
    }

    /// The same state, knowing the instance's directory (`wb -C DIR`), where
    /// the sync status page finds the signing key, the export and the peer
    /// registry. Call before the state is shared.
    #[must_use]
    pub fn with_instance_dir(self, dir: Option<PathBuf>) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            instance: shared.instance.clone(),
            instance_dir: None,
            token: shared.token.clone(),
            sessions: Mutex::new(HashMap::new()),
        });
        Self {
            inner: Arc::new(Inner {
                instance_dir: dir,
                ..inner
            }),
        }
    }

    /// The instance's directory, when known.
    pub fn instance_dir(&self) -> Option<&Path> {
        self.inner.instance_dir.as_deref()
    }

    pub(crate) fn token_matches(&self, candidate: &str) -> bool {
        self.inner.token.matches(candidate)
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<[u8; 32], SessionData>> {
        // A panic while holding the lock leaves the map consistent (every
        // update is a single insert or field write), so keep using it.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a session and returns its cookie value.
    pub(crate) fn open_session(&self) -> Result<Secret, AdminError> {
        let cookie = Secret::generate()?;
        let data = SessionData {
            csrf: Secret::generate()?,
            acting: None,
            flash: None,
            opened: Instant::now(),
        };
        let mut sessions = self.sessions();
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(key, _)| *key)
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(session_key(cookie.expose()), data);
        Ok(cookie)
    }

    /// The session a cookie value opens, if any.
    pub(crate) fn session(&self, cookie_value: &str) -> Option<SessionView> {
        let key = session_key(cookie_value);
        self.sessions().get(&key).map(|s| SessionView {
            key,
            csrf: s.csrf.clone(),
            acting: s.acting.clone(),
        })
    }

    pub(crate) fn close_session(&self, key: &[u8; 32]) {
        self.sessions().remove(key);
    }

    pub(crate) fn set_acting(&self, key: &[u8; 32], username: Option<String>) {
        if let Some(s) = self.sessions().get_mut(key) {
            s.acting = username;
        }
    }

    pub(crate) fn set_flash(&self, key: &[u8; 32], flash: Flash) {
        if let Some(s) = self.sessions().get_mut(key) {
            s.flash = Some(flash);
        }
    }

    pub(crate) fn take_flash(&self, key: &[u8; 32]) -> Option<Flash> {
        self.sessions().get_mut(key).and_then(|s| s.flash.take())
    }
}
