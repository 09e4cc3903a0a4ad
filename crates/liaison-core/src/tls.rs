//! Each agency is its own small TLS certificate authority. It issues the certificates
//! of its node (for the peer listener, used as both server and client) and of its own
//! local systems (client API). Partners trust exactly one agency's CA for that agency.
//!
//! ECDSA P-256 keys: every TLS stack and gRPC tool speaks them.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};
use crate::ids::AgencyId;

fn crypto_err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::Crypto(format!("{what}: {e}"))
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The private key (PKCS#8), PEM. Handle with care.
    pub private_key_pem: String,
}

/// Valid-for period of certificates, in days.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// Days from now.
    pub days: u32,
}

fn validity(params: &mut CertificateParams, validity: Validity) {
    let now = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
    // Allow for clock skew between agencies.
    params.not_before = now - std::time::Duration::from_secs(3600);
    params.not_after = now + std::time::Duration::from_secs(u64::from(validity.days) * 86_400);
}

/// Creates the agency's self-signed CA.
pub fn generate_agency_ca(
    agency: &AgencyId,
    display_name: &str,
    days: Validity,
) -> Result<IssuedCertificate> {
    let key = KeyPair::generate().map_err(crypto_err("CA key generation"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Liaison CA {agency}"));
    dn.push(DnType::OrganizationName, display_name);
    dn.push(DnType::CountryName, agency.country());
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days);
    let cert = params
        .self_signed(&key)
        .map_err(crypto_err("CA certificate"))?;
    Ok(IssuedCertificate {
        certificate_pem: cert.pem(),
        certificate_der: cert.der().to_vec(),
        private_key_pem: key.serialize_pem(),
    })
}

/// What a certificate issued by the agency CA is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRole {
    /// The node: TLS server for its listeners and TLS client towards partners.
    Node,
    /// One of the agency's own systems, calling the client API.
    LocalClient,
}

/// Issues a certificate signed by the agency CA (`ca_cert_pem`, `ca_key_pem`).
///
/// `names` become subject alternative names (DNS names or IP addresses).
pub fn issue_certificate(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    common_name: &str,
    names: &[String],
    role: CertificateRole,
    days: Validity,
) -> Result<IssuedCertificate> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(crypto_err("CA key"))?;
    let issuer =
        Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(crypto_err("CA certificate"))?;
    let key = KeyPair::generate().map_err(crypto_err("key generation"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(crypto_err("subject alternative name")),
        })
        .collect::<Result<_>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        CertificateRole::Node => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        CertificateRole::LocalClient => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(crypto_err("certificate"))?;
    Ok(IssuedCertificate {
        certificate_pem: cert.pem(),
        certificate_der: cert.der().to_vec(),
        private_key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_issues_node_certificate() {
        let agency: AgencyId = "NL-NP".parse().unwrap();
        let ca = generate_agency_ca(&agency, "Netherlands Police", Validity { days: 365 }).unwrap();
        let node = issue_certificate(
            &ca.certificate_pem,
            &ca.private_key_pem,
            "NL-NP node",
            &["localhost".into(), "127.0.0.1".into()],
            CertificateRole::Node,
            Validity { days: 30 },
        )
        .unwrap();
        assert!(
            node.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(node.private_key_pem.contains("PRIVATE KEY"));
        assert_ne!(node.certificate_der, ca.certificate_der);
    }
}
