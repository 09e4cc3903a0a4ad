//! TLS 1.3 with mutual authentication between partner nodes. Two custom verifiers keep
//! one trust anchor per partner (a merged root store would let any partner's CA issue
//! a certificate naming another agency) and require the right extended key usage
//! (rustls accepts certificates without EKU). Refusals are logged with the reason.

use std::path::Path;
use std::sync::Arc;

use liaison_core::AgencyId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::error::{Error, Result};
use crate::trust::clients::ClientSet;
use crate::trust::partners::{PartnerSet, TlsRole, verify_chain};

/// ALPN for gRPC.
const ALPN_H2: &[u8] = b"h2";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The node's certificate and key.
#[derive(Debug)]
pub struct NodeCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl NodeCertificate {
    /// A certificate chain and key from PEM text.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let bad = |problem: String| Error::Tls(problem);
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(format!("key: {e}")))?;
        Ok(Self { chain, key })
    }

    /// Loads `tls/node.pem` and `tls/node.key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| Error::BadKeyMaterial {
                path: cert.to_owned(),
                problem: e.to_string(),
            })?;
        let pem = crate::node::secrets::read(key)?;
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| Error::BadKeyMaterial {
            path: key.to_owned(),
            problem: e.to_string(),
        })?;
        Ok(Self { chain, key })
    }

    /// The id of the leaf certificate, as pinned in the identity document; `None` for
    /// an empty chain.
    pub fn id(&self) -> Option<liaison_core::KeyId> {
        self.chain
            .first()
            .map(|leaf| liaison_core::crypto::tls_certificate_id(leaf))
    }
}

/// Decides whether a client certificate chain is acceptable; the error is a sentence
/// for the log.
type ClientCheck = Box<
    dyn Fn(&CertificateDer<'_>, &[CertificateDer<'_>], UnixTime) -> std::result::Result<(), String>
        + Send
        + Sync,
>;

/// A client-certificate verifier for one listener: TLS 1.3 signatures only, and a
/// chain accepted by `check` (which logs nothing itself: refusals are logged here).
struct ClientVerifier {
    listener: &'static str,
    check: ClientCheck,
    algorithms: WebPkiSupportedAlgorithms,
    /// Whether a client without a certificate is refused (the desk's are not).
    mandatory: bool,
    /// The CA subjects sent with the certificate request, so that a browser offers
    /// only certificates they issued (none: any).
    hints: Vec<DistinguishedName>,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        match (self.check)(end_entity, intermediates, now) {
            Ok(()) => Ok(ClientCertVerified::assertion()),
            Err(reason) => {
                tracing::warn!(listener = self.listener, %reason, "refused a connection at the TLS handshake");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Peer listener: the chain must end at the CA of a known partner, checked one trust
/// anchor at a time, and carry clientAuth.
fn partner_client_verifier(partners: PartnerSet) -> ClientVerifier {
    ClientVerifier {
        listener: "peer",
        check: Box::new(move |end_entity, intermediates, now| {
            partners
                .snapshot()
                .identify(end_entity, intermediates, now, TlsRole::Client)
                .map(|_| ())
        }),
        algorithms: algorithms(),
        mandatory: true,
        hints: Vec::new(),
    }
}

/// Client API listener: the chain must end at the agency's own CA, carry clientAuth,
/// and be registered (not revoked). The node's own peer certificate is issued by the
/// same CA but is not registered, so it is refused here; a partner's certificate does
/// not chain to this CA.
fn local_client_verifier(anchor: TrustAnchor<'static>, clients: ClientSet) -> ClientVerifier {
    ClientVerifier {
        listener: "client API",
        check: Box::new(move |end_entity, intermediates, now| {
            verify_chain(&anchor, end_entity, intermediates, now, TlsRole::Client)
                .map_err(|e| format!("not a client certificate of this agency's CA: {e:?}"))?;
            let fingerprint = certificate_sha256(end_entity);
            match clients.snapshot().by_certificate(&fingerprint) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "certificate {fingerprint} is not a registered client (revoked, or not a client certificate)"
                )),
            }
        }),
        algorithms: algorithms(),
        mandatory: true,
        hints: Vec::new(),
    }
}

/// SHA-256 of a certificate's DER, hex: how registered clients are recognised.
pub fn certificate_sha256(certificate: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&liaison_core::crypto::sha256(certificate))
}

/// Verifies the server certificate of the one partner we meant to reach.
#[derive(Debug)]
struct PartnerServerVerifier {
    partners: PartnerSet,
    expected: AgencyId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PartnerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let partners = self.partners.snapshot();
        let refuse = |reason: String| {
            tracing::warn!(partner = %self.expected, %reason, "refused a partner's server certificate");
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        };
        let partner = partners
            .get(&self.expected)
            .ok_or_else(|| refuse("no longer a known partner".into()))?;
        partner
            .verify_pinned_certificate(end_entity, intermediates, now, TlsRole::Server)
            .map_err(|e| refuse(format!("not its node certificate for server use: {e}")))?;
        webpki::EndEntityCert::try_from(end_entity)
            .and_then(|c| c.verify_is_valid_for_subject_name(server_name))
            .map_err(|e| {
                refuse(format!(
                    "certificate is not valid for {server_name:?}: {e:?}"
                ))
            })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The configs allow TLS 1.3 only; a TLS 1.2 signature is never acceptable here.
fn tls12_refused() -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOffered,
    ))
}

fn tls_error(e: rustls::Error) -> Error {
    Error::Tls(e.to_string())
}

/// The peer listener's config: TLS 1.3 only, client certificate required and checked
/// by `PartnerClientVerifier`, ALPN h2, no 0-RTT.
pub fn peer_server_config(
    cert: &NodeCertificate,
    partners: PartnerSet,
) -> Result<Arc<rustls::ServerConfig>> {
    let verifier = partner_client_verifier(partners);
    server_config(cert, Arc::new(verifier), ALPN_H2)
}

/// The client API listener's config: TLS 1.3 only, a registered client certificate
/// from the agency's own CA required (`LocalClientVerifier`), ALPN h2.
pub fn api_server_config(
    cert: &NodeCertificate,
    own_ca_der: &[u8],
    clients: ClientSet,
) -> Result<Arc<rustls::ServerConfig>> {
    local_client_server_config(cert, own_ca_der, clients, ALPN_H2)
}

/// The TAXII listener's config: the client API's, for HTTP/1.1 (what TAXII clients
/// speak).
pub fn taxii_server_config(
    cert: &NodeCertificate,
    own_ca_der: &[u8],
    clients: ClientSet,
) -> Result<Arc<rustls::ServerConfig>> {
    local_client_server_config(cert, own_ca_der, clients, b"http/1.1")
}

/// The desk's config: TLS 1.3 with the node certificate, HTTP/1.1, and a client
/// certificate asked for but not required, naming the agency's CA so that a browser
/// offers only certificates it issued. Any certificate whose handshake signature
/// verifies is let through: whether it chains to the CA and is an officer's is judged
/// by the [`DeskCertificates`] returned, per connection, so a stale certificate in a
/// browser never locks an officer out of signing in with a password.
///
/// Errors: the CA certificate or the node's key is unusable.
pub fn desk_server_config(
    cert: &NodeCertificate,
    own_ca_der: &[u8],
) -> Result<(Arc<rustls::ServerConfig>, DeskCertificates)> {
    let anchor = agency_anchor(own_ca_der)?;
    let verifier = ClientVerifier {
        listener: "desk",
        check: Box::new(|_, _, _| Ok(())),
        algorithms: algorithms(),
        mandatory: false,
        hints: vec![DistinguishedName::in_sequence(anchor.subject.as_ref())],
    };
    let config = server_config(cert, Arc::new(verifier), b"http/1.1")?;
    Ok((config, DeskCertificates { anchor }))
}

/// Judges the certificate a browser presented to the desk.
#[derive(Debug, Clone)]
pub struct DeskCertificates {
    anchor: TrustAnchor<'static>,
}

impl DeskCertificates {
    /// The SHA-256 (hex) of the client certificate at the head of `chain` if it is a
    /// client certificate of the agency's CA, valid now; why not otherwise; `None` if
    /// the browser presented none.
    pub fn judge(
        &self,
        chain: &[CertificateDer<'_>],
    ) -> Option<std::result::Result<String, String>> {
        let (end_entity, intermediates) = chain.split_first()?;
        let now = UnixTime::now();
        Some(
            verify_chain(
                &self.anchor,
                end_entity,
                intermediates,
                now,
                TlsRole::Client,
            )
            .map(|()| certificate_sha256(end_entity))
            .map_err(|e| format!("not a client certificate of this agency's CA: {e:?}")),
        )
    }
}

/// The agency's own CA as a trust anchor.
fn agency_anchor(own_ca_der: &[u8]) -> Result<TrustAnchor<'static>> {
    let ca = CertificateDer::from(own_ca_der.to_vec());
    Ok(webpki::anchor_from_trusted_cert(&ca)
        .map_err(|e| Error::Tls(format!("the agency CA certificate is unusable: {e}")))?
        .to_owned())
}

fn local_client_server_config(
    cert: &NodeCertificate,
    own_ca_der: &[u8],
    clients: ClientSet,
    alpn: &[u8],
) -> Result<Arc<rustls::ServerConfig>> {
    let verifier = local_client_verifier(agency_anchor(own_ca_der)?, clients);
    server_config(cert, Arc::new(verifier), alpn)
}

fn server_config(
    cert: &NodeCertificate,
    verifier: Arc<dyn ClientCertVerifier>,
    alpn: &[u8],
) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())
        .map_err(tls_error)?;
    config.alpn_protocols = vec![alpn.to_vec()];
    config.max_early_data_size = 0;
    Ok(Arc::new(config))
}

/// The config for connecting to partner `expected`: TLS 1.3 only, our node certificate
/// as client certificate, the server checked by `PartnerServerVerifier`.
pub fn peer_client_config(
    cert: &NodeCertificate,
    partners: PartnerSet,
    expected: AgencyId,
) -> Result<Arc<rustls::ClientConfig>> {
    let verifier = PartnerServerVerifier {
        partners,
        expected,
        algorithms: algorithms(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(cert.chain.clone(), cert.key.clone_key())
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    config.enable_early_data = false;
    Ok(Arc::new(config))
}
