//! Dashboard sessions: a browser that logged in with a key, by the token in its cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "rctgate_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// One logged-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    /// The key it logged in with, checked again on every page.
    pub(crate) key_id: String,
    /// The token its forms must carry.
    pub(crate) csrf: String,
    expires: Instant,
}

/// Session tokens → who logged in.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

impl Sessions {
    pub(crate) fn open(&self, key_id: String) -> String {
        let token = random_token();
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, session| session.expires > Instant::now());
        map.insert(
            token.clone(),
            Session {
                key_id,
                csrf: random_token(),
                expires: Instant::now() + SESSION_TTL,
            },
        );
        token
    }

    pub(crate) fn find(&self, token: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token)
            .filter(|session| session.expires > Instant::now())
            .cloned()
    }

    pub(crate) fn close(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token);
    }
}
