//! Dashboard sessions: a browser that logged in with a key, by the token in its cookie; and
//! how many failed logins an address may make.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

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

/// Failed logins an address may make in [`LOGIN_WINDOW`] before its next attempts are
/// refused unread until the window ends. Keys are 256-bit random, so guessing one is hopeless
/// anyway; the limit keeps a script from hammering the key check and the audit of failures.
pub(crate) const LOGIN_FAILURES: u32 = 10;
/// See [`LOGIN_FAILURES`].
pub(crate) const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// Session tokens → who logged in; addresses → their recent failed logins.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<Option<IpAddr>, Failures>>,
}

/// An address's failed logins in the window that began at `since`.
struct Failures {
    since: Instant,
    count: u32,
}

/// The address a request came from: `None` when the server was not told (a router driven in
/// process). Those requests share one allowance.
pub(crate) struct ClientAddress(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ConnectInfo(socket)| socket.ip());
        Ok(ClientAddress(address))
    }
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

    /// How long `from` must wait before its next login is read: `None` when it may try now.
    pub(crate) fn login_wait(&self, from: Option<IpAddr>) -> Option<Duration> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = failures.get(&from)?;
        let ends = recent.since + LOGIN_WINDOW;
        (recent.count >= LOGIN_FAILURES)
            .then(|| ends.saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }

    /// Counts a failed login from `from`.
    pub(crate) fn login_failed(&self, from: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Old windows go, so the map holds only the addresses of the last few minutes.
        failures.retain(|_, recent| now.duration_since(recent.since) < LOGIN_WINDOW);
        let recent = failures.entry(from).or_insert(Failures { since: now, count: 0 });
        recent.count += 1;
    }

    /// A login from `from` succeeded: its failures are forgotten.
    pub(crate) fn login_succeeded(&self, from: Option<IpAddr>) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&from);
    }

    pub(crate) fn close(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token);
    }
}
