//! [`NodeState`]: what every part of a node shares — its files, its log, its partners —
//! and the wake-ups of the delivery workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use liaison_core::AgencyId;
use liaison_store::Log;
use tokio::sync::Notify;

use crate::clients::{ClientSet, Clients};
use crate::data_dir::Node;
use crate::error::Result;
use crate::partners::{PartnerSet, Partners};

/// Why delivery to a partner is failing, and when the worker tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The last transport error.
    pub error: String,
    /// When the next attempt is due.
    pub next_attempt: liaison_core::UnixMillis,
}

/// Shared state of a node, running or administered offline.
pub struct NodeState {
    /// Keys, identity and configuration.
    pub node: Node,
    /// The log.
    pub log: Arc<Log>,
    /// Known partners.
    pub partners: PartnerSet,
    /// Registered local clients.
    pub clients: ClientSet,
    /// Notified whenever a received bulletin became durable (wakes subscribers).
    pub received: Notify,
    wakers: Mutex<HashMap<AgencyId, Arc<Notify>>>,
    delivery_errors: Mutex<HashMap<AgencyId, DeliveryFailure>>,
}

impl NodeState {
    /// Opens the node's log and loads its partners.
    ///
    /// Errors: the log cannot be opened (for example a running node holds it), or a
    /// stored partner identity no longer verifies.
    pub fn open(node: Node) -> Result<Arc<Self>> {
        let log = Arc::new(node.open_log()?);
        let partners = PartnerSet::new(Partners::from_bundles(log.peers()?)?);
        let clients = ClientSet::new(Clients::from_records(log.clients()?)?);
        Ok(Arc::new(Self {
            node,
            log,
            partners,
            clients,
            received: Notify::new(),
            wakers: Mutex::new(HashMap::new()),
            delivery_errors: Mutex::new(HashMap::new()),
        }))
    }

    /// Reloads the partner set from the log after a change.
    pub fn reload_partners(&self) -> Result<()> {
        self.partners
            .replace(Partners::from_bundles(self.log.peers()?)?);
        Ok(())
    }

    /// Reloads the client registrations from the log after a change.
    pub fn reload_clients(&self) -> Result<()> {
        self.clients
            .replace(Clients::from_records(self.log.clients()?)?);
        Ok(())
    }

    /// The wake-up of `partner`'s delivery worker (created on first use).
    pub fn waker(&self, partner: &AgencyId) -> Arc<Notify> {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(partner.clone())
            .or_default()
            .clone()
    }

    /// Tells `partner`'s delivery worker there is work.
    pub fn wake(&self, partner: &AgencyId) {
        if let Some(n) = self
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
        {
            n.notify_one();
        }
    }

    /// Records (or clears, with `None`) the last delivery failure towards `partner`.
    pub fn set_delivery_error(&self, partner: &AgencyId, error: Option<DeliveryFailure>) {
        let mut errors = self
            .delivery_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match error {
            Some(e) => errors.insert(partner.clone(), e),
            None => errors.remove(partner),
        };
    }

    /// The last delivery failure towards `partner`, while its worker is failing.
    pub fn delivery_error(&self, partner: &AgencyId) -> Option<DeliveryFailure> {
        self.delivery_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
            .cloned()
    }
}
