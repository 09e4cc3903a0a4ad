//! The read-only TAXII 2.1 server: the node's bulletins as STIX 2.1 collections for an
//! analyst's platform (MISP, OpenCTI, any TAXII client). Off unless `[taxii] listen`
//! is set; HTTPS (HTTP/1.1) with the same registered client certificates and roles as
//! the client API, and a client needs the `read` role.
//!
//! Endpoints (TAXII 2.1, sections 4 and 5): discovery `/taxii2/`, one API root
//! `/taxii2/liaison/`, its collections, a collection's `objects/` (`added_after`,
//! `limit`, `next`, `match[type|id|version|spec_version]`), one object and its versions,
//! and `manifest/`. Every request must accept `application/taxii+json;version=2.1`
//! (406 otherwise); every answer, error or not, is of that type; anything but GET is
//! 405, since nothing can be written here. What a page gives is `ops::taxii`'s work.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::edge::client_api::AuthenticatedClient;
use crate::error::Error;
use crate::node::state::NodeState;
use crate::ops::taxii::{self, Collection, ObjectPage, ObjectQuery, STIX_MEDIA_TYPE};
use crate::runtime::accept::TlsListener;
use crate::trust::clients::{ClientRecord, Role};
use liaison_core::taxii::{
    OBJECT_PARAMETERS, OBJECTS_PARAMETERS, VERSIONS_PARAMETERS, parse_query,
};

/// The TAXII media type, of every answer.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The one API root's path.
const API_ROOT: &str = "/taxii2/liaison/";
/// How reads through this door are named in the consultation log.
const DOOR: &str = "taxii";

/// A TAXII error message resource (TAXII 2.1, 3.6.1), with its HTTP status.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            title,
            description: description.into(),
        }
    }

    fn bad_parameter(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Bad request parameter",
            format!("{name}: {problem}"),
        )
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "Not found", m),
            Error::InvalidRequest(m) => Self::new(StatusCode::BAD_REQUEST, "Bad request", m),
            other => {
                tracing::error!(error = %other, "TAXII request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "the node could not complete the request; see its log",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_str(),
        });
        taxii_json(self.status, HeaderMap::new(), &body)
    }
}

fn taxii_json(status: StatusCode, mut headers: HeaderMap, body: &Value) -> Response {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    (status, headers, body.to_string()).into_response()
}

/// Connections the accept loop verified (a registered client certificate).
pub(crate) type TaxiiListener = TlsListener<AuthenticatedClient>;

impl Connected<axum::serve::IncomingStream<'_, TaxiiListener>> for AuthenticatedClient {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TaxiiListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Serves TAXII on `listener` until `stop` changes.
pub(crate) async fn serve(
    listener: TaxiiListener,
    state: Arc<NodeState>,
    mut stop: watch::Receiver<bool>,
) {
    let app = axum::Router::new()
        .route("/taxii2/", get(discovery))
        .route(API_ROOT, get(api_root))
        .route("/taxii2/liaison/collections/", get(list_collections))
        .route(
            "/taxii2/liaison/collections/{collection}/",
            get(one_collection),
        )
        .route(
            "/taxii2/liaison/collections/{collection}/objects/",
            get(objects),
        )
        .route(
            "/taxii2/liaison/collections/{collection}/objects/{object}/",
            get(object),
        )
        .route(
            "/taxii2/liaison/collections/{collection}/objects/{object}/versions/",
            get(versions),
        )
        .route(
            "/taxii2/liaison/collections/{collection}/manifest/",
            get(manifest),
        )
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "this TAXII server is read-only: only GET is served",
            )
        })
        .fallback(|| async {
            Problem::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "no such TAXII resource; discovery is at /taxii2/ (TAXII paths end with /); \
                 this server is read-only, so it has no status resources",
            )
        })
        .with_state(state);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<AuthenticatedClient>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    {
        tracing::error!(error = %e, "the TAXII server stopped");
    }
}

/// What every handler shares: the caller, checked for the `read` role; the `Accept`
/// header, checked; then `work` on a blocking thread.
async fn answer(
    state: Arc<NodeState>,
    client: AuthenticatedClient,
    headers: &HeaderMap,
    work: impl FnOnce(&NodeState, &ClientRecord) -> Result<Response, Problem> + Send + 'static,
) -> Response {
    let refused = |problem: Problem| {
        tracing::warn!(
            status = %problem.status,
            reason = %problem.description,
            "TAXII request refused"
        );
        problem.into_response()
    };
    if let Err(problem) = acceptable(headers) {
        return refused(problem);
    }
    let record = match authorize(&state, &client) {
        Ok(record) => record,
        Err(problem) => return refused(problem),
    };
    match tokio::task::spawn_blocking(move || work(&state, &record)).await {
        Ok(Ok(response)) => response,
        Ok(Err(problem)) if problem.status.is_client_error() => refused(problem),
        Ok(Err(problem)) => problem.into_response(),
        Err(_) => Problem::from(Error::Internal("a TAXII worker failed".into())).into_response(),
    }
}

/// The registered client on this connection, if it may read.
fn authorize(state: &NodeState, client: &AuthenticatedClient) -> Result<ClientRecord, Problem> {
    let record = state
        .clients
        .snapshot()
        .by_certificate(&client.0)
        .cloned()
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "Client certificate revoked",
                "this client certificate is no longer registered (revoked)",
            )
        })?;
    if record.has(Role::Read) {
        Ok(record)
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Not permitted",
            format!("client {} lacks the `read` role", record.name),
        ))
    }
}

/// Whether the request accepts TAXII 2.1 JSON (TAXII 2.1, 1.6.8): no `Accept` header,
/// `*/*`, `application/*`, or `application/taxii+json` with no version or 2.1.
fn acceptable(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let text = accept.to_str().unwrap_or_default();
    let ok = text.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
        let version = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned());
        match kind.as_str() {
            "*/*" | "application/*" => true,
            "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
            _ => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("this server answers only {TAXII_MEDIA_TYPE}; the request accepts {text:?}"),
        ))
    }
}

/// The API root's absolute URL for this request: from the `Host` header when it is a
/// plain host\[:port\], else the path alone.
fn api_root_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        });
    match host {
        Some(host) => format!("https://{host}{API_ROOT}"),
        None => API_ROOT.to_owned(),
    }
}

async fn discovery(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    headers: HeaderMap,
) -> Response {
    let root = api_root_url(&headers);
    answer(state, client, &headers, move |state, _| {
        let node = state.node();
        let config = node.config();
        Ok(ok(&json!({
            "title": format!("Liaison node {} ({})", config.agency, config.display_name),
            "description": "Bulletins this agency sent and received, as STIX 2.1 (read-only).",
            "default": root,
            "api_roots": [root],
        })))
    })
    .await
}

async fn api_root(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, |state, _| {
        Ok(ok(&json!({
            "title": format!("{} bulletins", state.node().config().agency),
            "description": "Collections: received, sent, and received-from-AGENCY per partner.",
            "versions": [TAXII_MEDIA_TYPE],
            // Nothing can be posted here.
            "max_content_length": 0,
        })))
    })
    .await
}

fn collection_resource(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "alias": c.alias,
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

async fn list_collections(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, |state, _| {
        let all: Vec<Value> = taxii::collections(state)
            .iter()
            .map(collection_resource)
            .collect();
        Ok(ok(&json!({ "collections": all })))
    })
    .await
}

async fn one_collection(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, move |state, _| {
        Ok(ok(&collection_resource(&taxii::collection(state, &name)?)))
    })
    .await
}

async fn objects(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, move |state, reader| {
        let query = query_of(query.as_deref(), &OBJECTS_PARAMETERS)?;
        let page = read_page(state, &name, &query, reader)?;
        Ok(envelope(&page, |o| o.object.clone()))
    })
    .await
}

async fn manifest(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, move |state, reader| {
        let query = query_of(query.as_deref(), &OBJECTS_PARAMETERS)?;
        let page = read_page(state, &name, &query, reader)?;
        Ok(envelope(&page, |o| {
            json!({
                "id": o.id(),
                "date_added": o.date_added.to_string(),
                "version": o.version,
                "media_type": STIX_MEDIA_TYPE,
            })
        }))
    })
    .await
}

async fn object(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, move |state, reader| {
        let query = one_object_query(query.as_deref(), &OBJECT_PARAMETERS, id.clone())?;
        let page = found(read_page(state, &name, &query, reader)?, &id, &name)?;
        Ok(envelope(&page, |o| o.object.clone()))
    })
    .await
}

async fn versions(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<AuthenticatedClient>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(state, client, &headers, move |state, reader| {
        let query = one_object_query(query.as_deref(), &VERSIONS_PARAMETERS, id.clone())?;
        let page = found(read_page(state, &name, &query, reader)?, &id, &name)?;
        let mut seen = HashSet::new();
        let listed: Vec<&str> = page
            .objects
            .iter()
            .map(|o| o.version.as_str())
            .filter(|v| seen.insert(*v))
            .collect();
        let mut body = json!({ "more": page.next.is_some(), "versions": listed });
        if let Some(next) = page.next {
            body["next"] = json!(next.to_string());
        }
        Ok(with_dates(
            taxii_json(StatusCode::OK, HeaderMap::new(), &body),
            &page,
        ))
    })
    .await
}

fn ok(body: &Value) -> Response {
    taxii_json(StatusCode::OK, HeaderMap::new(), body)
}

fn read_page(
    state: &NodeState,
    collection: &str,
    query: &ObjectQuery,
    reader: &ClientRecord,
) -> Result<ObjectPage, Problem> {
    let collection = taxii::collection(state, collection)?;
    Ok(taxii::objects(
        state,
        &collection,
        query,
        &reader.name,
        DOOR,
    )?)
}

/// A one-object page that is empty with nothing after it: the object is not there.
fn found(page: ObjectPage, id: &str, collection: &str) -> Result<ObjectPage, Problem> {
    if page.objects.is_empty() && page.next.is_none() {
        Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no object {id:?} in collection {collection:?} (for these filters)"),
        ))
    } else {
        Ok(page)
    }
}

/// A TAXII envelope of `page` (TAXII 2.1, 3.7) with its date headers.
fn envelope(page: &ObjectPage, item: impl Fn(&taxii::StixObject) -> Value) -> Response {
    let mut body = json!({ "more": page.next.is_some() });
    if let Some(next) = page.next {
        body["next"] = json!(next.to_string());
    }
    if !page.objects.is_empty() {
        body["objects"] = Value::Array(page.objects.iter().map(item).collect());
    }
    with_dates(taxii_json(StatusCode::OK, HeaderMap::new(), &body), page)
}

/// `X-TAXII-Date-Added-First` and `-Last` (TAXII 2.1, 3.3.1).
fn with_dates(mut response: Response, page: &ObjectPage) -> Response {
    let dates = page.objects.iter().map(|o| o.date_added);
    for (name, date) in [
        ("x-taxii-date-added-first", dates.clone().min()),
        ("x-taxii-date-added-last", dates.max()),
    ] {
        if let Some(value) = date.and_then(|d| HeaderValue::from_str(&d.to_string()).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The query of a request to an endpoint taking `allowed` parameters.
fn query_of(raw: Option<&str>, allowed: &[&str]) -> Result<ObjectQuery, Problem> {
    parse_query(raw.unwrap_or_default(), allowed)
        .map_err(|e| Problem::bad_parameter(&e.parameter, e.problem))
}

/// The query of a request about one object: only that object.
fn one_object_query(
    raw: Option<&str>,
    allowed: &[&str],
    id: String,
) -> Result<ObjectQuery, Problem> {
    let mut query = query_of(raw, allowed)?;
    query.ids = vec![id];
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<(), Problem> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        acceptable(&headers)
    }

    #[test]
    fn accept_header() {
        for ok in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "application/json, application/taxii+json; version=2.1",
            "*/*",
        ] {
            assert!(accept(ok).is_ok(), "{ok}");
        }
        for refused in [
            "application/taxii+json;version=2.0",
            "application/vnd.oasis.taxii+json",
            "text/html",
        ] {
            let problem = accept(refused).unwrap_err();
            assert_eq!(problem.status, StatusCode::NOT_ACCEPTABLE, "{refused}");
        }
        assert!(acceptable(&HeaderMap::new()).is_ok());
    }
}
