//! The client API (`proto/liaison/v1/client.proto`) that the agency's own systems call.
//! Every request is validated here, at the edge, into domain types; the work itself is
//! done by [`crate::ops::bulletins`] on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use liaison_core::{AgencyId, BulletinContent, BulletinId, Marking, Tlp};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins::{self, Delivery, Direction, Draft, Filter, Recipients, Stored};
use crate::trust::clients::{ClientRecord, Role};

/// The SHA-256 (hex) of the client certificate on a connection (set by the accept loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient(pub String);

/// Largest bulletin content a client may publish: what fits in an envelope with room
/// for the header and 256 recipients' wraps.
pub const MAX_CONTENT_BYTES: usize = liaison_core::limits::MAX_ENVELOPE_BYTES - 64 * 1024;
/// Largest request the API decodes at all (a little above the content limit, so that
/// an oversized draft gets the precise RESOURCE_EXHAUSTED above).
pub const MAX_REQUEST_BYTES: usize = liaison_core::limits::MAX_ENVELOPE_BYTES + 1024 * 1024;

/// Most bulletins one `List` call returns.
const MAX_PAGE: u32 = 1000;
/// How long an idle subscription waits before looking at the log anyway.
const SUBSCRIBE_POLL: Duration = Duration::from_secs(1);

/// The client service.
pub struct ClientService {
    state: Arc<NodeState>,
}

impl ClientService {
    /// A service over `state`.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }

    /// The registered client behind `request`, if it holds `role`.
    fn authorize<T>(&self, request: &Request<T>, role: Role) -> Result<ClientRecord, Status> {
        let certificate = request
            .extensions()
            .get::<AuthenticatedClient>()
            .ok_or_else(|| Status::unauthenticated("no client certificate on this connection"))?;
        let client = self
            .state
            .clients
            .snapshot()
            .by_certificate(&certificate.0)
            .cloned()
            .ok_or_else(|| {
                Status::unauthenticated("this client certificate is no longer registered (revoked)")
            })?;
        if client.has(role) {
            Ok(client)
        } else {
            Err(Status::permission_denied(format!(
                "client {} lacks the `{role}` role",
                client.name
            )))
        }
    }

    /// Runs blocking work on the node's state off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&NodeState) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Status> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(|_| Status::internal("the request's worker failed"))?
            .map_err(status_of)
    }
}

/// The one mapping from node errors to gRPC statuses. Messages name what was wrong but
/// carry no paths or internals.
pub fn status_of(error: Error) -> Status {
    match error {
        Error::InvalidRequest(m) => Status::invalid_argument(m),
        Error::NotFound(m) => Status::not_found(m),
        Error::UnknownPartner(a) => {
            Status::failed_precondition(format!("{a} is not a known partner"))
        }
        Error::PolicyDenied(m) => {
            Status::permission_denied(format!("denied by the sharing policy: {m}"))
        }
        e @ Error::RequestKeyReused { .. } => Status::already_exists(e.to_string()),
        Error::Policy(m) => {
            Status::failed_precondition(format!("the node's sharing policy is unusable: {m}"))
        }
        Error::Core(e @ liaison_core::Error::Malformed(_)) => {
            Status::invalid_argument(e.to_string())
        }
        Error::Core(e @ liaison_core::Error::TooLarge { .. }) => {
            Status::resource_exhausted(e.to_string())
        }
        e @ Error::OutboxFull { .. } => Status::resource_exhausted(e.to_string()),
        other => {
            tracing::error!(error = %other, "client API request failed");
            Status::internal("the node could not complete the request; see its log")
        }
    }
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {problem}"))
}

fn parse_bulletin_id(field: &str, text: &str) -> Result<BulletinId, Status> {
    text.parse()
        .map_err(|e: liaison_core::Malformed| invalid(field, e.problem))
}

/// A step of the onward chain as the client API shows it, with its signed bytes; `None`
/// for an event that is not one (or whose stored bytes no longer decode).
fn onward_step(logged: liaison_core::UnixMillis, event: LogEvent) -> Option<pb::OnwardStep> {
    use pb::onward_step::Step;
    let bytes = |b64: &str| {
        data_encoding::BASE64
            .decode(b64.as_bytes())
            .ok()
            .map(bytes::Bytes::from)
    };
    let names = |agencies: Vec<AgencyId>| agencies.iter().map(ToString::to_string).collect();
    let step = match event {
        LogEvent::ReleaseGranted {
            holders, to, grant, ..
        } => {
            let grant = bytes(&grant)?;
            let signed = fmt::SignedReleaseGrant::decode(grant.clone()).ok()?;
            let body = fmt::ReleaseGrant::decode(signed.grant).ok()?;
            Step::Released(pb::OnwardRelease {
                holders: names(holders),
                to: names(to),
                expires_unix_ms: body.expires_unix_ms,
                grant,
            })
        }
        LogEvent::OnwardForwarded {
            forwarder,
            to,
            forwarding,
            signature,
            ..
        } => {
            let forwarding = bytes(&forwarding)?;
            let time = fmt::Forwarding::decode(forwarding.clone())
                .ok()?
                .time_unix_ms;
            Step::Forwarded(pb::OnwardForward {
                forwarder: forwarder.to_string(),
                to: to.to_string(),
                forwarded_unix_ms: time,
                forwarding,
                signature: bytes(&signature)?,
            })
        }
        LogEvent::OnwardPurged {
            relayed_by,
            receiver,
            receipt,
            ..
        } => Step::Purged(pb::OnwardPurge {
            relayed_by: relayed_by.to_string(),
            receiver: receiver.to_string(),
            receipt: Some(fmt::SignedReceipt::decode(bytes(&receipt)?).ok()?),
        }),
        _ => return None,
    };
    Some(pb::OnwardStep {
        logged_unix_ms: logged.0,
        step: Some(step),
    })
}

fn parse_agencies(field: &str, names: &[String]) -> Result<Vec<AgencyId>, Status> {
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e: liaison_core::Malformed| invalid(field, e.problem))
        })
        .collect()
}

fn parse_tlp(field: &str, value: i32) -> Result<Tlp, Status> {
    Tlp::try_from(value).map_err(|e| invalid(field, e.problem))
}

impl TryFrom<Option<pb::Filter>> for Filter {
    type Error = Status;

    fn try_from(m: Option<pb::Filter>) -> Result<Self, Status> {
        let m = m.unwrap_or_default();
        let origins = m
            .origins
            .iter()
            .map(|o| {
                o.parse::<AgencyId>()
                    .map_err(|e| invalid("filter.origins", e.problem))
            })
            .collect::<Result<_, _>>()?;
        if !m.category_prefix.is_empty() {
            m.category_prefix
                .parse::<liaison_core::Category>()
                .map_err(|e| invalid("filter.category_prefix", e.problem))?;
        }
        let tlps = m
            .tlps
            .iter()
            .map(|t| parse_tlp("filter.tlps", *t))
            .collect::<Result<_, _>>()?;
        let since = unix_ms("filter.since_unix_ms", m.since_unix_ms)?;
        let until = unix_ms("filter.until_unix_ms", m.until_unix_ms)?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(invalid(
                "filter.until_unix_ms",
                "is before filter.since_unix_ms",
            ));
        }
        let handling = m
            .handling_codes
            .iter()
            .map(|c| {
                c.parse().map_err(|e: liaison_core::Malformed| {
                    invalid("filter.handling_codes", e.problem)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Filter {
            direction: None,
            handling,
            origins,
            category_prefix: (!m.category_prefix.is_empty()).then_some(m.category_prefix),
            tlps,
            since,
            until,
            newest_first: false,
            links: false,
        })
    }
}

/// A publish request, validated.
struct PublishCommand {
    request_key: String,
    draft: Draft,
    recipients: Recipients,
}

impl TryFrom<pb::PublishRequest> for PublishCommand {
    type Error = Status;

    fn try_from(m: pb::PublishRequest) -> Result<Self, Status> {
        if m.request_key.is_empty() || m.request_key.len() > 128 {
            return Err(invalid("request_key", "must be 1-128 characters"));
        }
        let draft = m.draft.ok_or_else(|| invalid("draft", "missing"))?;
        let size = draft
            .content
            .as_ref()
            .map_or(0, prost::Message::encoded_len);
        if size > MAX_CONTENT_BYTES {
            return Err(Status::resource_exhausted(format!(
                "draft.content: {size} bytes, more than the limit of {MAX_CONTENT_BYTES}"
            )));
        }
        let handling = draft
            .handling_codes
            .iter()
            .map(|c| c.parse())
            .collect::<Result<Vec<_>, liaison_core::Malformed>>()
            .map_err(|e| invalid("draft.handling_codes", e.problem))?;
        let marking = Marking::new(
            draft
                .category
                .parse()
                .map_err(|e: liaison_core::Malformed| invalid("draft.category", e.problem))?,
            parse_tlp("draft.tlp", draft.tlp)?,
            handling,
        )
        .map_err(|e| invalid("draft.handling_codes", e.problem))?
        .with_evaluation(
            draft
                .evaluation
                .map(|e| {
                    liaison_core::handling::Evaluation::new(
                        &e.source_reliability,
                        &e.information_credibility,
                    )
                })
                .transpose()
                .map_err(|e| invalid(&format!("draft.{}", e.field), e.problem))?,
        )
        .with_restriction(draft.restriction)
        .map_err(|e| invalid(&format!("draft.{}", e.field), e.problem))?;
        let request = draft
            .request
            .map(|r| {
                Ok::<_, Status>(liaison_core::handling::InformationRequest {
                    priority: r
                        .priority
                        .try_into()
                        .map_err(|e: liaison_core::Malformed| {
                            invalid("draft.request.priority", e.problem)
                        })?,
                    due: liaison_core::UnixMillis(r.due_unix_ms),
                })
            })
            .transpose()?;
        let content = BulletinContent::try_from(
            draft
                .content
                .ok_or_else(|| invalid("draft.content", "missing"))?,
        )
        .map_err(|e| invalid(&format!("draft.{}", e.field), e.problem))?;
        let chosen = [
            !m.recipients.is_empty(),
            m.to_all_allowed,
            !m.to_group.is_empty(),
        ];
        let recipients = match chosen {
            [true, false, false] => Recipients::Named(parse_agencies("recipients", &m.recipients)?),
            [false, true, false] => Recipients::AllAllowed,
            [false, false, true] => Recipients::Group(m.to_group),
            [false, false, false] => {
                return Err(invalid(
                    "recipients",
                    "name at least one recipient agency, or set to_all_allowed or to_group",
                ));
            }
            _ => {
                return Err(invalid(
                    "recipients",
                    "give one of recipients, to_all_allowed and to_group, not several",
                ));
            }
        };
        Ok(Self {
            request_key: m.request_key,
            draft: Draft {
                marking,
                content,
                expires_in_days: (draft.expires_in_days != 0).then_some(draft.expires_in_days),
                request,
            },
            recipients,
        })
    }
}

fn view(state: &NodeState, stored: &Stored, entries: &[liaison_store::Entry]) -> pb::BulletinView {
    let h = stored.header();
    pb::BulletinView {
        cursor: stored.entry.seq,
        bulletin_id: h.bulletin_id.to_string(),
        direction: match stored.direction {
            Direction::In => pb::Direction::In,
            Direction::Out => pb::Direction::Out,
        } as i32,
        origin: h.origin.to_string(),
        recipients: h.recipients.iter().map(|r| r.agency.to_string()).collect(),
        signature_verified: stored.verify_signature(state).is_ok(),
        logged_unix_ms: stored.entry.time.0,
        created_unix_ms: h.created.0,
        expires_unix_ms: h.expires.0,
        marking: Some((&h.marking).into()),
        content: stored.content.as_ref().ok().map(fmt::BulletinContent::from),
        recalled: false,
        recall_reason: String::new(),
        acknowledgements: acknowledgements_pb(state, entries),
        thread_id: h.thread_id().to_string(),
        request: h.request.map(|r| fmt::InformationRequest {
            priority: r.priority.into(),
            due_unix_ms: r.due.0,
        }),
        answered_by: if h.request.is_some() {
            bulletins::request_state(state, stored)
                .map(|(answered, _)| answered.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        },
        links: Vec::new(),
    }
}

/// The links of a bulletin, for `Get`.
fn links_pb(state: &NodeState, id: &BulletinId) -> Result<Vec<pb::Link>, Error> {
    Ok(crate::ops::connections::links_of(state, id)?
        .into_iter()
        .map(|l| pb::Link {
            tlp: l
                .tlp
                .parse::<liaison_core::Tlp>()
                .map_or(0, |t| fmt::Tlp::from(t) as i32),
            selector: l.selector,
            bulletin_id: l.bulletin,
            origin: l.origin,
            created_unix_ms: l.created_unix_ms,
            title: l.title,
        })
        .collect())
}

/// Bulletins as a `ListResponse` (one page, no cursor), each read logged as a
/// consultation through `door`.
fn read_list(
    state: &NodeState,
    client: &str,
    door: &str,
    stored: &[Stored],
) -> Result<pb::ListResponse, Error> {
    let ids = stored.iter().map(|s| s.header().bulletin_id).collect();
    consulted(state, client, door, ids)?;
    Ok(pb::ListResponse {
        bulletins: stored
            .iter()
            .map(|s| view_with_entries(state, s))
            .collect::<Result<Vec<_>, Error>>()?,
        next_cursor: 0,
    })
}

/// The selectors of a request, normalised; at least one.
fn selectors_of(list: &[pb::Selector]) -> Result<Vec<liaison_core::selector::Selector>, Status> {
    if list.is_empty() {
        return Err(invalid("selectors", "give at least one"));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            liaison_core::selector::Selector::parse(&s.kind, &s.value)
                .map_err(|e| invalid(&format!("selectors[{i}]"), e.to_string()))
        })
        .collect()
}

/// A checked `QueryRequest`: 1 to 16 selectors and the partners to ask (none: all).
struct Query(Vec<liaison_core::selector::Selector>, Vec<AgencyId>);

impl TryFrom<pb::QueryRequest> for Query {
    type Error = Status;

    fn try_from(m: pb::QueryRequest) -> Result<Self, Status> {
        let selectors = selectors_of(&m.selectors)?;
        let most = crate::ops::private_query::MAX_SELECTORS;
        if selectors.len() > most {
            return Err(invalid(
                "selectors",
                format!("{} given; at most {most}", selectors.len()),
            ));
        }
        let partners = m
            .partners
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.parse::<AgencyId>()
                    .map_err(|e| invalid(&format!("partners[{i}]"), e.problem))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Self(selectors, partners))
    }
}

/// A checked `SearchRequest`: its selectors, normalised, and its bounds.
struct Search(
    crate::ops::connections::Criteria,
    crate::ops::connections::SearchFilter,
    crate::ops::connections::SearchPage,
);

impl TryFrom<pb::SearchRequest> for Search {
    type Error = Status;

    fn try_from(m: pb::SearchRequest) -> Result<Self, Status> {
        let text = crate::ops::fulltext::TextQuery {
            words: m.text.clone(),
            fuzzy_name: (!m.fuzzy_person.trim().is_empty()).then(|| m.fuzzy_person.clone()),
        };
        let selectors = if m.selectors.is_empty()
            && (!text.words.trim().is_empty() || text.fuzzy_name.is_some())
        {
            Vec::new()
        } else {
            selectors_of(&m.selectors)?
        };
        let filter = crate::ops::connections::SearchFilter {
            since: unix_ms("created_since_unix_ms", m.created_since_unix_ms)?,
            until: unix_ms("created_until_unix_ms", m.created_until_unix_ms)?,
            origin: match m.origin.as_str() {
                "" => None,
                o => Some(
                    o.parse::<AgencyId>()
                        .map_err(|e| invalid("origin", e.problem))?,
                ),
            },
            category: match m.category_prefix.as_str() {
                "" => None,
                c => {
                    c.parse::<liaison_core::Category>()
                        .map_err(|e| invalid("category_prefix", e.problem))?;
                    Some(c.to_owned())
                }
            },
            tlp: match m.tlp {
                0 => None,
                t => Some(parse_tlp("tlp", t)?),
            },
            handling: match m.handling_code.as_str() {
                "" => None,
                h => {
                    Some(h.parse().map_err(|e: liaison_core::Malformed| {
                        invalid("handling_code", e.problem)
                    })?)
                }
            },
            thread: match m.thread_id.as_str() {
                "" => None,
                t => Some(
                    t.parse()
                        .map_err(|e: liaison_core::Malformed| invalid("thread_id", e.problem))?,
                ),
            },
        };
        let page = crate::ops::connections::SearchPage {
            offset: m.offset as usize,
            limit: (m.limit > 0).then_some(m.limit as usize),
            oldest_first: m.oldest_first,
            by_time: m.by_time,
        };
        let criteria = crate::ops::connections::Criteria { selectors, text };
        Ok(Self(criteria, filter, page))
    }
}

/// A time bound in Unix ms: 0 is no bound, a negative one is refused naming `field`.
fn unix_ms(field: &str, ms: i64) -> Result<Option<liaison_core::UnixMillis>, Status> {
    match ms {
        0 => Ok(None),
        ms if ms > 0 => Ok(Some(liaison_core::UnixMillis(ms))),
        ms => Err(invalid(field, format!("{ms} is before 1970"))),
    }
}

fn acknowledgements_pb(
    state: &NodeState,
    entries: &[liaison_store::Entry],
) -> Vec<pb::Acknowledgement> {
    bulletins::acknowledgements(state, entries)
        .into_iter()
        .map(|a| pb::Acknowledgement {
            client: a.by,
            note: a.note,
            time_unix_ms: a.time.0,
            agency: a.agency.map(|a| a.to_string()).unwrap_or_default(),
            state: a.state.into(),
            signed: a.signed,
        })
        .collect()
}

/// Records that `client` read `ids` through `door` (the consultation log); a read
/// that cannot be recorded is refused.
fn consulted(
    state: &NodeState,
    client: &str,
    door: &str,
    ids: Vec<BulletinId>,
) -> Result<(), Error> {
    bulletins::record_reads(state, &format!("client {client}"), door, ids)
}

/// What a subscriber sees of a recall: the bulletin's id, origin and the reason.
fn recalled_view(
    entry: &liaison_store::Entry,
    recall: &liaison_core::recall::SignedRecall,
) -> pb::BulletinView {
    pb::BulletinView {
        cursor: entry.seq,
        bulletin_id: recall.bulletin_id.to_string(),
        direction: pb::Direction::In as i32,
        origin: recall.origin.to_string(),
        signature_verified: true,
        logged_unix_ms: entry.time.0,
        recalled: true,
        recall_reason: recall.reason.clone(),
        ..Default::default()
    }
}

/// A view of a bulletin known to exist, with its acknowledgements.
fn view_with_entries(state: &NodeState, stored: &Stored) -> Result<pb::BulletinView, Error> {
    let entries = state
        .log
        .entries_for_bulletin(&stored.header().bulletin_id)?;
    Ok(view(state, stored, &entries))
}

#[tonic::async_trait]
impl pb::client_server::Client for ClientService {
    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        self.authorize(&request, Role::Publish)?;
        let command = PublishCommand::try_from(request.into_inner())?;
        let named = match &command.recipients {
            Recipients::Named(list) => Some(list.clone()),
            Recipients::AllAllowed | Recipients::Group(_) => None,
        };
        let published = self
            .blocking(move |state| {
                bulletins::publish(
                    state,
                    command.draft,
                    &command.recipients,
                    Some(&command.request_key),
                )
            })
            .await?;
        // Named recipients each get an outcome; "all allowed" reports those it chose,
        // a group each member it chose or refused.
        let requested = named.unwrap_or_else(|| {
            let refused = published.refused.iter().map(|(a, _)| a.clone());
            published.queued.iter().cloned().chain(refused).collect()
        });
        let outcomes = requested
            .iter()
            .map(|agency| {
                let refused = published.refused.iter().find(|(a, _)| a == agency);
                pb::RecipientOutcome {
                    agency: agency.to_string(),
                    queued: published.queued.contains(agency),
                    refused_reason: refused.map(|(_, r)| r.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Ok(Response::new(pb::PublishResponse {
            bulletin_id: published.id.to_string(),
            outcomes,
            replayed: published.replayed,
            log_seq: published.log_seq,
        }))
    }

    type SubscribeStream = ReceiverStream<Result<pb::BulletinView, Status>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let request = request.into_inner();
        let mut filter = Filter::try_from(request.filter)?;
        filter.direction = Some(Direction::In);
        filter.links = request.links;
        let (tx, rx) = mpsc::channel(64);
        let state = self.state.clone();
        let mut cursor = request.after_cursor;
        tokio::spawn(async move {
            loop {
                // Register for wake-ups before reading, so nothing that lands between
                // the read and the wait is missed.
                let notified = state.received.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let (state2, filter2, client2) = (state.clone(), filter.clone(), client.clone());
                let page = tokio::task::spawn_blocking(move || {
                    bulletins::feed(&state2, &filter2, cursor, 256, true).and_then(
                        |(items, next, _)| {
                            let views = items
                                .iter()
                                .map(|item| match item {
                                    bulletins::FeedItem::Bulletin(s) => {
                                        view_with_entries(&state2, s)
                                    }
                                    bulletins::FeedItem::Recalled { entry, recall } => {
                                        Ok(recalled_view(entry, recall))
                                    }
                                    // Our bulletin again, with its acknowledgements,
                                    // at the acknowledgement's place in the log.
                                    bulletins::FeedItem::Acknowledged { entry, bulletin } => {
                                        view_with_entries(&state2, bulletin).map(|mut v| {
                                            v.cursor = entry.seq;
                                            v
                                        })
                                    }
                                    // The bulletin that brought a link, with its links,
                                    // at the link's place in the log.
                                    bulletins::FeedItem::Linked { entry, bulletin } => {
                                        let mut v = view_with_entries(&state2, bulletin)?;
                                        v.links =
                                            links_pb(&state2, &bulletin.header().bulletin_id)?;
                                        v.cursor = entry.seq;
                                        Ok(v)
                                    }
                                })
                                .collect::<Result<Vec<_>, Error>>()?;
                            // What the subscriber is shown: each bulletin, and each
                            // bulletin a link names (its title and origin).
                            let shown: Vec<BulletinId> = items
                                .iter()
                                .zip(&views)
                                .flat_map(|(item, view)| match item {
                                    bulletins::FeedItem::Bulletin(s) => {
                                        vec![s.header().bulletin_id]
                                    }
                                    bulletins::FeedItem::Linked { bulletin, .. } => {
                                        std::iter::once(bulletin.header().bulletin_id)
                                            .chain(
                                                view.links
                                                    .iter()
                                                    .filter_map(|l| l.bulletin_id.parse().ok()),
                                            )
                                            .collect()
                                    }
                                    bulletins::FeedItem::Recalled { .. }
                                    | bulletins::FeedItem::Acknowledged { .. } => Vec::new(),
                                })
                                .collect();
                            consulted(&state2, &client2, "api subscribe", shown)?;
                            Ok((views, next))
                        },
                    )
                })
                .await;
                let (views, next) = match page {
                    Ok(Ok(page)) => page,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(status_of(e))).await;
                        return;
                    }
                    Err(_) => return,
                };
                let idle = views.is_empty();
                for v in views {
                    if tx.send(Ok(v)).await.is_err() {
                        return;
                    }
                }
                cursor = next;
                if idle {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(SUBSCRIBE_POLL) => {}
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::BulletinView>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let id = parse_bulletin_id("bulletin_id", &request.into_inner().bulletin_id)?;
        let view = self
            .blocking(move |state| {
                let (stored, entries) = bulletins::find(state, &id)?;
                consulted(state, &client, "api get", vec![id])?;
                let mut view = view(state, &stored, &entries);
                view.links = links_pb(state, &id)?;
                Ok(view)
            })
            .await?;
        Ok(Response::new(view))
    }

    async fn thread(
        &self,
        request: Request<pb::ThreadRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let id = parse_bulletin_id("bulletin_id", &request.into_inner().bulletin_id)?;
        let response = self
            .blocking(move |state| {
                let thread = bulletins::thread(state, &id)?;
                read_list(state, &client, "api thread", &thread)
            })
            .await?;
        Ok(Response::new(response))
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let search = Search::try_from(request.into_inner())?;
        let response = self
            .blocking(move |state| {
                let (found, more) = search.2.of(crate::ops::connections::search_stored(
                    state,
                    &search.0,
                    &search.1,
                    search.2.enough(),
                )?);
                let mut list = read_list(state, &client, "api search", &found)?;
                if more {
                    list.next_cursor = (search.2.offset + found.len()) as u64;
                }
                Ok(list)
            })
            .await?;
        Ok(Response::new(response))
    }

    async fn export_stix(
        &self,
        request: Request<pb::ExportStixRequest>,
    ) -> Result<Response<pb::ExportStixResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let m = request.into_inner();
        let filter = crate::ops::stix::StixFilter {
            since: (m.since_unix_ms > 0).then_some(liaison_core::UnixMillis(m.since_unix_ms)),
            id: match m.bulletin_id.as_str() {
                "" => None,
                text => Some(parse_bulletin_id("bulletin_id", text)?),
            },
        };
        let bundle = self
            .blocking(move |state| {
                crate::ops::stix::stix_export(state, &filter, &format!("client {client}"))
            })
            .await?;
        Ok(Response::new(pb::ExportStixResponse {
            bundle_json: bundle.to_string(),
        }))
    }

    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let Query(selectors, partners) = Query::try_from(request.into_inner())?;
        let report = crate::ops::private_query::query(
            &self.state,
            selectors,
            partners,
            format!("client {client}"),
        )
        .await
        .map_err(status_of)?;
        Ok(Response::new(pb::QueryResponse {
            answers: report
                .answers
                .into_iter()
                .map(|a| pb::PartnerAnswer {
                    partner: a.partner,
                    hits: a.hits,
                    error: a.error.unwrap_or_default(),
                    remaining_today: a.remaining_today,
                })
                .collect(),
        }))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?.name;
        let request = request.into_inner();
        if request.open_requests {
            let response = self
                .blocking(move |state| {
                    let open = bulletins::open_requests(state)?;
                    let ids = open.iter().map(|o| o.stored.header().bulletin_id).collect();
                    consulted(state, &client, "api list", ids)?;
                    Ok(pb::ListResponse {
                        bulletins: open
                            .iter()
                            .map(|o| view_with_entries(state, &o.stored))
                            .collect::<Result<Vec<_>, Error>>()?,
                        next_cursor: 0,
                    })
                })
                .await?;
            return Ok(Response::new(response));
        }
        let mut filter = Filter::try_from(request.filter)?;
        filter.direction = match pb::Direction::try_from(request.direction) {
            Ok(pb::Direction::In) => Some(Direction::In),
            Ok(pb::Direction::Out) => Some(Direction::Out),
            Ok(pb::Direction::Unspecified) => None,
            Err(_) => {
                return Err(invalid(
                    "direction",
                    format!("unknown value {}", request.direction),
                ));
            }
        };
        let limit = match request.limit {
            0 => 100,
            n if n <= MAX_PAGE => n,
            n => return Err(invalid("limit", format!("{n} is more than {MAX_PAGE}"))),
        } as usize;
        filter.newest_first = request.newest_first;
        let after = request.after_cursor;
        let response = self
            .blocking(move |state| {
                let (items, last, more) = bulletins::page(state, &filter, after, limit)?;
                let ids = items.iter().map(|s| s.header().bulletin_id).collect();
                consulted(state, &client, "api list", ids)?;
                let bulletins = items
                    .iter()
                    .map(|s| view_with_entries(state, s))
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(pb::ListResponse {
                    bulletins,
                    next_cursor: if more { last } else { 0 },
                })
            })
            .await?;
        Ok(Response::new(response))
    }

    async fn delivery_status(
        &self,
        request: Request<pb::DeliveryStatusRequest>,
    ) -> Result<Response<pb::DeliveryStatusResponse>, Status> {
        self.authorize(&request, Role::Read)?;
        let id = parse_bulletin_id("bulletin_id", &request.into_inner().bulletin_id)?;
        let (recipients, onward, acknowledgements) = self
            .blocking(move |state| {
                let (stored, entries) = bulletins::find(state, &id)?;
                if stored.direction != Direction::Out {
                    return Err(Error::InvalidRequest(format!(
                        "bulletin_id: {id} was received here; delivery status is for bulletins this node published"
                    )));
                }
                let onward = bulletins::views::onward_events(state, &entries);
                let acknowledgements = acknowledgements_pb(state, &entries);
                Ok((bulletins::delivery(state, &stored, &entries)?, onward, acknowledgements))
            })
            .await?;
        let receipt = |r: &liaison_core::receipt::SignedReceipt| {
            fmt::SignedReceipt::decode(r.to_bytes()).ok()
        };
        let recipients = recipients
            .into_iter()
            .map(|(agency, d)| {
                let next_attempt_unix_ms = match &d {
                    Delivery::Retrying { failure } => failure.next_attempt.0,
                    _ => 0,
                };
                let (state, receipt, detail) = match &d {
                    Delivery::Queued | Delivery::Abandoned => {
                        (pb::DeliveryState::Queued, None, String::new())
                    }
                    Delivery::Retrying { failure } => {
                        (pb::DeliveryState::Retrying, None, failure.error.to_string())
                    }
                    Delivery::Delivered { receipt: r, .. } => {
                        (pb::DeliveryState::Delivered, receipt(r), String::new())
                    }
                    Delivery::Rejected {
                        receipt: r, reason, ..
                    } => (pb::DeliveryState::Rejected, receipt(r), reason.clone()),
                    Delivery::Purged { receipt: r, .. } => {
                        (pb::DeliveryState::Purged, receipt(r), String::new())
                    }
                    Delivery::Withdrawn { receipt: r } => (
                        pb::DeliveryState::Purged,
                        receipt(r),
                        "recalled before delivery: the recipient confirms it never had it".into(),
                    ),
                };
                pb::RecipientDelivery {
                    agency: agency.to_string(),
                    state: state as i32,
                    receipt,
                    detail,
                    next_attempt_unix_ms,
                }
            })
            .collect();
        Ok(Response::new(pb::DeliveryStatusResponse {
            bulletin_id: id.to_string(),
            recipients,
            onward: onward
                .into_iter()
                .filter_map(|(logged, event)| onward_step(logged, event))
                .collect(),
            acknowledgements,
        }))
    }

    async fn recall(
        &self,
        request: Request<pb::RecallRequest>,
    ) -> Result<Response<pb::RecallResponse>, Status> {
        self.authorize(&request, Role::Publish)?;
        let request = request.into_inner();
        let id = parse_bulletin_id("bulletin_id", &request.bulletin_id)?;
        let view = self
            .blocking(move |state| bulletins::recall(state, &id, &request.reason))
            .await?;
        Ok(Response::new(pb::RecallResponse {
            recall_sent_to: view.recall_sent_to,
            withdrawn_before_delivery: view.withdrawn_before_delivery,
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        self.authorize(&request, Role::Publish)?;
        let request = request.into_inner();
        let id = parse_bulletin_id("bulletin_id", &request.bulletin_id)?;
        let to = parse_agencies("to", &request.to)?;
        let holders = parse_agencies("holders", &request.holders)?;
        let days = (request.days > 0).then_some(request.days);
        let view = self
            .blocking(move |state| {
                let holders = (!holders.is_empty()).then_some(holders.as_slice());
                bulletins::release(state, &id, &to, holders, days)
            })
            .await?;
        Ok(Response::new(pb::ReleaseResponse {
            holders: view.holders,
            to: view.to,
            expires: view.expires,
            log_seq: view.log_seq,
        }))
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::AcknowledgeResponse>, Status> {
        let client = self.authorize(&request, Role::Read)?;
        let request = request.into_inner();
        let id = parse_bulletin_id("bulletin_id", &request.bulletin_id)?;
        let ack = match request.state {
            0 => liaison_core::acknowledgement::AckState::Actioned,
            n => n
                .try_into()
                .map_err(|e: liaison_core::Malformed| invalid("state", e.problem))?,
        };
        let view = self
            .blocking(move |state| {
                bulletins::acknowledge(state, &id, &client.name, ack, &request.note)
            })
            .await?;
        Ok(Response::new(pb::AcknowledgeResponse {
            log_seq: view.log_seq,
            sent_to: view.sent_to.unwrap_or_default(),
        }))
    }
}
