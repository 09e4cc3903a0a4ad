//! Partners: add one after checking its fingerprint, list, show, remove.

use liaison_core::{AgencyId, Fingerprint, SignedIdentity};
use liaison_store::Effect;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::partners::Partner;

/// A partner as shown to the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Agency id.
    pub agency: String,
    /// Name.
    pub display_name: String,
    /// Root-key fingerprint.
    pub fingerprint: String,
    /// Identity document version held.
    pub identity_version: u64,
    /// Its peer endpoints.
    pub endpoints: Vec<String>,
    /// Its current signing key.
    pub signing_key_id: String,
    /// Its current encryption key.
    pub encryption_key_id: String,
    /// Identity valid until.
    pub valid_until: String,
    /// Bulletins queued for it.
    pub outbox: usize,
    /// The last delivery error, while delivery is failing (running node only).
    pub last_error: Option<String>,
}

fn peer_view(state: &NodeState, partner: &Partner) -> PeerView {
    let doc = partner.identity.document();
    PeerView {
        agency: doc.agency.to_string(),
        display_name: doc.display_name.clone(),
        fingerprint: partner.identity.fingerprint().to_string(),
        identity_version: doc.version,
        endpoints: doc.peer_endpoints.clone(),
        signing_key_id: doc.signing_key.key_id.to_string(),
        encryption_key_id: doc.encryption_key.key_id.to_string(),
        valid_until: doc.not_after.to_string(),
        outbox: state.log.outbox_len(&doc.agency),
        last_error: state.delivery_error(&doc.agency).map(|f| f.to_string()),
    }
}

/// Imports a partner's bundle if its root-key fingerprint equals `expected`.
///
/// Errors: [`Error::FingerprintMismatch`] (showing both), a bundle that does not
/// verify, the node's own bundle, or a different agency already under that id.
pub fn peer_add(state: &NodeState, bundle_base64: &str, expected: &str) -> Result<PeerView> {
    let bundle = data_encoding::BASE64
        .decode(bundle_base64.trim().as_bytes())
        .map_err(|_| Error::InvalidRequest("the bundle is not valid base64".into()))?;
    let identity = SignedIdentity::from_bytes(bundle.into())?;
    let expected_fp = Fingerprint::parse(expected)
        .map_err(|e| Error::InvalidRequest(format!("--fingerprint: {e}")))?;
    if identity.fingerprint() != expected_fp {
        return Err(Error::FingerprintMismatch {
            expected: expected_fp.to_string(),
            actual: identity.fingerprint().to_string(),
        });
    }
    let agency = identity.document().agency.clone();
    if agency == state.node().config().agency {
        return Err(Error::InvalidRequest(
            "that is this node's own identity".into(),
        ));
    }
    if let Some(existing) = state.partners.snapshot().get(&agency) {
        if existing.identity.fingerprint() != identity.fingerprint() {
            return Err(Error::InvalidRequest(format!(
                "{agency} is already a partner with another root key ({}); remove it first if the agency really replaced its root",
                existing.identity.fingerprint()
            )));
        }
        if existing.identity.document().version >= identity.document().version {
            return Err(Error::InvalidRequest(format!(
                "{agency} is already a partner at identity version {}",
                existing.identity.document().version
            )));
        }
    }
    let partner = Partner::new(identity.clone())?;
    let added = LogEvent::PeerAdded {
        agency: agency.clone(),
        fingerprint: identity.fingerprint().to_string(),
        identity_version: identity.document().version,
    };
    state
        .log
        .append(added.entry().with_effect(Effect::PutPeer {
            agency: agency.clone(),
            bundle: identity.to_bytes(),
        }))?;
    state.reload_partners()?;
    Ok(peer_view(state, &partner))
}

/// Every partner.
pub fn peer_list(state: &NodeState) -> Vec<PeerView> {
    state
        .partners
        .snapshot()
        .iter()
        .map(|p| peer_view(state, p))
        .collect()
}

/// One partner.
pub fn peer_show(state: &NodeState, agency: &AgencyId) -> Result<PeerView> {
    let partners = state.partners.snapshot();
    let partner = partners
        .get(agency)
        .ok_or_else(|| Error::UnknownPartner(agency.clone()))?;
    Ok(peer_view(state, partner))
}

/// Forgets a partner: nothing more is accepted from or sent to it.
pub fn peer_remove(state: &NodeState, agency: &AgencyId) -> Result<PeerView> {
    let view = peer_show(state, agency)?;
    let removed = LogEvent::PeerRemoved {
        agency: agency.clone(),
    };
    state.log.append(
        removed
            .entry()
            .with_effect(Effect::RemovePeer(agency.clone())),
    )?;
    state.reload_partners()?;
    state.wake(agency);
    Ok(view)
}
