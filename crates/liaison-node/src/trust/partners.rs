//! The partners this node knows: their verified identities, their signing keys (for
//! opening envelopes and checking receipts) and their TLS CAs (one trust anchor each).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use liaison_core::envelope::{KeyLookup, lookup_in_document};
use liaison_core::{AgencyId, KeyDirectory, KeyId, SignedIdentity};
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use crate::error::{Error, Result};

/// DER value of the id-kp-clientAuth OID (1.3.6.1.5.5.7.3.2).
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// DER value of the id-kp-serverAuth OID (1.3.6.1.5.5.7.3.1).
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// Which side of a TLS connection a certificate must be fit for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRole {
    /// A partner connecting to us (client certificate).
    Client,
    /// A partner we connect to (server certificate).
    Server,
}

impl TlsRole {
    /// The extended key usage the certificate must carry. `required`, not
    /// `required_if_present`: a certificate without EKU is refused.
    fn key_usage(self) -> KeyUsage {
        match self {
            TlsRole::Client => KeyUsage::required(EKU_CLIENT_AUTH),
            TlsRole::Server => KeyUsage::required(EKU_SERVER_AUTH),
        }
    }
}

/// One partner.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Its verified, root-signed identity.
    pub identity: SignedIdentity,
    anchor: TrustAnchor<'static>,
}

impl Partner {
    /// A partner from its verified identity; its CA certificate must parse as a trust
    /// anchor.
    pub fn new(identity: SignedIdentity) -> Result<Self> {
        let der = CertificateDer::from(identity.document().tls_ca_certificate.to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| {
                Error::Partner(format!(
                    "the TLS CA certificate in the bundle is unusable: {e}"
                ))
            })?
            .to_owned();
        Ok(Self { identity, anchor })
    }

    /// The partner's agency id.
    pub fn agency(&self) -> &AgencyId {
        &self.identity.document().agency
    }

    /// Checks that `end_entity` is this partner's node certificate: it chains to the
    /// partner's CA, carries both serverAuth and clientAuth (a node certificate serves
    /// both ends of peering; the certificates `client issue` makes for an agency's own
    /// systems carry clientAuth only) and is not revoked in the partner's identity
    /// document. Whether that document also *pins* it is the [`Pinning`] returned: the
    /// caller decides what an unpinned one may do.
    pub fn verify_certificate(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: TlsRole,
    ) -> std::result::Result<Pinning, CertificateRefusal> {
        let other = match role {
            TlsRole::Client => TlsRole::Server,
            TlsRole::Server => TlsRole::Client,
        };
        verify_chain(&self.anchor, end_entity, intermediates, now, role)
            .map_err(CertificateRefusal::Chain)?;
        verify_chain(&self.anchor, end_entity, intermediates, now, other)
            .map_err(CertificateRefusal::Chain)?;
        let id = liaison_core::crypto::tls_certificate_id(end_entity);
        let document = self.identity.document();
        // The partner revoked this certificate (a stolen node key, say).
        if document.revocation(&id).is_some() {
            return Err(CertificateRefusal::Revoked(id));
        }
        if document.accepts_node_certificate(&id) {
            Ok(Pinning::Pinned)
        } else {
            Ok(Pinning::NotPinned(id))
        }
    }

    /// [`Partner::verify_certificate`], and the certificate must be pinned.
    pub fn verify_pinned_certificate(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: TlsRole,
    ) -> std::result::Result<(), CertificateRefusal> {
        match self.verify_certificate(end_entity, intermediates, now, role)? {
            Pinning::Pinned => Ok(()),
            Pinning::NotPinned(id) => Err(CertificateRefusal::NotPinned(id)),
        }
    }
}

/// Whether a partner's node certificate is pinned in the identity document this node
/// holds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinning {
    /// Pinned: the partner, for every purpose.
    Pinned,
    /// From the partner's CA with a node certificate's usages, but not pinned in the
    /// document held: a certificate the partner rotated to before this node received
    /// the identity that pins it, or one its CA minted besides. Good only for pushing
    /// that identity (root-signed, so the connection adds no authority).
    NotPinned(KeyId),
}

/// Why a certificate presented as a partner's node certificate was refused.
#[derive(Debug)]
pub enum CertificateRefusal {
    /// It does not chain to the partner's CA, is out of date, or lacks a usage.
    Chain(webpki::Error),
    /// The partner's identity document revokes it.
    Revoked(KeyId),
    /// It is not among the node certificates the partner's identity document pins.
    NotPinned(KeyId),
}

impl std::fmt::Display for CertificateRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateRefusal::Chain(e) => write!(f, "{e:?}"),
            CertificateRefusal::Revoked(id) => write!(f, "certificate {id} is revoked"),
            CertificateRefusal::NotPinned(id) => write!(
                f,
                "certificate {id} is not a node certificate pinned in the identity document"
            ),
        }
    }
}

/// Checks that `end_entity` chains to `anchor`, is valid at `now`, and carries the
/// extended key usage `role` needs.
pub fn verify_chain(
    anchor: &TrustAnchor<'_>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    role: TlsRole,
) -> std::result::Result<(), webpki::Error> {
    let cert = EndEntityCert::try_from(end_entity)?;
    cert.verify_for_usage(
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all,
        std::slice::from_ref(anchor),
        intermediates,
        now,
        role.key_usage(),
        None,
        None,
    )
    .map(|_| ())
}

/// Every known partner. Immutable: a change builds a new set and swaps it in
/// ([`PartnerSet`]), so a handshake or an open sees one consistent version.
#[derive(Debug, Clone, Default)]
pub struct Partners {
    by_agency: BTreeMap<AgencyId, Partner>,
}

impl Partners {
    /// From stored bundles (as [`liaison_store::Log::peers`] returns them). A bundle that
    /// no longer verifies is an error: the registry was tampered with.
    pub fn from_bundles(bundles: Vec<(AgencyId, bytes::Bytes)>) -> Result<Self> {
        let mut by_agency = BTreeMap::new();
        for (agency, bundle) in bundles {
            let identity = SignedIdentity::from_bytes(bundle).map_err(|e| {
                Error::Partner(format!("stored identity of {agency} does not verify: {e}"))
            })?;
            by_agency.insert(agency, Partner::new(identity)?);
        }
        Ok(Self { by_agency })
    }

    /// A partner by id.
    pub fn get(&self, agency: &AgencyId) -> Option<&Partner> {
        self.by_agency.get(agency)
    }

    /// Every partner, by agency id.
    pub fn iter(&self) -> impl Iterator<Item = &Partner> {
        self.by_agency.values()
    }

    /// The partner whose CA issued `end_entity`, for `role`, and whether the certificate
    /// is pinned. The authenticated partner is the owner of the CA the chain ends at,
    /// never a name inside the certificate.
    ///
    /// Errors: a sentence for the log when no partner's CA vouches for the certificate.
    pub fn identify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: TlsRole,
    ) -> std::result::Result<(AgencyId, Pinning), String> {
        let mut reasons = Vec::new();
        for partner in self.by_agency.values() {
            match partner.verify_certificate(end_entity, intermediates, now, role) {
                Ok(pinning) => return Ok((partner.agency().clone(), pinning)),
                // Only a certificate from this partner's CA says anything about it.
                Err(CertificateRefusal::Chain(webpki::Error::UnknownIssuer)) => {}
                Err(e) => reasons.push(format!("{}: {e}", partner.agency())),
            }
        }
        if reasons.is_empty() {
            Err("certificate is not issued by the CA of any known partner".into())
        } else {
            Err(format!("certificate refused: {}", reasons.join("; ")))
        }
    }
}

impl KeyDirectory for Partners {
    fn signing_key(&self, origin: &AgencyId, key_id: &KeyId) -> KeyLookup<'_> {
        match self.by_agency.get(origin) {
            Some(p) => lookup_in_document(p.identity.document(), key_id),
            None => KeyLookup::UnknownOrigin,
        }
    }

    fn document(&self, origin: &AgencyId) -> Option<&liaison_core::IdentityDocument> {
        self.by_agency.get(origin).map(|p| p.identity.document())
    }
}

/// The current partner set, shared by the TLS verifiers, the peer service, the
/// delivery workers and the admin commands.
pub type PartnerSet = Snapshot<Partners>;

/// A value many tasks read and a few replace whole: readers take a consistent
/// snapshot (an `Arc`) and never see half a change.
#[derive(Debug, Default)]
pub struct Snapshot<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Snapshot<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// A consistent snapshot.
    pub fn snapshot(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the value.
    pub fn replace(&self, value: T) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

#[cfg(test)]
mod tests {
    use liaison_core::crypto::SystemRng;
    use liaison_core::identity::IdentityDocument;
    use liaison_core::{AgencyKeys, UnixMillis};
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};

    use super::*;

    struct Ca {
        agency: AgencyId,
        cert_pem: String,
        key_pem: String,
        partner: Partner,
    }

    fn ca(agency: &str) -> Ca {
        let agency: AgencyId = agency.parse().unwrap();
        let days = liaison_core::tls::Validity { days: 30 };
        let issued = liaison_core::tls::generate_agency_ca(&agency, "test", days).unwrap();
        let keys = AgencyKeys::generate(&mut SystemRng).unwrap();
        let now = UnixMillis::now();
        let doc = IdentityDocument::first_version(
            agency.clone(),
            "test".into(),
            vec!["127.0.0.1:1".into()],
            &keys.signing,
            &keys.encryption,
            issued.certificate_der.clone().into(),
            now..now.plus_days(30),
        );
        Ca {
            partner: Partner::new(SignedIdentity::sign(doc, &keys.root)).unwrap(),
            agency,
            cert_pem: issued.certificate_pem,
            key_pem: issued.private_key_pem,
        }
    }

    /// A leaf from `ca` with exactly `ekus`; `expired` makes it valid only in 2020.
    fn leaf(ca: &Ca, ekus: Vec<ExtendedKeyUsagePurpose>, expired: bool) -> CertificateDer<'static> {
        let issuer =
            Issuer::from_ca_cert_pem(&ca.cert_pem, KeyPair::from_pem(&ca.key_pem).unwrap())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "leaf");
        params.extended_key_usages = ekus;
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        params.signed_by(&key, &issuer).unwrap().der().clone()
    }

    fn set(cas: &[&Ca]) -> Partners {
        Partners {
            by_agency: cas
                .iter()
                .map(|c| (c.agency.clone(), c.partner.clone()))
                .collect(),
        }
    }

    #[test]
    fn the_partner_is_the_owner_of_the_issuing_ca() {
        let (nl, de) = (ca("NL-NP"), ca("DE-BKA"));
        let partners = set(&[&nl, &de]);
        let cert = leaf(&de, node_usages(), false);
        assert_eq!(
            partners
                .identify(&cert, &[], UnixTime::now(), TlsRole::Client)
                .unwrap(),
            (de.agency.clone(), Pinning::Pinned),
            "a document from before pinning takes any node certificate of the CA"
        );
        let stranger = ca("FR-OCRTEH");
        let cert = leaf(&stranger, node_usages(), false);
        let err = partners
            .identify(&cert, &[], UnixTime::now(), TlsRole::Client)
            .unwrap_err();
        assert!(
            err.contains("not issued by the CA of any known partner"),
            "{err}"
        );
    }

    #[test]
    fn extended_key_usage_is_required_and_checked() {
        let de = ca("DE-BKA");
        let partners = set(&[&de]);
        let now = UnixTime::now();
        let none = leaf(&de, vec![], false);
        assert!(
            partners.identify(&none, &[], now, TlsRole::Client).is_err(),
            "a certificate without EKU was accepted"
        );
        let server_only = leaf(&de, vec![ExtendedKeyUsagePurpose::ServerAuth], false);
        for role in [TlsRole::Client, TlsRole::Server] {
            assert!(partners.identify(&server_only, &[], now, role).is_err());
        }
        let client_only = leaf(&de, vec![ExtendedKeyUsagePurpose::ClientAuth], false);
        assert!(
            partners
                .identify(&client_only, &[], now, TlsRole::Server)
                .is_err()
        );
        // A partner's client certificate (what `client issue` makes for its internal
        // systems) is not that partner, on either end of peering.
        assert!(
            partners
                .identify(&client_only, &[], now, TlsRole::Client)
                .is_err(),
            "a partner's client certificate was taken as the partner"
        );
        // Its node certificate is, on both ends.
        let node = leaf(&de, node_usages(), false);
        for role in [TlsRole::Client, TlsRole::Server] {
            assert!(partners.identify(&node, &[], now, role).is_ok());
        }
    }

    fn node_usages() -> Vec<ExtendedKeyUsagePurpose> {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    }

    #[test]
    fn only_the_pinned_node_certificates_are_the_partner() {
        let mut de = ca("DE-BKA");
        let pinned = leaf(&de, node_usages(), false);
        let minted_besides = leaf(&de, node_usages(), false);
        let keys = AgencyKeys::generate(&mut SystemRng).unwrap();
        let doc = de
            .partner
            .identity
            .document()
            .with_node_certificate(liaison_core::crypto::tls_certificate_id(&pinned));
        de.partner = Partner::new(SignedIdentity::sign(doc, &keys.root)).unwrap();
        let now = UnixTime::now();
        for role in [TlsRole::Client, TlsRole::Server] {
            assert_eq!(
                de.partner
                    .verify_certificate(&pinned, &[], now, role)
                    .unwrap(),
                Pinning::Pinned
            );
            assert!(
                de.partner
                    .verify_pinned_certificate(&pinned, &[], now, role)
                    .is_ok()
            );
            let other = de
                .partner
                .verify_pinned_certificate(&minted_besides, &[], now, role)
                .unwrap_err();
            assert!(
                other
                    .to_string()
                    .contains("is not a node certificate pinned"),
                "{other}"
            );
        }
    }

    #[test]
    fn an_expired_certificate_is_refused() {
        let de = ca("DE-BKA");
        let partners = set(&[&de]);
        let old = leaf(&de, node_usages(), true);
        let err = partners
            .identify(&old, &[], UnixTime::now(), TlsRole::Client)
            .unwrap_err();
        assert!(err.contains("Expired"), "{err}");
    }
}
