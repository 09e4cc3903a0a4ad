//! The desk: a web interface for liaison officers, served by the node (off unless
//! `[desk] listen` is set) over HTTPS with the node's TLS certificate.
//!
//! Every field of a received bulletin is another agency's input, so: pages are
//! rendered on the server by maud, which escapes every value; no inline script or
//! style exists, and a strict Content-Security-Policy (`script-src 'self'`, no
//! `unsafe-inline`, no `unsafe-eval`) forbids them should one ever slip through; htmx is
//! vendored and configured without eval or script tags; forms carry a per-session CSRF
//! token and cookies are `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`;
//! attachments are served as downloads (`application/octet-stream`, `Content-
//! Disposition: attachment`, `nosniff`, a sandboxing CSP); the desk makes no request
//! elsewhere. Officers and what they may do: `trust::officers`; every read and action
//! is in the log under their name.

mod pages;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use liaison_core::{BulletinId, Entity, Tlp};
use maud::Markup;
use serde::Deserialize;
use tokio::sync::watch;

use self::pages::{Draft, Viewer};
use self::session::{Session, Sessions};
use crate::error::Error;
use crate::node::state::NodeState;
use crate::ops::bulletins::{self, Direction, Recipients, views};
use crate::ops::officers::{reader, record_action};
use crate::runtime::accept::TlsListener;
use crate::trust::clients::Role;
use crate::trust::officers::OfficerRecord;

/// The desk's security headers, on every response.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Largest request body: a bulletin with 8 MiB of attachments.
const MAX_BODY: usize = 9 * 1024 * 1024;
/// Largest attachments (all files together) composed at the desk.
const MAX_ATTACHMENT: usize = 8 * 1024 * 1024;
/// Most files attached to a bulletin composed at the desk.
const MAX_ATTACHMENT_FILES: usize = 16;
/// Bulletins an inbox page shows.
const INBOX_PAGE: usize = 200;

const HTMX: &[u8] = include_bytes!("assets/htmx.min.js");
const CSS: &str = include_str!("assets/desk.css");

/// A browser's connection: its address (for the log of sign-ins) and the client
/// certificate it presented, judged when the connection was made.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    /// Where it connected from.
    pub remote: SocketAddr,
    /// The certificate's SHA-256 (hex) if it is a client certificate of the agency's
    /// CA, why not if it is not, `None` if there was none.
    pub certificate: Option<Result<String, String>>,
}

impl Browser {
    /// The SHA-256 of the agency client certificate the connection presented.
    fn certificate(&self) -> Option<&str> {
        match &self.certificate {
            Some(Ok(sha256)) => Some(sha256),
            _ => None,
        }
    }
}

impl std::fmt::Display for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.remote.fmt(f)
    }
}

/// Connections to the desk, named by the browser's address.
pub(crate) type DeskListener = TlsListener<Browser>;

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, DeskListener>>
    for Browser
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, DeskListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The response a handler gives instead of its page (sign-in, 403), boxed: it is
/// large and rare.
type Refusal = Box<Response>;

#[derive(Clone)]
struct Desk {
    state: Arc<NodeState>,
    sessions: Arc<Sessions>,
    marks: Arc<ReadMarks>,
}

/// Serves the desk on `listener` until `stop` changes.
pub(crate) async fn serve(
    listener: DeskListener,
    state: Arc<NodeState>,
    mut stop: watch::Receiver<bool>,
) {
    let desk = Desk {
        state,
        sessions: Arc::default(),
        marks: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/desk.css", get(css))
        .route("/login", get(login_form).post(login))
        .route("/login/certificate", post(login_certificate))
        .route("/logout", post(logout))
        .route("/enrol/{token}", get(enrol_form).post(enrol))
        .route("/inbox", get(inbox))
        .route("/bulletin/{id}", get(bulletin))
        .route("/bulletin/{id}/attachment/{number}", get(attachment))
        .route("/bulletin/{id}/ack", post(acknowledge))
        .route("/bulletin/{id}/onward/{action}", post(onward))
        .route("/compose", get(compose_form).post(compose))
        .route("/compose/preview", get(preview))
        .route("/search", get(search))
        .route("/query", get(query_form).post(query))
        .route("/partners", get(partners))
        .route("/log", get(log))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            desk.clone(),
            certificate_sessions,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(desk);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<Browser>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    {
        tracing::error!(error = %e, "the desk stopped");
    }
}

/// A session signed in with a client certificate lives only on connections that
/// present that certificate, and only while it is still the officer's: a cookie
/// copied to another browser, or kept after the certificate was replaced, ends the
/// session.
async fn certificate_sessions(
    State(desk): State<Desk>,
    ConnectInfo(browser): ConnectInfo<Browser>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = session::cookie_of(request.headers());
    let bound = id.as_deref().and_then(|id| {
        let session = desk.sessions.get(id)?;
        let certificate = session.certificate?;
        Some((
            id.to_owned(),
            session.officer.unwrap_or_default(),
            certificate,
        ))
    });
    if let Some((id, officer, certificate)) = bound {
        let presented = browser.certificate() == Some(certificate.as_str());
        let still_theirs = desk
            .state
            .officers
            .get(&officer)
            .and_then(|r| r.certificate_sha256)
            .is_some_and(|current| current == certificate);
        if !presented || !still_theirs {
            desk.sessions.end(&id);
            tracing::warn!(%officer, %browser, presented, still_theirs,
                "desk session ended: its sign-in certificate is not on this connection or no longer the officer's");
            return with_cookie(
                Redirect::to("/login").into_response(),
                Some(session::clear_cookie()),
            );
        }
    }
    next.run(request).await
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // An attachment download sets its own, stricter policy.
    if !headers.contains_key("content-security-policy") {
        headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        // `same-origin`, not `no-referrer`: with the latter browsers send `Origin: null` on
        // form posts, and the origin check below could not tell the desk from elsewhere.
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
        ("strict-transport-security", "max-age=31536000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn htmx() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        HTMX,
    )
        .into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn html(markup: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// What a handler knows about the caller once signed in.
struct Officer {
    record: OfficerRecord,
    session: Session,
}

impl Officer {
    fn viewer<'a>(&'a self, agency: &'a str) -> Viewer<'a> {
        Viewer {
            officer: Some(&self.record.name),
            csrf: &self.session.csrf,
            agency,
            may_publish: self.record.has(Role::Publish),
            may_audit: self.record.has(Role::Admin),
        }
    }

    fn reader(&self) -> String {
        reader(&self.record.name)
    }
}

impl Desk {
    fn agency(&self) -> String {
        self.state.node().config().agency.to_string()
    }

    /// The signed-in officer behind `headers` holding `role`, or the response to give
    /// instead: the sign-in page, or 403 naming the role.
    fn officer(&self, headers: &HeaderMap, role: Role) -> Result<Officer, Refusal> {
        let session = session::cookie_of(headers).and_then(|id| self.sessions.get(&id));
        let Some(session) = session else {
            return Err(Box::new(Redirect::to("/login").into_response()));
        };
        // Removed since they signed in: the session ends now.
        let Some(record) = session
            .officer
            .as_deref()
            .and_then(|name| self.state.officers.get(name))
            .filter(|record| record.added_at == session.officer_added)
        else {
            return Err(Box::new(Redirect::to("/login").into_response()));
        };
        if !record.has(role) {
            let officer = Officer { record, session };
            let agency = self.agency();
            let page = pages::problem(
                &officer.viewer(&agency),
                "Not permitted",
                &format!("officer {} lacks the `{role}` role", officer.record.name),
            );
            return Err(Box::new(
                (StatusCode::FORBIDDEN, html(page)).into_response(),
            ));
        }
        Ok(Officer { record, session })
    }

    /// The session for a form that is sent before signing in (sign-in, enrolment),
    /// started if there is none, with the cookie to set.
    fn anonymous(&self, headers: &HeaderMap) -> (Session, Option<String>) {
        match session::cookie_of(headers).and_then(|id| self.sessions.get(&id)) {
            Some(session) => (session, None),
            None => {
                let (id, session) = self.sessions.start();
                (session, Some(session::set_cookie(&id)))
            }
        }
    }

    /// A POST's session, if its CSRF token is the session's and it comes from this
    /// origin.
    fn checked_post(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Refusal> {
        let same_origin = match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
            (Some(origin), Some(host)) => {
                origin
                    .to_str()
                    .ok()
                    .map(|o| o.trim_start_matches("https://"))
                    == host.to_str().ok()
            }
            // Browsers send Origin on every POST; a request without one is not a
            // browser's form post from elsewhere.
            (None, _) => true,
            (Some(_), None) => false,
        };
        let session = session::cookie_of(headers).and_then(|id| self.sessions.get(&id));
        match session {
            Some(s) if same_origin && session::csrf_matches(&s, csrf) => Ok(s),
            _ => {
                tracing::warn!("desk form refused: missing or wrong CSRF token or origin");
                Err(Box::new(
                    (
                        StatusCode::FORBIDDEN,
                        "This form has expired or did not come from the desk. Go back, reload the page and try again.",
                    )
                        .into_response(),
                ))
            }
        }
    }

    /// Runs blocking work on the node's state off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&NodeState) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(|_| Error::Internal("a desk worker failed".into()))?
    }

    /// The page for an error: what was wrong, in words, with its status.
    fn error_page(&self, officer: &Officer, error: &Error) -> Response {
        let (status, title) = match error {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            Error::InvalidRequest(_) | Error::Core(_) => (StatusCode::BAD_REQUEST, "Not accepted"),
            Error::PolicyDenied(_) => (StatusCode::FORBIDDEN, "Refused by the sharing policy"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        };
        let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %error, "desk request failed");
            "The node could not complete this; see its log.".to_owned()
        } else {
            crate::error::describe(error)
        };
        let agency = self.agency();
        (
            status,
            html(pages::problem(&officer.viewer(&agency), title, &text)),
        )
            .into_response()
    }
}

/// A form's page with what it found, or again with what was wrong (400).
fn answered<T>(
    result: Result<T, Error>,
    page: impl FnOnce(Option<&T>, Option<&str>) -> Markup,
) -> Response {
    match result {
        Ok(found) => html(page(Some(&found), None)),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            html(page(None, Some(&crate::error::describe(&e)))),
        )
            .into_response(),
    }
}

fn with_cookie(response: Response, cookie: Option<String>) -> Response {
    let mut response = response;
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn anonymous_viewer<'a>(session: &'a Session, agency: &'a str) -> Viewer<'a> {
    Viewer {
        officer: None,
        csrf: &session.csrf,
        agency,
        may_publish: false,
        may_audit: false,
    }
}

#[derive(Deserialize)]
struct LoginNotice {
    #[serde(default)]
    enrolled: Option<String>,
}

async fn login_form(
    State(desk): State<Desk>,
    ConnectInfo(browser): ConnectInfo<Browser>,
    Query(message): Query<LoginNotice>,
    headers: HeaderMap,
) -> Response {
    let (session, cookie) = desk.anonymous(&headers);
    let agency = desk.agency();
    let note = message
        .enrolled
        .is_some()
        .then_some(("Your password is set. Sign in.", false));
    let offer = desk.certificate_sign_in(&browser);
    with_cookie(
        html(pages::login(
            &anonymous_viewer(&session, &agency),
            note,
            &offer,
        )),
        cookie,
    )
}

impl Desk {
    /// The officer whose certificate `browser` presented, with its SHA-256; otherwise
    /// why not (`None`: it presented no certificate).
    fn certificate_officer<'b>(
        &self,
        browser: &'b Browser,
    ) -> Result<(OfficerRecord, &'b str), Option<String>> {
        match &browser.certificate {
            None => Err(None),
            Some(Err(why)) => Err(Some(why.clone())),
            Some(Ok(sha256)) => self
                .state
                .officers
                .by_certificate(sha256)
                .map(|officer| (officer, sha256.as_str()))
                .ok_or_else(|| {
                    Some(format!(
                        "certificate {sha256} is not an officer's, or was replaced"
                    ))
                }),
        }
    }

    /// What the sign-in page offers for the certificate `browser` presented.
    fn certificate_sign_in(&self, browser: &Browser) -> pages::CertificateSignIn {
        match self.certificate_officer(browser) {
            Ok((officer, _)) => pages::CertificateSignIn::Offered(officer.name),
            Err(None) => pages::CertificateSignIn::None,
            Err(Some(why)) => pages::CertificateSignIn::NotAccepted(why),
        }
    }

    /// The sign-in page again (401), saying why the sign-in did not happen.
    fn sign_in_refused(&self, session: &Session, browser: &Browser, why: &str) -> Response {
        let agency = self.agency();
        let page = pages::login(
            &anonymous_viewer(session, &agency),
            Some((why, true)),
            &self.certificate_sign_in(browser),
        );
        (StatusCode::UNAUTHORIZED, html(page)).into_response()
    }

    /// Starts `officer`'s session (ending the one in `headers`, if any) once the
    /// sign-in is in the log: the response setting its cookie, or the sentence to
    /// show instead.
    async fn sign_in(
        &self,
        headers: &HeaderMap,
        officer: &OfficerRecord,
        certificate: Option<&str>,
        browser: &Browser,
    ) -> Result<Response, &'static str> {
        let old = session::cookie_of(headers);
        let (id, _) = self.sessions.sign_in(
            old.as_deref(),
            &officer.name,
            &officer.added_at,
            certificate,
        );
        let event = crate::node::journal::LogEvent::OfficerSignedIn {
            officer: officer.name.clone(),
            certificate_sha256: certificate.map(str::to_owned),
        };
        if let Err(e) = self
            .blocking(move |state| Ok(state.log.append(event.entry())?))
            .await
        {
            // A sign-in that cannot be recorded does not happen.
            self.sessions.end(&id);
            tracing::error!(error = %e, "desk sign-in not recorded");
            return Err("The node cannot record the sign-in now; try again shortly.");
        }
        tracing::info!(officer = %officer.name, %browser, by_certificate = certificate.is_some(), "desk sign-in");
        Ok(with_cookie(
            Redirect::to("/inbox").into_response(),
            Some(session::set_cookie(&id)),
        ))
    }
}

/// Sign-in with the client certificate the connection presented.
async fn login_certificate(
    State(desk): State<Desk>,
    ConnectInfo(browser): ConnectInfo<Browser>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let session = match desk.checked_post(&headers, &form.csrf) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let (officer, certificate) = match desk.certificate_officer(&browser) {
        Ok(found) => found,
        Err(why) => {
            let why = why.map_or_else(
                || "Your browser presented no certificate.".to_owned(),
                |why| format!("Your browser's certificate does not sign anyone in: {why}."),
            );
            tracing::warn!(%browser, reason = %why, "desk certificate sign-in refused");
            return desk.sign_in_refused(&session, &browser, &why);
        }
    };
    match desk
        .sign_in(&headers, &officer, Some(certificate), &browser)
        .await
    {
        Ok(signed_in) => signed_in,
        Err(why) => desk.sign_in_refused(&session, &browser, why),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

async fn login(
    State(desk): State<Desk>,
    ConnectInfo(remote): ConnectInfo<Browser>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let session = match desk.checked_post(&headers, &form.csrf) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let again = |why: &str| desk.sign_in_refused(&session, &remote, why);
    if !desk.sessions.may_try(&form.name, remote.remote.ip()) {
        tracing::warn!(officer = %form.name, %remote, "desk sign-in held back after failures");
        return again("Too many failed attempts for this name; wait a minute.");
    }
    let officers = desk.state.clone();
    let (name, password) = (form.name.clone(), form.password);
    let verified = tokio::task::spawn_blocking(move || officers.officers.verify(&name, &password))
        .await
        .ok()
        .flatten();
    let Some(officer) = verified else {
        desk.sessions.failed(&form.name, remote.remote.ip());
        tracing::warn!(officer = %form.name, %remote, "desk sign-in failed");
        return again("Wrong name or password.");
    };
    match desk.sign_in(&headers, &officer, None, &remote).await {
        Ok(signed_in) => signed_in,
        Err(text) => again(text),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(desk): State<Desk>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if let Err(refused) = desk.checked_post(&headers, &form.csrf) {
        return *refused;
    }
    if let Some(id) = session::cookie_of(&headers) {
        desk.sessions.end(&id);
    }
    with_cookie(
        Redirect::to("/login").into_response(),
        Some(session::clear_cookie()),
    )
}

async fn enrol_form(
    State(desk): State<Desk>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (session, cookie) = desk.anonymous(&headers);
    let agency = desk.agency();
    let viewer = anonymous_viewer(&session, &agency);
    let page = match desk
        .state
        .officers
        .enrolling(&token, liaison_core::UnixMillis::now())
    {
        Some(officer) => html(pages::enrol(&viewer, &officer.name, &token, None)),
        None => (
            StatusCode::NOT_FOUND,
            html(pages::problem(
                &viewer,
                "Enrolment link not valid",
                "This enrolment link is unknown, used or expired; ask your desk administrator for a new one.",
            )),
        )
            .into_response(),
    };
    with_cookie(page, cookie)
}

#[derive(Deserialize)]
struct EnrolForm {
    csrf: String,
    password: String,
    confirm: String,
}

async fn enrol(
    State(desk): State<Desk>,
    Path(token): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<EnrolForm>,
) -> Response {
    let session = match desk.checked_post(&headers, &form.csrf) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let agency = desk.agency();
    let now = liaison_core::UnixMillis::now();
    let Some(officer) = desk.state.officers.enrolling(&token, now) else {
        return enrol_form(State(desk), Path(token), headers).await;
    };
    if form.password != form.confirm {
        let page = pages::enrol(
            &anonymous_viewer(&session, &agency),
            &officer.name,
            &token,
            Some("The two passwords differ."),
        );
        return (StatusCode::BAD_REQUEST, html(page)).into_response();
    }
    let result = desk
        .blocking(move |state| {
            let enrolled = state.officers.enrol(&token, &form.password, now)?;
            state.log.append(
                crate::node::journal::LogEvent::OfficerEnrolled {
                    officer: enrolled.name.clone(),
                }
                .entry(),
            )?;
            Ok(enrolled)
        })
        .await;
    match result {
        Ok(_) => Redirect::to("/login?enrolled=1").into_response(),
        Err(e) => {
            let page = pages::enrol(
                &anonymous_viewer(&session, &agency),
                &officer.name,
                "",
                Some(&crate::error::describe(&e)),
            );
            (StatusCode::BAD_REQUEST, html(page)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct InboxQuery {
    #[serde(rename = "box", default)]
    which: Option<String>,
    #[serde(default)]
    tlp: Option<String>,
    /// Older bulletins: the log entry the previous page ended at.
    #[serde(default)]
    after: Option<u64>,
}

async fn inbox(
    State(desk): State<Desk>,
    Query(q): Query<InboxQuery>,
    headers: HeaderMap,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let sent = q.which.as_deref() == Some("sent");
    let tlp_text = q.tlp.clone().unwrap_or_default();
    let tlp: Option<Tlp> = tlp_text.parse().ok();
    let after = q.after.unwrap_or(0);
    let result = desk
        .blocking(move |state| {
            let filter = bulletins::Filter {
                direction: Some(if sent { Direction::Out } else { Direction::In }),
                tlps: tlp.into_iter().collect(),
                newest_first: true,
                ..Default::default()
            };
            let (list, next) = views::bulletin_page(state, &filter, after, INBOX_PAGE)?;
            let open = views::open_requests(state)?;
            Ok((list, next, open))
        })
        .await;
    match result {
        Ok((list, next, open)) => {
            // The same box and filter, older bulletins. The TLP comes from a closed set;
            // only AMBER+STRICT's `+` needs escaping in a query.
            let older = next.map(|cursor| {
                let mut href = format!("/inbox?after={cursor}");
                if sent {
                    href.push_str("&box=sent");
                }
                if let Some(tlp) = tlp {
                    href.push_str(&format!("&tlp={}", tlp.as_str().replace('+', "%2B")));
                }
                href
            });
            // Unread: not yet opened by this officer at the desk.
            let read = desk.marks.read(&desk.state, &officer.record.name);
            let agency = desk.agency();
            html(pages::inbox(
                &officer.viewer(&agency),
                sent,
                &list,
                &open,
                &|id| !sent && !read.contains(id),
                &tlp_text,
                pages::Paging {
                    older: older.as_deref(),
                    newest: (after != 0).then_some(if sent { "/inbox?box=sent" } else { "/inbox" }),
                },
            ))
        }
        Err(e) => desk.error_page(&officer, &e),
    }
}

/// Which bulletins each officer has opened at the desk, for the inbox's unread marks:
/// one file per officer under `desk/read/`, a bulletin id per line. A convenience, not
/// a record (the consultation log is that), so appended without fsync.
#[derive(Default)]
struct ReadMarks {
    loaded: std::sync::Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>,
}

impl ReadMarks {
    fn path(state: &NodeState, officer: &str) -> std::path::PathBuf {
        // Officer names are 1-64 of a-z 0-9 . - _ (validated when added).
        state.node().dir().join("desk/read").join(officer)
    }

    fn with<T>(
        &self,
        state: &NodeState,
        officer: &str,
        f: impl FnOnce(&mut std::collections::HashSet<String>) -> T,
    ) -> T {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let marks = loaded.entry(officer.to_owned()).or_insert_with(|| {
            std::fs::read_to_string(Self::path(state, officer))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        });
        f(marks)
    }

    fn read(&self, state: &NodeState, officer: &str) -> std::collections::HashSet<String> {
        self.with(state, officer, |marks| marks.clone())
    }

    fn mark(&self, state: &NodeState, officer: &str, id: &BulletinId) {
        let id = id.to_string();
        let new = self.with(state, officer, |marks| marks.insert(id.clone()));
        if new {
            use std::io::Write as _;
            let path = Self::path(state, officer);
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                })
                .and_then(|mut f| writeln!(f, "{id}"));
            if let Err(e) = written {
                tracing::warn!(error = %e, path = %path.display(), "desk read mark not kept");
            }
        }
    }
}

fn parse_id(text: &str) -> Result<BulletinId, Error> {
    text.parse()
        .map_err(|e| Error::InvalidRequest(format!("{text:?} is not a bulletin id: {e}")))
}

#[derive(Deserialize)]
struct Shown {
    #[serde(default)]
    done: Option<String>,
}

async fn bulletin(
    State(desk): State<Desk>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let name = officer.reader();
    let result = desk
        .blocking(move |state| {
            let id = parse_id(&id)?;
            let detail = views::bulletin_show(state, &id)?;
            let thread = views::bulletin_thread(state, &id)?;
            bulletins::record_reads(state, &name, "desk bulletin", vec![id])?;
            Ok((id, detail, thread))
        })
        .await;
    let message = match shown.done.as_deref() {
        Some("sent") => Some("Sent. Delivery is shown below as partners receipt it."),
        Some("ack") => Some("Acknowledged; the acknowledgement goes to the originator."),
        Some("forwarded") => Some("Forwarded; the originator is told."),
        Some("recalled") => Some(
            "Recalled: every holder is asked to erase it, and their signed purge receipts show below as they come.",
        ),
        Some("released") => Some("Released: the signed grant goes to the holders."),
        _ => None,
    };
    match result {
        Ok((id, detail, thread)) => {
            desk.marks.mark(&desk.state, &officer.record.name, &id);
            let agency = desk.agency();
            let partners = partner_names(&desk.state);
            html(pages::bulletin(
                &officer.viewer(&agency),
                &detail,
                &thread,
                &partners,
                message,
            ))
        }
        Err(e) => desk.error_page(&officer, &e),
    }
}

/// A file name safe in a `Content-Disposition` header: ASCII letters, digits, `.`,
/// `-`, `_`; the rest becomes `_`.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.chars().take(128).collect()
    }
}

async fn attachment(
    State(desk): State<Desk>,
    Path((id, number)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let name = officer.reader();
    let result = desk
        .blocking(move |state| {
            let id = parse_id(&id)?;
            let a = views::attachment(state, &id, number)?;
            if a.streamed.is_some() {
                return Err(Error::InvalidRequest(format!(
                    "attachment {number} of {id} is a large streamed file; fetch it with `liaison bulletin attachment get`"
                )));
            }
            bulletins::record_reads(state, &name, "desk attachment", vec![id])?;
            Ok(a)
        })
        .await;
    match result {
        Ok(a) => {
            let disposition = format!("attachment; filename=\"{}\"", safe_file_name(&a.file_name));
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                a.data,
            )
                .into_response();
            response.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static("default-src 'none'; sandbox"),
            );
            response
        }
        Err(e) => desk.error_page(&officer, &e),
    }
}

#[derive(Deserialize)]
struct AckForm {
    csrf: String,
    state: String,
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(desk): State<Desk>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AckForm>,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if let Err(refused) = desk.checked_post(&headers, &form.csrf) {
        return *refused;
    }
    let name = officer.reader();
    let result = desk
        .blocking(move |state| {
            let id = parse_id(&id)?;
            let ack = form
                .state
                .parse()
                .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))?;
            bulletins::acknowledge(state, &id, &name, ack, &form.note)?;
            Ok(id)
        })
        .await;
    match result {
        Ok(id) => Redirect::to(&format!("/bulletin/{id}?done=ack")).into_response(),
        Err(e) => desk.error_page(&officer, &e),
    }
}

/// An onward form's fields: `to` (one partner to forward to, or several to release
/// to), `holder` (release: who may pass it on), `days`, `reason` (recall).
#[derive(Default)]
struct OnwardForm {
    csrf: String,
    to: Vec<String>,
    holders: Vec<String>,
    days: String,
    reason: String,
}

impl OnwardForm {
    fn read(fields: Vec<(String, String)>) -> Self {
        let mut form = Self::default();
        for (key, value) in fields {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "to" => form.to.push(value),
                "holder" => form.holders.push(value),
                "days" => form.days = value,
                "reason" => form.reason = value,
                _ => {}
            }
        }
        form
    }
}

/// Partners named in a form, each checked; `what` names the field in an error.
fn agencies(names: &[String], what: &str) -> Result<Vec<liaison_core::AgencyId>, Error> {
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e| Error::InvalidRequest(format!("{what}: {e}")))
        })
        .collect()
}

/// Forward a received bulletin, or recall or release one of ours: what the CLI's
/// `bulletin forward | recall | release` do, judged by the same rules.
async fn onward(
    State(desk): State<Desk>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let form = OnwardForm::read(fields);
    let officer = match desk.officer(&headers, Role::Publish) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if let Err(refused) = desk.checked_post(&headers, &form.csrf) {
        return *refused;
    }
    let name = officer.record.name.clone();
    let result = desk
        .blocking(move |state| {
            let id = parse_id(&id)?;
            let done = match action.as_str() {
                "forward" => {
                    let partners = agencies(&form.to, "partner")?;
                    let [partner] = partners.as_slice() else {
                        return Err(Error::InvalidRequest(
                            "choose one partner to forward to".into(),
                        ));
                    };
                    bulletins::forward(state, &id, partner)?;
                    "forwarded"
                }
                "recall" => {
                    bulletins::recall(state, &id, &form.reason)?;
                    "recalled"
                }
                "release" => {
                    let to = agencies(&form.to, "partner")?;
                    if to.is_empty() {
                        return Err(Error::InvalidRequest(
                            "tick at least one partner to release it to".into(),
                        ));
                    }
                    let holders = agencies(&form.holders, "holder")?;
                    let days = match form.days.trim() {
                        "" => None,
                        text => Some(
                            text.parse::<u32>()
                                .ok()
                                .filter(|d| (1..=3650).contains(d))
                                .ok_or_else(|| {
                                    Error::InvalidRequest(format!(
                                        "days: {text:?} is not 1 to 3650"
                                    ))
                                })?,
                        ),
                    };
                    let holders = (!holders.is_empty()).then_some(holders);
                    bulletins::release(state, &id, &to, holders.as_deref(), days)?;
                    "released"
                }
                other => {
                    return Err(Error::NotFound(format!("no desk action {other:?}")));
                }
            };
            record_action(state, &name, done, vec![id])?;
            Ok((id, done))
        })
        .await;
    match result {
        Ok((id, done)) => Redirect::to(&format!("/bulletin/{id}?done={done}")).into_response(),
        Err(e) => desk.error_page(&officer, &e),
    }
}

#[derive(Deserialize)]
struct ComposeQuery {
    #[serde(default)]
    reply_to: Option<String>,
}

fn partner_names(state: &NodeState) -> Vec<String> {
    state
        .partners
        .snapshot()
        .iter()
        .map(|p| p.agency().to_string())
        .collect()
}

async fn compose_form(
    State(desk): State<Desk>,
    Query(q): Query<ComposeQuery>,
    headers: HeaderMap,
) -> Response {
    let officer = match desk.officer(&headers, Role::Publish) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let draft = Draft {
        tlp: "amber".into(),
        reply_to: q
            .reply_to
            .filter(|r| r.parse::<BulletinId>().is_ok())
            .unwrap_or_default(),
        ..Default::default()
    };
    let agency = desk.agency();
    html(pages::compose(
        &officer.viewer(&agency),
        &partner_names(&desk.state),
        &draft,
        None,
    ))
}

/// The policy preview for the recipients, category and TLP a compose form holds.
async fn preview(
    State(desk): State<Desk>,
    Query(form): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = desk.officer(&headers, Role::Publish) {
        return *r;
    }
    let (mut to, mut category, mut tlp) = (Vec::new(), String::new(), String::new());
    for (key, value) in form {
        match key.as_str() {
            "to" => to.push(value),
            "category" => category = value,
            "tlp" => tlp = value,
            _ => {}
        }
    }
    let state = desk.state.clone();
    let lines = tokio::task::spawn_blocking(move || policy_lines(&state, &to, &category, &tlp))
        .await
        .unwrap_or_default();
    html(pages::preview(&lines))
}

/// For each ticked partner: whether the policy lets the bulletin go, and the rule.
fn policy_lines(
    state: &NodeState,
    to: &[String],
    category: &str,
    tlp: &str,
) -> Vec<(String, bool, String)> {
    let marking = match (category.parse(), tlp.parse::<Tlp>()) {
        (Ok(category), Ok(tlp)) => crate::ops::policy::marking(category, tlp, Vec::new()),
        _ => {
            return to
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        false,
                        "give a category (e.g. trafficking.persons) and a TLP".into(),
                    )
                })
                .collect();
        }
    };
    to.iter()
        .map(|partner| {
            let judged = partner
                .parse()
                .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))
                .and_then(|partner| {
                    let marking = marking
                        .as_ref()
                        .map_err(|e| Error::InvalidRequest(crate::error::describe(e)))?
                        .clone();
                    crate::ops::policy::policy_explain(
                        state,
                        &crate::ops::policy::Question::To {
                            partner,
                            origin: None,
                        },
                        marking,
                    )
                });
            match judged {
                Ok(view) => (partner.clone(), view.allowed, view.rule.to_string()),
                Err(e) => (partner.clone(), false, crate::error::describe(&e)),
            }
        })
        .collect()
}

/// What a compose form holds: its CSRF token, the draft, the files attached and the
/// button pressed (`more-rows` asks for blank entity rows rather than a send).
struct ComposeForm {
    csrf: String,
    draft: Draft,
    files: Vec<(String, Vec<u8>)>,
    action: String,
}

/// Reads the compose form (multipart, for the attachments). The files together are
/// held to [`MAX_ATTACHMENT`] bytes and [`MAX_ATTACHMENT_FILES`] files.
async fn read_compose(mut form: Multipart) -> Result<ComposeForm, String> {
    let mut read = ComposeForm {
        csrf: String::new(),
        draft: Draft::default(),
        files: Vec::new(),
        action: String::new(),
    };
    let (mut kinds, mut values) = (Vec::new(), Vec::new());
    let mut attached = 0usize;
    while let Some(field) = form.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| e.body_text())?;
            attached += bytes.len();
            if attached > MAX_ATTACHMENT {
                return Err(format!(
                    "the attachments come to more than {MAX_ATTACHMENT} bytes, the most the desk takes"
                ));
            }
            // A file input left empty still sends a part, with no name.
            if !file_name.is_empty() {
                if read.files.len() == MAX_ATTACHMENT_FILES {
                    return Err(format!(
                        "more than {MAX_ATTACHMENT_FILES} files attached; the desk takes up to {MAX_ATTACHMENT_FILES}"
                    ));
                }
                read.files.push((file_name, bytes.to_vec()));
            }
            continue;
        }
        let value = field.text().await.map_err(|e| e.body_text())?;
        let draft = &mut read.draft;
        match name.as_str() {
            "csrf" => read.csrf = value,
            "action" => read.action = value,
            "to" => draft.to.push(value),
            "category" => draft.category = value,
            "tlp" => draft.tlp = value,
            "title" => draft.title = value,
            "body" => draft.body = value,
            "entity_kind" => kinds.push(value),
            "entity_value" => values.push(value),
            "reply_to" => draft.reply_to = value,
            "request" => draft.request = value,
            "due_hours" => draft.due_hours = value,
            _ => {}
        }
        if kinds.len() > pages::MAX_ENTITY_ROWS || values.len() > pages::MAX_ENTITY_ROWS {
            return Err(format!(
                "more than {} entity rows; the desk takes up to {}",
                pages::MAX_ENTITY_ROWS,
                pages::MAX_ENTITY_ROWS
            ));
        }
    }
    // Each row sends its kind and then its value; rows that do not pair up were not
    // sent by the desk's form.
    if kinds.len() != values.len() {
        return Err(format!(
            "the entity rows do not pair up: {} kinds and {} values",
            kinds.len(),
            values.len()
        ));
    }
    read.draft.entities = kinds.into_iter().zip(values).collect();
    Ok(read)
}

/// The entity a compose row names, in the CLI's syntax (`liaison_core::entity_spec`),
/// as a draft entity (normalised by the send); `None` for a row without a value.
fn entity_of(kind: &str, value: &str) -> Result<Option<Entity>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    if kind.is_empty() {
        return Err("choose a kind for the value".into());
    }
    liaison_core::entity_spec::parse(kind, value)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn send_request(draft: &Draft, files: Vec<(String, Vec<u8>)>) -> Result<views::SendRequest, Error> {
    let invalid =
        |field: &str, e: liaison_core::Malformed| Error::InvalidRequest(format!("{field}: {e}"));
    let category = draft
        .category
        .trim()
        .parse()
        .map_err(|e| invalid("category", e))?;
    let tlp: Tlp = draft.tlp.parse().map_err(|e| invalid("TLP", e))?;
    let reply_to = if draft.reply_to.is_empty() {
        None
    } else {
        Some(parse_id(&draft.reply_to)?)
    };
    let to = if draft.to.is_empty() {
        if reply_to.is_none() {
            return Err(Error::InvalidRequest("tick at least one recipient".into()));
        }
        None
    } else {
        Some(Recipients::Named(agencies(&draft.to, "recipient")?))
    };
    let mut request = views::SendRequest::new(
        Recipients::Named(Vec::new()),
        category,
        tlp,
        draft.title.trim(),
        draft.body.as_str(),
    );
    request.to = to;
    request.reply_to = reply_to;
    if !draft.request.is_empty() {
        let priority = draft.request.parse().map_err(|e| invalid("priority", e))?;
        let hours: i64 = draft
            .due_hours
            .trim()
            .parse()
            .ok()
            .filter(|h| (1..=8760).contains(h))
            .ok_or_else(|| Error::InvalidRequest("answer due in: give 1 to 8760 hours".into()))?;
        request.request = Some(liaison_core::handling::InformationRequest {
            priority,
            due: liaison_core::UnixMillis(liaison_core::UnixMillis::now().0 + hours * 3_600_000),
        });
    }
    for (row, (kind, value)) in draft.entities.iter().enumerate() {
        let entity = entity_of(kind, value)
            .map_err(|e| Error::InvalidRequest(format!("entity {}: {e}", row + 1)))?;
        request.entities.extend(entity);
    }
    request.attachments = files
        .into_iter()
        .map(|(file_name, bytes)| views::AttachmentUpload {
            media_type: recorded_media_type(&file_name),
            file_name,
            data_base64: data_encoding::BASE64.encode(&bytes),
            staged: None,
        })
        .collect();
    Ok(request)
}

/// The media type recorded for an attachment, from its name as `--attach` does. Only a
/// label for the recipient: the desk serves every attachment as octet-stream.
fn recorded_media_type(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

async fn compose(State(desk): State<Desk>, headers: HeaderMap, form: Multipart) -> Response {
    let officer = match desk.officer(&headers, Role::Publish) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let agency = desk.agency();
    let again = |draft: &Draft, error: &str| {
        (
            StatusCode::BAD_REQUEST,
            html(pages::compose(
                &officer.viewer(&agency),
                &partner_names(&desk.state),
                draft,
                Some(error),
            )),
        )
            .into_response()
    };
    let ComposeForm {
        csrf,
        mut draft,
        files,
        action,
    } = match read_compose(form).await {
        Ok(read) => read,
        Err(e) => return again(&Draft::default(), &e),
    };
    if let Err(refused) = desk.checked_post(&headers, &csrf) {
        return *refused;
    }
    if action == "more-rows" {
        // The blank rows sent, and five more (the form starts with three).
        let blank = draft
            .entities
            .iter()
            .filter(|(kind, value)| kind.is_empty() && value.trim().is_empty())
            .count();
        draft.extra_rows = blank + 2;
        return html(pages::compose(
            &officer.viewer(&agency),
            &partner_names(&desk.state),
            &draft,
            None,
        ));
    }
    let request = match send_request(&draft, files) {
        Ok(r) => r,
        Err(e) => return again(&draft, &crate::error::describe(&e)),
    };
    let name = officer.record.name.clone();
    let sent = desk
        .blocking(move |state| {
            let sent = views::bulletin_send(state, request)?;
            let id = parse_id(&sent.id)?;
            record_action(state, &name, "sent", vec![id])?;
            Ok(sent)
        })
        .await;
    match sent {
        Ok(sent) => Redirect::to(&format!("/bulletin/{}?done=sent", sent.id)).into_response(),
        Err(e) => again(&draft, &crate::error::describe(&e)),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct SearchQuery {
    /// Words in the title or body.
    #[serde(default)]
    text: String,
    /// A person's name, one typo per word forgiven.
    #[serde(default)]
    person: String,
    /// A selector: its kind (`liaison_core::selector::KINDS`) and value.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    /// Filters: originator, category (or a parent), TLP, created since / before (a
    /// date, `YYYY-MM-DD`).
    #[serde(default)]
    from: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    tlp: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

impl SearchQuery {
    /// Whether anything is asked (an empty form shows the form only).
    fn asks(&self) -> bool {
        [&self.text, &self.person, &self.value]
            .iter()
            .any(|f| !f.trim().is_empty())
    }

    /// The search it asks for; errors name the field.
    fn search(&self) -> Result<crate::edge::admin::Search, Error> {
        let given = |f: &str| {
            let f = f.trim();
            (!f.is_empty()).then(|| f.to_owned())
        };
        let invalid =
            |field: &str, e: &dyn std::fmt::Display| Error::InvalidRequest(format!("{field}: {e}"));
        let date = |field: &str, text: &str| {
            given(text)
                .map(|t| liaison_core::UnixMillis::start_of_day(&t).map_err(|e| invalid(field, &e)))
                .transpose()
        };
        let mut selectors = Vec::new();
        if let Some(value) = given(&self.value) {
            let kind = if self.kind.is_empty() {
                "phone"
            } else {
                &self.kind
            };
            selectors.push((kind.to_owned(), value));
        }
        let filter = crate::ops::connections::SearchFilter {
            since: date("since", &self.since)?,
            // "Until" a day includes that day.
            until: date("until", &self.until)?.map(|t| liaison_core::UnixMillis(t.0 + 86_400_000)),
            origin: given(&self.from)
                .map(|a| a.parse().map_err(|e| invalid("from", &e)))
                .transpose()?,
            category: given(&self.category),
            tlp: given(&self.tlp)
                .map(|t| t.parse().map_err(|e| invalid("TLP", &e)))
                .transpose()?,
            ..Default::default()
        };
        Ok(crate::edge::admin::Search {
            selectors,
            text: given(&self.text),
            fuzzy_person: given(&self.person),
            filter,
            ..Default::default()
        })
    }
}

async fn search(
    State(desk): State<Desk>,
    Query(q): Query<SearchQuery>,
    headers: HeaderMap,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let agency = desk.agency();
    let mut origins = partner_names(&desk.state);
    origins.insert(0, agency.clone());
    let form = pages::SearchForm {
        text: &q.text,
        person: &q.person,
        kind: &q.kind,
        value: &q.value,
        from: &q.from,
        category: &q.category,
        tlp: &q.tlp,
        since: &q.since,
        until: &q.until,
        origins: &origins,
    };
    if !q.asks() {
        return html(pages::search(&officer.viewer(&agency), &form, None, None));
    }
    let (name, reader) = (officer.record.name.clone(), officer.reader());
    let search = q.search();
    let result = desk
        .blocking(move |state| {
            let found = search?.find(state)?;
            let ids: Vec<BulletinId> = found.iter().filter_map(|b| b.id.parse().ok()).collect();
            record_action(state, &name, "searched", Vec::new())?;
            bulletins::record_reads(state, &reader, "desk search", ids)?;
            Ok(found)
        })
        .await;
    let viewer = officer.viewer(&agency);
    answered(result, |found, error| {
        pages::search(&viewer, &form, found.map(Vec::as_slice), error)
    })
}

async fn query_form(State(desk): State<Desk>, headers: HeaderMap) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let agency = desk.agency();
    html(pages::query(&officer.viewer(&agency), "", None, None))
}

#[derive(Deserialize)]
struct QueryForm {
    csrf: String,
    phone: String,
}

async fn query(
    State(desk): State<Desk>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<QueryForm>,
) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if let Err(refused) = desk.checked_post(&headers, &form.csrf) {
        return *refused;
    }
    let agency = desk.agency();
    let (phone, caller) = (form.phone.trim().to_owned(), officer.reader());
    let asked = phone.clone();
    let result = desk
        .blocking(move |state| {
            use crate::edge::admin::Command as _;
            crate::edge::admin::Query {
                selectors: vec![("phone".into(), asked)],
                partners: Vec::new(),
            }
            .run_as(state, &caller)
        })
        .await;
    let viewer = officer.viewer(&agency);
    answered(result, |report, error| {
        pages::query(&viewer, &phone, report, error)
    })
}

async fn partners(State(desk): State<Desk>, headers: HeaderMap) -> Response {
    let officer = match desk.officer(&headers, Role::Read) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    match desk.blocking(crate::ops::status::status).await {
        Ok(status) => {
            let agency = desk.agency();
            html(pages::partners(&officer.viewer(&agency), &status.partners))
        }
        Err(e) => desk.error_page(&officer, &e),
    }
}

/// Entries the log view shows.
const LOG_VIEW: u64 = 200;

async fn log(State(desk): State<Desk>, headers: HeaderMap) -> Response {
    let officer = match desk.officer(&headers, Role::Admin) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let result = desk
        .blocking(|state| {
            let head = state.log.head().seq;
            let mut rows: Vec<(u64, String, String, String)> = Vec::new();
            for seq in (head.saturating_sub(LOG_VIEW - 1).max(1)..=head).rev() {
                let Some(entry) = state.log.get(seq)? else {
                    continue;
                };
                let what = match state.log.body(&entry)? {
                    Some(body) => match crate::node::journal::LogEvent::parse(&body) {
                        Some(event) => serde_json::to_string(&event).unwrap_or_default(),
                        None => entry
                            .bulletin_id
                            .map(|id| format!("bulletin {id}"))
                            .unwrap_or_default(),
                    },
                    None => "(body erased)".into(),
                };
                rows.push((
                    seq,
                    entry.time.to_string(),
                    entry.kind.as_str().to_owned(),
                    what,
                ));
            }
            Ok(rows)
        })
        .await;
    match result {
        Ok(rows) => {
            let agency = desk.agency();
            html(pages::log(&officer.viewer(&agency), &rows))
        }
        Err(e) => desk.error_page(&officer, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_made_safe_for_headers() {
        assert_eq!(safe_file_name("report.pdf"), "report.pdf");
        assert_eq!(
            safe_file_name("\"><script>alert(1)</script>.html"),
            "___script_alert_1___script_.html"
        );
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("..."), "attachment");
        assert_eq!(safe_file_name("Ion\r\nSet-Cookie: x"), "Ion__Set-Cookie__x");
    }

    #[test]
    fn a_search_form_becomes_a_search_with_whole_days_and_names_a_bad_field() {
        let q = SearchQuery {
            value: "+40 712 345 678".into(),
            from: "DE-BKA".into(),
            tlp: "amber+strict".into(),
            since: "2026-11-01".into(),
            until: "2026-11-01".into(),
            ..SearchQuery::default()
        };
        assert!(q.asks());
        let search = q.search().unwrap();
        assert_eq!(
            search.selectors,
            [("phone".to_owned(), "+40 712 345 678".to_owned())]
        );
        let day = liaison_core::UnixMillis::start_of_day("2026-11-01").unwrap();
        assert_eq!(day.to_string(), "2026-11-01T00:00:00.000Z");
        assert_eq!(search.filter.since, Some(day));
        assert_eq!(
            search.filter.until,
            Some(liaison_core::UnixMillis(day.0 + 86_400_000))
        );
        assert_eq!(search.filter.tlp, Some(Tlp::AmberStrict));
        assert!(
            !SearchQuery {
                from: "DE-BKA".into(),
                ..SearchQuery::default()
            }
            .asks()
        );
        for (bad, expected) in [
            (
                SearchQuery {
                    until: "1 Nov".into(),
                    ..q.clone()
                },
                "until: \"1 Nov\" is not a date",
            ),
            (
                SearchQuery {
                    tlp: "blue".into(),
                    ..q.clone()
                },
                "TLP:",
            ),
            (
                SearchQuery {
                    from: "de bka".into(),
                    ..q.clone()
                },
                "from:",
            ),
        ] {
            let refused = bad.search().unwrap_err().to_string();
            assert!(refused.contains(expected), "{refused}");
        }
    }

    fn draft_with(rows: &[(&str, &str)]) -> Draft {
        Draft {
            entities: rows
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Draft::default()
        }
    }

    #[test]
    fn a_draft_becomes_a_send_with_every_filled_entity_row_and_names_a_bad_one() {
        let mut draft = draft_with(&[
            ("vehicle", "B123XYZ;country=RO;make=Dacia Logan"),
            ("", ""),
            ("person", "  Vasile Dumitrescu ;dob=1979-05-14"),
            ("phone", ""),
        ]);
        draft.to = vec!["DE-BKA".into()];
        draft.category = "trafficking.persons".into();
        draft.tlp = "amber".into();
        draft.title = "t".into();
        let files = vec![
            ("a.txt".into(), b"a".to_vec()),
            ("b.csv".into(), b"b".to_vec()),
        ];
        let request = send_request(&draft, files).unwrap();
        assert_eq!(request.entities.len(), 2, "{:?}", request.entities);
        assert!(matches!(&request.entities[0],
            Entity::Vehicle { registration, country, make_model, .. }
                if registration == "B123XYZ" && country == "RO" && make_model == "Dacia Logan"));
        assert!(matches!(&request.entities[1],
            Entity::Person { full_name, date_of_birth, .. }
                if full_name == "Vasile Dumitrescu" && date_of_birth == "1979-05-14"));
        let names: Vec<_> = request
            .attachments
            .iter()
            .map(|a| (a.file_name.as_str(), a.media_type.as_str()))
            .collect();
        assert_eq!(names, [("a.txt", "text/plain"), ("b.csv", "text/csv")]);

        for (row, expected) in [
            (
                ("vehicle", "B1;colour=red"),
                "entity 5: vehicle: unknown field \"colour\"",
            ),
            (("", "B1"), "entity 5: choose a kind for the value"),
        ] {
            draft.entities.truncate(4);
            draft.entities.push((row.0.into(), row.1.into()));
            let refused = send_request(&draft, Vec::new()).unwrap_err();
            assert!(refused.to_string().contains(expected), "{refused}");
        }
    }
}
