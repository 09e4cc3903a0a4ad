//! Opening a gRPC channel to one partner over TLS 1.3, trusting only that partner's CA.

use hyper_util::rt::TokioIo;
use liaison_core::AgencyId;
use liaison_proto::v1 as pb;
use std::time::Duration;

use super::DeliveryError;
use crate::trust::partners::PartnerSet;
use crate::trust::tls::{NodeCertificate, peer_client_config};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a gRPC channel to `partner` over TLS 1.3, presenting `certificate` and
/// accepting only a server certificate from that partner's CA.
///
/// Errors: [`DeliveryError::NoEndpoint`], [`DeliveryError::Connect`] naming the
/// endpoint and each cause once.
pub async fn connect(
    partners: &PartnerSet,
    certificate: &NodeCertificate,
    partner: &AgencyId,
) -> Result<pb::peer_client::PeerClient<tonic::transport::Channel>, DeliveryError> {
    let endpoint = partners
        .snapshot()
        .get(partner)
        .and_then(|p| p.identity.document().peer_endpoints.first().cloned())
        .ok_or_else(|| DeliveryError::NoEndpoint(partner.clone()))?;
    let failed = |cause: String| DeliveryError::Connect {
        partner: partner.clone(),
        endpoint: endpoint.clone(),
        cause,
    };
    let config = peer_client_config(certificate, partners.clone(), partner.clone())
        .map_err(|e| failed(crate::error::describe(&e)))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let host = endpoint
        .rsplit_once(':')
        .map_or(endpoint.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_owned();
    let server_name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| failed(format!("bad endpoint: {e}")))?;
    let target = endpoint.clone();
    let service = tower::service_fn(move |_: tonic::transport::Uri| {
        let (connector, server_name, target) =
            (connector.clone(), server_name.clone(), target.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    // The URI only names the authority for HTTP/2; the connector decides where to go
    // and does the TLS itself. The scheme says "http" because tonic, when built with
    // its own TLS support, insists on configuring TLS for an "https" URI.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .map_err(|e| failed(format!("bad endpoint: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_with_connector(service)
        .await
        .map_err(|e| failed(crate::error::describe(&e)))?;
    Ok(pb::peer_client::PeerClient::new(channel)
        .max_decoding_message_size(1024 * 1024)
        .max_encoding_message_size(liaison_core::limits::MAX_ENVELOPE_BYTES + 1024))
}
