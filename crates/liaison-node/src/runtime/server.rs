//! Running a node: the peer listener (TLS 1.3, mutual authentication, gRPC), the
//! client API listener, the admin socket, and one delivery worker per partner, until
//! `shutdown` resolves.
//!
//! Shutdown: the listeners stop accepting, open delivery streams finish what is
//! durable, workers stop; whatever was not receipted stays in the outboxes (on disk)
//! and goes out after the next start.

use std::collections::HashSet;
use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_core::AgencyId;
use liaison_proto::v1 as pb;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::accept::{Identify, TlsListener, accept_loop, split_chain};
use crate::edge::admin;
use crate::edge::client_api::{AuthenticatedClient, ClientService};
use crate::edge::peer::{AuthenticatedPartner, PeerService};
use crate::edge::{desk, taxii};
use crate::error::{Error, Result};
use crate::node::data_dir::Node;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::runtime::delivery;
use crate::trust::partners::{Pinning, TlsRole};
use crate::trust::tls::{self, NodeCertificate};

/// Concurrent gRPC streams one partner connection may open.
const MAX_STREAMS_PER_CONNECTION: u32 = 8;
/// How long open streams get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The sockets a node serves on, bound by the caller (tests bind port 0).
pub struct Listeners {
    /// The peer listener.
    pub peer: TcpListener,
    /// The client API listener (none: the node serves no client API).
    pub api: Option<TcpListener>,
}

/// Runs the node until `shutdown` resolves.
///
/// Errors: the log cannot be opened (another process holds it), the admin socket or
/// TLS cannot be set up.
pub async fn run(
    node: Node,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let certificate = Arc::new(NodeCertificate::load(
        &node.dir().join("tls/node.pem"),
        &node.dir().join("tls/node.key"),
    )?);
    let state = tokio::task::spawn_blocking(move || NodeState::open(node)).await??;
    run_state(state, certificate, listeners, shutdown).await
}

/// What runs until shutdown: accept loops and the admin socket (`tasks`, stopped at
/// once) and gRPC servers (`servers`, given time to finish their streams).
#[derive(Default)]
struct Running {
    tasks: Vec<JoinHandle<()>>,
    servers: Vec<JoinHandle<std::result::Result<(), tonic::transport::Error>>>,
}

impl Running {
    /// Starts accepting TLS connections on `listener`; the authenticated ones come out
    /// of the returned stream, for a gRPC server.
    fn accept<C: Clone + Send + Sync + Unpin + 'static>(
        &mut self,
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        identify: Identify<C>,
        stop: &watch::Receiver<bool>,
    ) -> ReceiverStream<std::io::Result<super::accept::Authenticated<C>>> {
        let (connections, incoming) = mpsc::channel(64);
        self.tasks.push(tokio::spawn(accept_loop(
            listener,
            acceptor,
            identify,
            connections,
            stop.clone(),
        )));
        ReceiverStream::new(incoming)
    }
}

/// [`run`] for a node whose state the caller opened (and keeps a handle on, as the
/// benchmark does to watch deliveries).
pub async fn run_state(
    state: Arc<NodeState>,
    certificate: Arc<NodeCertificate>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let data_dir = state.node().dir().to_owned();
    let agency = state.node().config().agency.clone();
    let peer_addr = listeners
        .peer
        .local_addr()
        .map_err(Error::io("peer listener", &data_dir))?;
    // Before anything answers: partners must be able to take the certificate served.
    if let Some(served) = certificate.id() {
        let pinning = state.clone();
        tokio::task::spawn_blocking(move || {
            crate::ops::keys::pin_served_certificate(&pinning, &served)
        })
        .await??;
    }
    let (socket, admin_listener) = bind_admin_socket(&data_dir)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let start_workers = worker_starter(&state, &certificate, &stop_rx);
    start_workers();

    let mut running = Running::default();
    serve_peers(&mut running, &state, &certificate, listeners.peer, &stop_rx)?;
    running.tasks.push(tokio::spawn(admin::socket::serve(
        admin_listener,
        state.clone(),
        start_workers,
        stop_rx.clone(),
    )));
    running
        .tasks
        .push(tokio::spawn(erase_expired(state.clone(), stop_rx.clone())));
    running.tasks.push(tokio::spawn(keep_search_current(
        state.clone(),
        stop_rx.clone(),
    )));
    let config = state.node().config().clone();
    let metrics_listener = bind_configured(
        config.metrics_listen,
        "bind the metrics endpoint ([metrics] listen)",
        &data_dir,
    )
    .await?;
    if let Some(listener) = metrics_listener {
        running.tasks.push(tokio::spawn(super::metrics::serve(
            listener,
            state.clone(),
            stop_rx.clone(),
        )));
    }
    let taxii_listener = bind_configured(
        config.taxii_listen,
        "bind the TAXII server ([taxii] listen)",
        &data_dir,
    )
    .await?;
    let desk_listener = bind_configured(
        config.desk_listen,
        "bind the desk ([desk] listen)",
        &data_dir,
    )
    .await?;
    serve_http(
        &mut running,
        &state,
        &certificate,
        taxii_listener,
        desk_listener,
        &stop_rx,
    )?;
    let (metrics_addr, taxii_addr, desk_addr) = (
        config.metrics_listen,
        config.taxii_listen,
        config.desk_listen,
    );
    let api_addr = match listeners.api {
        Some(api) => {
            Some(serve_client_api(&mut running, &state, &certificate, api, &stop_rx).await?)
        }
        None => None,
    };
    record(
        &state,
        LogEvent::NodeStarted {
            peer_listen: peer_addr.to_string(),
        },
    )
    .await?;
    state.set_serving(true);
    for warning in crate::ops::policy::unknown_partners(&state, &state.policy.snapshot()) {
        tracing::warn!(%warning, "sharing policy");
    }
    tracing::info!(%agency, %peer_addr, api_addr = ?api_addr, metrics_addr = ?metrics_addr, taxii_addr = ?taxii_addr, desk_addr = ?desk_addr, admin_socket = %socket.display(), "node running");

    shutdown.await;
    tracing::info!(%agency, "shutting down");
    state.set_serving(false);
    let _ = stop_tx.send(true);
    for task in running.tasks {
        let _ = task.await;
    }
    for server in running.servers {
        // Open streams (a partner's delivery, a client's subscription) get a moment
        // to finish; what they did not finish stays queued on disk.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, server).await;
    }
    let _ = std::fs::remove_file(&socket);
    record(&state, LogEvent::NodeStopped).await?;
    // A signed checkpoint of the final head: an export taken now verifies to its end.
    let log = state.log.clone();
    tokio::task::spawn_blocking(move || log.checkpoint()).await??;
    tracing::info!(%agency, "stopped");
    Ok(())
}

/// Appends `event` to the log from a blocking thread.
async fn record(state: &Arc<NodeState>, event: LogEvent) -> Result<()> {
    let log = state.log.clone();
    tokio::task::spawn_blocking(move || log.append(event.entry())).await??;
    Ok(())
}

/// Binds `admin.sock` in the data directory, readable and writable by the owner only.
fn bind_admin_socket(data_dir: &Path) -> Result<(PathBuf, UnixListener)> {
    // The log lock is ours, so a socket file left here is stale.
    let socket = admin::socket_path(data_dir);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(Error::io("bind admin socket", &socket))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io("restrict admin socket", &socket))?;
    Ok((socket, listener))
}

/// A function that starts a delivery worker for every partner that has none (after a
/// `peer add`, say), forgets removed ones, and wakes them all.
fn worker_starter(
    state: &Arc<NodeState>,
    certificate: &Arc<NodeCertificate>,
    stop: &watch::Receiver<bool>,
) -> Arc<dyn Fn() + Send + Sync> {
    let workers: Arc<Mutex<HashSet<AgencyId>>> = Arc::default();
    let (state, certificate, stop) = (state.clone(), certificate.clone(), stop.clone());
    Arc::new(move || {
        let mut running = workers.lock().unwrap_or_else(|p| p.into_inner());
        let partners = state.partners.snapshot();
        running.retain(|agency| partners.get(agency).is_some());
        for partner in partners.iter() {
            let agency = partner.agency().clone();
            if running.insert(agency.clone()) {
                tokio::spawn(delivery::run_worker(
                    state.clone(),
                    certificate.clone(),
                    agency,
                    stop.clone(),
                ));
            }
            state.wake(partner.agency());
        }
    })
}

/// The peer API: partners only, each identified by the CA its certificate chains to.
fn serve_peers(
    running: &mut Running,
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    listener: TcpListener,
    stop: &watch::Receiver<bool>,
) -> Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::peer_server_config(
        certificate,
        state.partners.clone(),
    )?);
    let called_in = state.clone();
    let identify: Identify<AuthenticatedPartner> = Arc::new(move |certs, _| {
        let (end_entity, intermediates) = split_chain(certs)?;
        let (agency, pinning) = called_in.partners.snapshot().identify(
            end_entity,
            intermediates,
            rustls::pki_types::UnixTime::now(),
            TlsRole::Client,
        )?;
        if pinning == Pinning::Pinned {
            // It is up: whatever waits for it goes now, not when a backoff ends.
            called_in.partner_called_in(&agency);
        }
        Ok(AuthenticatedPartner { agency, pinning })
    });
    let incoming = running.accept(listener, acceptor, identify, stop);
    let service = pb::peer_server::PeerServer::new(PeerService::new(state.clone()))
        .max_decoding_message_size(liaison_core::limits::MAX_ENVELOPE_BYTES + 1024);
    let mut stopped = stop.clone();
    running.servers.push(tokio::spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopped.changed().await;
            }),
    ));
    Ok(())
}

/// The client API for the agency's own systems, with health checking and reflection.
async fn serve_client_api(
    running: &mut Running,
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    listener: TcpListener,
    stop: &watch::Receiver<bool>,
) -> Result<std::net::SocketAddr> {
    let addr = listener
        .local_addr()
        .map_err(Error::io("client API listener", state.node().dir()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::api_server_config(
        certificate,
        &state.node().identity().document().tls_ca_certificate,
        state.clients.clone(),
    )?);
    let incoming = running.accept(listener, acceptor, identify_client(), stop);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::client_server::ClientServer<ClientService>>()
        .await;
    running.tasks.push(tokio::spawn(report_storage_health(
        state.clone(),
        health_reporter,
        stop.clone(),
    )));
    running
        .tasks
        .push(tokio::spawn(expire_epoch_keys(state.clone(), stop.clone())));
    let reflection =
        |e: tonic_reflection::server::Error| Error::Internal(format!("reflection: {e}"));
    // Reflection advertises what this port serves, and only that: the client API and
    // health checking (so `grpcurl ... grpc.health.v1.Health/Check` works), not the
    // peer service that shares the descriptor set.
    let advertised = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(liaison_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("liaison.v1.Client")
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
    };
    let reflection_v1 = advertised().build_v1().map_err(reflection)?;
    let reflection_alpha = advertised()
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()
        .map_err(reflection)?;
    let service = pb::client_server::ClientServer::new(ClientService::new(state.clone()))
        .max_decoding_message_size(crate::edge::client_api::MAX_REQUEST_BYTES);
    let mut stopped = stop.clone();
    running.servers.push(tokio::spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(64))
            .layer(tower::util::MapResponseLayer::new(
                too_large_is_resource_exhausted,
            ))
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopped.changed().await;
            }),
    ));
    Ok(addr)
}

/// The read-only TAXII 2.1 server (the client API's certificates and roles, over
/// HTTP/1.1) and the officers' desk (the node certificate; a client certificate asked
/// for, not required: officers sign in with a password or their certificate), each on
/// its listener when configured.
fn serve_http(
    running: &mut Running,
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    taxii_listener: Option<TcpListener>,
    desk_listener: Option<TcpListener>,
    stop: &watch::Receiver<bool>,
) -> Result<()> {
    let local = |listener: &TcpListener| {
        listener
            .local_addr()
            .map_err(Error::io("HTTPS listener", state.node().dir()))
    };
    if let Some(listener) = taxii_listener {
        let addr = local(&listener)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::taxii_server_config(
            certificate,
            &state.node().identity().document().tls_ca_certificate,
            state.clients.clone(),
        )?);
        let incoming = running.accept(listener, acceptor, identify_client(), stop);
        running.tasks.push(tokio::spawn(taxii::serve(
            TlsListener::new(incoming.into_inner(), addr),
            state.clone(),
            stop.clone(),
        )));
    }
    if let Some(listener) = desk_listener {
        let addr = local(&listener)?;
        let (config, certificates) = tls::desk_server_config(
            certificate,
            &state.node().identity().document().tls_ca_certificate,
        )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let identify: Identify<desk::Browser> = Arc::new(move |chain, remote| {
            Ok(desk::Browser {
                remote,
                certificate: certificates.judge(chain),
            })
        });
        let incoming = running.accept(listener, acceptor, identify, stop);
        running.tasks.push(tokio::spawn(desk::serve(
            TlsListener::new(incoming.into_inner(), addr),
            state.clone(),
            stop.clone(),
        )));
    }
    Ok(())
}

/// Binds the listener a configuration field names (`[metrics]`, `[taxii]`, `[desk]`
/// `listen`), if it is set.
async fn bind_configured(
    addr: Option<std::net::SocketAddr>,
    context: &'static str,
    data_dir: &Path,
) -> Result<Option<TcpListener>> {
    match addr {
        Some(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(Error::io(context, data_dir)),
        None => Ok(None),
    }
}

/// Names a client of the client API or the TAXII server by its certificate's hash
/// (its registration is checked per request, so a revocation takes effect at once).
fn identify_client() -> Identify<AuthenticatedClient> {
    Arc::new(|certs, _| {
        let (end_entity, _) = split_chain(certs)?;
        Ok(AuthenticatedClient(tls::certificate_sha256(end_entity)))
    })
}

/// How often the health service looks at the log's storage state.
const HEALTH_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Keeps the health service truthful: `NOT_SERVING` (overall and for the client API)
/// while the log cannot write, `SERVING` again once it can.
async fn report_storage_health(
    state: Arc<NodeState>,
    reporter: tonic_health::server::HealthReporter,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEALTH_POLL) => {}
            _ = stop.changed() => return,
        }
        let now_failing = state.log.storage_failure().is_some();
        if now_failing == failing {
            continue;
        }
        failing = now_failing;
        let status = if failing {
            tonic_health::ServingStatus::NotServing
        } else {
            tonic_health::ServingStatus::Serving
        };
        reporter.set_service_status("", status).await;
        reporter
            .set_service_status(
                <pb::client_server::ClientServer<ClientService> as tonic::server::NamedService>::NAME,
                status,
            )
            .await;
    }
}

/// How often epoch keys past their age are dropped from memory.
const EPOCH_SWEEP: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a running node brings its full-text index up to the log, once a search
/// has opened it (a search catches up first anyway; this keeps that short).
const SEARCH_CATCH_UP: Duration = Duration::from_secs(2);

/// How often a running node erases payloads whose retention period ended.
const RETENTION_SWEEP: Duration = Duration::from_secs(60);

/// Erases expired payloads now and then every [`RETENTION_SWEEP`], off the async
/// threads.
async fn erase_expired(state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    loop {
        let sweeping = state.clone();
        let swept = tokio::task::spawn_blocking(move || {
            crate::ops::retention::erase_expired(&sweeping, liaison_core::UnixMillis::now())
        })
        .await;
        if let Ok(Err(e)) = swept {
            tracing::error!(error = %e, "cannot erase expired payloads; retrying in a minute");
        }
        // Attachment files of erased bulletins, and pushes whose envelopes never came.
        let sweeping = state.clone();
        let swept =
            tokio::task::spawn_blocking(move || crate::ops::attachments::sweep(&sweeping)).await;
        match swept {
            Ok(Ok(n)) if n > 0 => tracing::info!(files = n, "swept attachment files"),
            Ok(Err(e)) => tracing::error!(error = %e, "cannot sweep attachment files"),
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_SWEEP) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Indexes new bulletins for full-text search every [`SEARCH_CATCH_UP`], off the async
/// threads, once the index is open.
async fn keep_search_current(state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SEARCH_CATCH_UP) => {}
            _ = stop.changed() => return,
        }
        if !crate::ops::fulltext::is_open(&state) {
            continue;
        }
        let indexing = state.clone();
        let caught_up =
            tokio::task::spawn_blocking(move || crate::ops::fulltext::catch_up(&indexing)).await;
        if let Ok(Err(e)) = caught_up {
            tracing::warn!(error = %e, "cannot bring the full-text index up to date");
        }
    }
}

/// Drops format-v2 epoch keys past their age even when no bulletin flows (sealing
/// drops them too, but a quiet node must not keep its last ones).
async fn expire_epoch_keys(state: Arc<NodeState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EPOCH_SWEEP) => state.envelopes.expire(),
            _ = stop.changed() => return,
        }
    }
}

/// tonic answers a request over the decoding limit with `OUT_OF_RANGE` before any
/// handler runs; to a caller it is a size limit exceeded, `RESOURCE_EXHAUSTED`, as
/// `client.proto` documents. Only that status is rewritten; nothing else is touched.
fn too_large_is_resource_exhausted<B>(
    mut response: tonic::codegen::http::Response<B>,
) -> tonic::codegen::http::Response<B> {
    let out_of_range = response
        .headers()
        .get("grpc-status")
        .is_some_and(|code| code.as_bytes() == b"11");
    if out_of_range {
        let headers = response.headers_mut();
        headers.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from_static("8"),
        );
        headers.insert(
            "grpc-message",
            tonic::codegen::http::HeaderValue::from_static(
                "request%20exceeds%20the%20size%20limit",
            ),
        );
    }
    response
}
