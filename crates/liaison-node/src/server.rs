//! Running a node: the peer listener (TLS 1.3, mutual authentication, gRPC), the admin
//! socket, and one delivery worker per partner, until `shutdown` resolves.
//!
//! Shutdown: the listeners stop accepting, open delivery streams finish what is
//! durable, workers stop; whatever was not receipted stays in the outboxes (on disk)
//! and goes out after the next start.

use std::collections::HashSet;
use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use liaison_core::AgencyId;
use liaison_proto::v1 as pb;
use liaison_store::{EntryKind, NewEntry};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::admin;
use crate::client_service::{AuthenticatedClient, ClientService};
use crate::data_dir::Node;
use crate::delivery;
use crate::error::{Error, Result};
use crate::partners::TlsRole;
use crate::peer_service::{AuthenticatedPartner, PeerService};
use crate::state::NodeState;
use crate::tls::{self, NodeCertificate};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent gRPC streams one partner connection may open.
const MAX_STREAMS_PER_CONNECTION: u32 = 8;

/// The sockets a node serves on, bound by the caller (tests bind port 0).
pub struct Listeners {
    /// The peer listener.
    pub peer: TcpListener,
    /// The client API listener (none: the node serves no client API).
    pub api: Option<TcpListener>,
}

/// A TLS connection whose certificate was verified and identified as `C`.
struct Authenticated<C> {
    tls: TlsStream<TcpStream>,
    identity: C,
}

impl<C: Clone + Send + Sync + 'static> Connected for Authenticated<C> {
    type ConnectInfo = C;
    fn connect_info(&self) -> C {
        self.identity.clone()
    }
}

impl<C: Unpin> AsyncRead for Authenticated<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_read(cx, buf)
    }
}

impl<C: Unpin> AsyncWrite for Authenticated<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}

/// Names who is on a verified connection, from its certificate chain.
type Identify<C> = Arc<
    dyn Fn(&CertificateDer<'_>, &[CertificateDer<'_>]) -> std::result::Result<C, String>
        + Send
        + Sync,
>;

/// Accepts TCP connections, completes the TLS handshake (the verifier logs refusals
/// with the reason), names who connected and hands the connection to a gRPC server.
async fn accept_loop<C: Send + 'static>(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    identify: Identify<C>,
    connections: mpsc::Sender<std::io::Result<Authenticated<C>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // Without TCP_NODELAY each new connection costs ~25 ms on loopback.
        let _ = tcp.set_nodelay(true);
        let (acceptor, identify, connections) =
            (acceptor.clone(), identify.clone(), connections.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let (_, session) = tls.get_ref();
            let certs = session.peer_certificates().unwrap_or_default();
            let Some((end_entity, intermediates)) = certs.split_first() else {
                return;
            };
            let identity = match identify(end_entity, intermediates) {
                Ok(identity) => identity,
                Err(reason) => {
                    tracing::warn!(%remote, %reason, "connection refused after handshake");
                    return;
                }
            };
            let _ = connections.send(Ok(Authenticated { tls, identity })).await;
        });
    }
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
    let state = tokio::task::spawn_blocking(move || NodeState::open(node))
        .await
        .map_err(|e| Error::Admin(e.to_string()))??;
    run_state(state, certificate, listeners, shutdown).await
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

    // The log lock is ours, so a socket file left here is stale.
    let socket = admin::socket_path(&data_dir);
    let _ = std::fs::remove_file(&socket);
    let admin_listener =
        tokio::net::UnixListener::bind(&socket).map_err(Error::io("bind admin socket", &socket))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io("restrict admin socket", &socket))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers: Arc<Mutex<HashSet<AgencyId>>> = Arc::default();
    let start_workers = {
        let (state, certificate, workers, stop_rx) = (
            state.clone(),
            certificate.clone(),
            workers.clone(),
            stop_rx.clone(),
        );
        Arc::new(move || {
            let mut running = workers.lock().unwrap_or_else(|p| p.into_inner());
            running.retain(|agency| state.partners.snapshot().get(agency).is_some());
            for partner in state.partners.snapshot().iter() {
                let agency = partner.agency().clone();
                if running.insert(agency.clone()) {
                    tokio::spawn(delivery::run_worker(
                        state.clone(),
                        certificate.clone(),
                        agency,
                        stop_rx.clone(),
                    ));
                }
                state.wake(partner.agency());
            }
        })
    };
    start_workers();

    let peer_acceptor = tokio_rustls::TlsAcceptor::from(tls::peer_server_config(
        &certificate,
        state.partners.clone(),
    )?);
    let partners = state.partners.clone();
    let identify_partner: Identify<AuthenticatedPartner> =
        Arc::new(move |end_entity, intermediates| {
            partners
                .snapshot()
                .identify(
                    end_entity,
                    intermediates,
                    rustls::pki_types::UnixTime::now(),
                    TlsRole::Client,
                )
                .map(AuthenticatedPartner)
        });
    let (peer_tx, peer_rx) = mpsc::channel(64);
    let mut tasks = vec![
        tokio::spawn(accept_loop(
            listeners.peer,
            peer_acceptor,
            identify_partner,
            peer_tx,
            stop_rx.clone(),
        )),
        tokio::spawn(admin::serve(
            admin_listener,
            state.clone(),
            start_workers.clone(),
            stop_rx.clone(),
        )),
    ];

    let peer_service = pb::peer_server::PeerServer::new(PeerService::new(state.clone()))
        .max_decoding_message_size(liaison_core::limits::MAX_ENVELOPE_BYTES + 1024);
    let mut grpc_stop = stop_rx.clone();
    let mut servers = vec![tokio::spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(peer_service)
            .serve_with_incoming_shutdown(ReceiverStream::new(peer_rx), async move {
                let _ = grpc_stop.changed().await;
            }),
    )];

    let api_addr = match listeners.api {
        None => None,
        Some(api) => {
            let addr = api
                .local_addr()
                .map_err(Error::io("client API listener", &data_dir))?;
            let acceptor = tokio_rustls::TlsAcceptor::from(tls::api_server_config(
                &certificate,
                &state.node().identity().document().tls_ca_certificate,
                state.clients.clone(),
            )?);
            let identify_client: Identify<AuthenticatedClient> = Arc::new(|end_entity, _| {
                Ok(AuthenticatedClient(tls::certificate_sha256(end_entity)))
            });
            let (api_tx, api_rx) = mpsc::channel(64);
            tasks.push(tokio::spawn(accept_loop(
                api,
                acceptor,
                identify_client,
                api_tx,
                stop_rx.clone(),
            )));
            let (health_reporter, health) = tonic_health::server::health_reporter();
            health_reporter
                .set_serving::<pb::client_server::ClientServer<ClientService>>()
                .await;
            let reflection = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(liaison_proto::FILE_DESCRIPTOR_SET)
                .build_v1()
                .map_err(|e| Error::Admin(format!("reflection: {e}")))?;
            let reflection_alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(liaison_proto::FILE_DESCRIPTOR_SET)
                .build_v1alpha()
                .map_err(|e| Error::Admin(format!("reflection: {e}")))?;
            let client_service =
                pb::client_server::ClientServer::new(ClientService::new(state.clone()))
                    .max_decoding_message_size(crate::client_service::MAX_REQUEST_BYTES);
            let mut api_stop = stop_rx.clone();
            servers.push(tokio::spawn(
                tonic::transport::Server::builder()
                    .max_concurrent_streams(Some(64))
                    .add_service(health)
                    .add_service(reflection)
                    .add_service(reflection_alpha)
                    .add_service(client_service)
                    .serve_with_incoming_shutdown(ReceiverStream::new(api_rx), async move {
                        let _ = api_stop.changed().await;
                    }),
            ));
            Some(addr)
        }
    };

    let log = state.log.clone();
    let started =
        serde_json::json!({"event": "node-started", "peer_listen": peer_addr.to_string()});
    tokio::task::spawn_blocking(move || {
        log.append(NewEntry::new(EntryKind::NodeEvent, started.to_string()))
    })
    .await
    .map_err(|e| Error::Admin(e.to_string()))??;
    tracing::info!(%agency, %peer_addr, api_addr = ?api_addr, admin_socket = %socket.display(), "node running");

    shutdown.await;
    tracing::info!(%agency, "shutting down");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    for server in servers {
        // Open streams (a partner's delivery, a client's subscription) get a moment
        // to finish; what they did not finish stays queued on disk.
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    }
    let _ = std::fs::remove_file(&socket);
    let log = state.log.clone();
    tokio::task::spawn_blocking(move || {
        log.append(NewEntry::new(
            EntryKind::NodeEvent,
            r#"{"event":"node-stopped"}"#,
        ))
    })
    .await
    .map_err(|e| Error::Admin(e.to_string()))??;
    tracing::info!(%agency, "stopped");
    Ok(())
}
