//! Accepting TLS connections for a gRPC server: the handshake (whose verifier logs
//! refusals with the reason), then naming who connected, so that a service reads the
//! authenticated caller from the request's extensions and never from a message.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS connection whose certificate was verified and identified as `C`.
pub(crate) struct Authenticated<C> {
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

/// Names who is on a verified connection, from its certificate chain (end entity
/// first; empty where the listener does not ask for client certificates) and its
/// remote address.
pub(crate) type Identify<C> = Arc<
    dyn Fn(&[CertificateDer<'_>], std::net::SocketAddr) -> std::result::Result<C, String>
        + Send
        + Sync,
>;

/// The end entity and intermediates of a client's chain, or why there are none.
pub(crate) fn split_chain<'a>(
    certs: &'a [CertificateDer<'a>],
) -> std::result::Result<(&'a CertificateDer<'a>, &'a [CertificateDer<'a>]), String> {
    certs
        .split_first()
        .ok_or_else(|| "no client certificate".to_owned())
}

/// Verified connections from [`accept_loop`] as axum takes them, each named by its
/// identity `C` (what `ConnectInfo<C>` gives a handler).
pub(crate) struct TlsListener<C> {
    incoming: mpsc::Receiver<std::io::Result<Authenticated<C>>>,
    local: std::net::SocketAddr,
}

impl<C> TlsListener<C> {
    /// A listener over the accept loop's output for the socket bound at `local`.
    pub(crate) fn new(
        incoming: mpsc::Receiver<std::io::Result<Authenticated<C>>>,
        local: std::net::SocketAddr,
    ) -> Self {
        Self { incoming, local }
    }
}

impl<C: Clone + Send + Sync + Unpin + 'static> axum::serve::Listener for TlsListener<C> {
    type Io = Authenticated<C>;
    type Addr = C;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.recv().await {
                Some(Ok(connection)) => {
                    let identity = connection.identity.clone();
                    return (connection, identity);
                }
                Some(Err(_)) => continue,
                // The accept loop stopped: shutdown is under way.
                None => std::future::pending().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Err(std::io::Error::other(format!(
            "the listener on {} names its connections by identity, not address",
            self.local
        )))
    }
}

/// Accepts TCP connections, completes the TLS handshake (the verifier logs refusals
/// with the reason), names who connected and hands the connection to a gRPC server.
pub(crate) async fn accept_loop<C: Send + 'static>(
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
            let identity = match identify(certs, remote) {
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
