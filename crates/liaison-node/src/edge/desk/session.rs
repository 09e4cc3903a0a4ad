//! Desk sessions: a random id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict),
//! a CSRF token per session that every form carries, idle and absolute expiry, and a
//! brake on password guessing. In memory only: a restart signs everyone out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use rand::RngCore as _;

/// The session cookie's name (`__Host-`: only set over HTTPS, for this host, path `/`).
pub const COOKIE: &str = "__Host-liaison-desk";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Most sessions held at once (signed in or not); beyond it, expired ones are dropped
/// and, if that is not enough, the oldest anonymous ones.
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins for one name from one address before that address is held back
/// for that name.
const MAX_FAILURES: u32 = 5;
/// Failed sign-ins for one name from all addresses together before the name is held
/// back everywhere: someone guessing from many addresses. Ten times the per-address
/// limit, so one mistyping (or hostile) machine cannot hold an officer out on its own.
const MAX_FAILURES_ANYWHERE: u32 = 50;
/// How long a name is held back after too many failures.
const LOCKOUT: Duration = Duration::from_secs(60);

/// Whose failed sign-ins are counted: a name, from one address or from anywhere.
type FailureKey = (String, Option<IpAddr>);

/// One session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The officer signed in, if any.
    pub officer: Option<String>,
    /// When that officer was added: a session outlives neither their removal nor
    /// someone added later under the same name.
    pub officer_added: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The client certificate (SHA-256, hex) the officer signed in with: every
    /// request of the session must come over a connection presenting it.
    pub certificate: Option<String>,
    started: Instant,
    last_seen: Instant,
}

/// The desk's sessions and sign-in failures.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins by name, from one address (`Some`) or from anywhere (`None`):
    /// how many lately, and the last.
    failures: Mutex<HashMap<FailureKey, (u32, Instant)>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

/// The session id in a request's cookies.
pub fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value for session `id`.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) < IDLE && now.duration_since(self.started) < ABSOLUTE
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session `id`, touched.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut sessions = self.lock();
        match sessions.get_mut(id) {
            Some(s) if s.live(now) => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// A new anonymous session (for the sign-in and enrolment forms): its id.
    pub fn start(&self) -> (String, Session) {
        self.insert(None, String::new(), None)
    }

    fn insert(
        &self,
        officer: Option<String>,
        officer_added: String,
        certificate: Option<String>,
    ) -> (String, Session) {
        let now = Instant::now();
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.live(now));
        }
        if sessions.len() >= MAX_SESSIONS {
            // Someone is making sessions in bulk: anonymous ones go first.
            let mut anonymous: Vec<(String, Instant)> = sessions
                .iter()
                .filter(|(_, s)| s.officer.is_none())
                .map(|(id, s)| (id.clone(), s.started))
                .collect();
            anonymous.sort_by_key(|(_, started)| *started);
            for (id, _) in anonymous.into_iter().take(MAX_SESSIONS / 10 + 1) {
                sessions.remove(&id);
            }
        }
        let session = Session {
            officer,
            officer_added,
            csrf: random_token(),
            certificate,
            started: now,
            last_seen: now,
        };
        let id = random_token();
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// Signs `officer` in (with the client certificate `certificate`, if that is how):
    /// the old session (if any) ends and a new id is issued, so an id planted before
    /// sign-in is worth nothing after it.
    pub fn sign_in(
        &self,
        old: Option<&str>,
        officer: &str,
        added: &str,
        certificate: Option<&str>,
    ) -> (String, Session) {
        if let Some(old) = old {
            self.lock().remove(old);
        }
        // A success forgives the name's failures everywhere.
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(name, _), _| name != officer);
        self.insert(
            Some(officer.to_owned()),
            added.to_owned(),
            certificate.map(str::to_owned),
        )
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Whether `name` may try a password from address `from` now: neither that
    /// address nor everyone together has failed too often for the name lately.
    pub fn may_try(&self, name: &str, from: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let under =
            |address: Option<IpAddr>, max: u32| match failures.get(&(name.to_owned(), address)) {
                Some((count, last)) => *count < max || last.elapsed() >= LOCKOUT,
                None => true,
            };
        under(Some(from), MAX_FAILURES) && under(None, MAX_FAILURES_ANYWHERE)
    }

    /// Counts a failed sign-in for `name` from address `from`.
    pub fn failed(&self, name: &str, from: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_SESSIONS {
            failures.retain(|_, (_, last)| last.elapsed() < LOCKOUT);
        }
        for address in [Some(from), None] {
            let entry = failures
                .entry((name.to_owned(), address))
                .or_insert((0, Instant::now()));
            if entry.1.elapsed() >= LOCKOUT {
                entry.0 = 0;
            }
            entry.0 += 1;
            entry.1 = Instant::now();
        }
    }
}

/// Whether `sent` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &Session, sent: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), sent.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_rotates_the_id_and_failures_hold_a_name_back() {
        let sessions = Sessions::default();
        let (anonymous, first) = sessions.start();
        assert!(first.officer.is_none());
        let (signed, session) =
            sessions.sign_in(Some(&anonymous), "anna", "2026-11-29T00:00:00.000Z", None);
        assert_ne!(signed, anonymous);
        assert!(sessions.get(&anonymous).is_none(), "the planted id is gone");
        assert_eq!(
            sessions.get(&signed).unwrap().officer.as_deref(),
            Some("anna")
        );
        assert!(csrf_matches(&session, &session.csrf));
        assert!(!csrf_matches(&session, "forged"));
        sessions.end(&signed);
        assert!(sessions.get(&signed).is_none());

        let (here, there) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..MAX_FAILURES {
            assert!(sessions.may_try("bob", here));
            sessions.failed("bob", here);
        }
        assert!(
            !sessions.may_try("bob", here),
            "held back from that address"
        );
        assert!(sessions.may_try("bob", there), "not from another");
        assert!(sessions.may_try("anna", here), "nor for another name");
        // From many addresses together: the name is held back everywhere.
        for n in 0..MAX_FAILURES_ANYWHERE {
            sessions.failed("carl", IpAddr::from([10, 1, 0, n as u8]));
        }
        assert!(!sessions.may_try("carl", there));
        // A sign-in forgives the name's failures.
        sessions.sign_in(None, "bob", "2026-11-29T00:00:00.000Z", None);
        assert!(sessions.may_try("bob", here));
    }

    #[test]
    fn cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE}=xyz; c=d").parse().unwrap(),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("xyz"));
    }
}
