//! `liaison.toml`: read strictly (unknown fields are errors), then validated into
//! [`NodeConfig`], the only form the node uses.

use std::net::SocketAddr;
use std::path::Path;

use liaison_core::AgencyId;
use liaison_core::identity::is_host_port;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the configuration inside the data directory.
pub const CONFIG_FILE: &str = "liaison.toml";

/// The file as written: every field is checked by [`NodeConfig::try_from`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// This agency, e.g. `NL-NP`.
    pub agency: String,
    /// Human-readable agency name.
    pub display_name: String,
    /// The peer listener.
    pub peer: RawPeer,
    /// The client API listener for the agency's own systems.
    pub api: RawApi,
    /// Log settings.
    #[serde(default)]
    pub log: RawLog,
    /// The Prometheus metrics endpoint; absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<RawMetrics>,
    /// The read-only TAXII 2.1 server; absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii: Option<RawTaxii>,
    /// The officers' web desk; absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<RawDesk>,
    /// Envelope sealing (format v2 epochs and batches); absent: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<RawEnvelope>,
    /// `[outbox]`: per-partner queue limits (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<RawOutbox>,
}

/// `[outbox]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    /// Most bulletins queued for one partner (default 2000000).
    #[serde(default = "default_outbox_entries")]
    pub max_entries: u64,
    /// Most bytes queued for one partner, in MiB (default 16384).
    #[serde(default = "default_outbox_mib")]
    pub max_mib: u64,
}

fn default_outbox_entries() -> u64 {
    2_000_000
}

fn default_outbox_mib() -> u64 {
    16 * 1024
}

/// How much may wait for one partner: at either limit, new publishes and forwards to
/// that partner are refused (`RESOURCE_EXHAUSTED`), never queued and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most queued entries.
    pub max_entries: u64,
    /// Most queued body bytes.
    pub max_bytes: u64,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_entries: default_outbox_entries(),
            max_bytes: default_outbox_mib() * 1024 * 1024,
        }
    }
}

impl TryFrom<RawOutbox> for OutboxLimits {
    type Error = String;

    fn try_from(raw: RawOutbox) -> Result<Self, String> {
        if raw.max_entries == 0 {
            return Err("outbox.max_entries: must be at least 1".into());
        }
        if !(1..=1024 * 1024).contains(&raw.max_mib) {
            return Err("outbox.max_mib: must be 1 to 1048576".into());
        }
        Ok(Self {
            max_entries: raw.max_entries,
            max_bytes: raw.max_mib * 1024 * 1024,
        })
    }
}

/// `[envelope]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvelope {
    /// Longest use of one epoch key per recipient, in minutes (default 10).
    #[serde(default = "default_epoch_minutes")]
    pub epoch_minutes: u64,
    /// Most content keys wrapped under one epoch key (default 100000).
    #[serde(default = "default_epoch_bulletins")]
    pub epoch_bulletins: u64,
    /// Most envelopes signed in one batch (default 1024, at most 65536).
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
}

fn default_epoch_minutes() -> u64 {
    10
}

fn default_epoch_bulletins() -> u64 {
    100_000
}

fn default_batch_max() -> usize {
    1024
}

/// Format-v2 sealing settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeSettings {
    /// When an epoch ends.
    pub epochs: liaison_core::envelope::EpochLimits,
    /// Most envelopes per signed batch.
    pub batch_max: usize,
}

impl Default for EnvelopeSettings {
    fn default() -> Self {
        Self {
            epochs: liaison_core::envelope::EpochLimits::default(),
            batch_max: default_batch_max(),
        }
    }
}

impl TryFrom<RawEnvelope> for EnvelopeSettings {
    type Error = String;

    fn try_from(raw: RawEnvelope) -> Result<Self, String> {
        if !(1..=24 * 60).contains(&raw.epoch_minutes) {
            return Err("envelope.epoch_minutes: must be 1 to 1440".into());
        }
        // Bounds what one stolen epoch key opens (see DECISIONS #46).
        if !(1..=1_000_000).contains(&raw.epoch_bulletins) {
            return Err("envelope.epoch_bulletins: must be 1 to 1000000".into());
        }
        if !(1..=65_536).contains(&raw.batch_max) {
            return Err("envelope.batch_max: must be 1 to 65536".into());
        }
        Ok(Self {
            epochs: liaison_core::envelope::EpochLimits {
                max_age: std::time::Duration::from_secs(raw.epoch_minutes * 60),
                max_wraps: raw.epoch_bulletins,
            },
            batch_max: raw.batch_max,
        })
    }
}

impl From<&EnvelopeSettings> for RawEnvelope {
    fn from(e: &EnvelopeSettings) -> Self {
        Self {
            epoch_minutes: e.epochs.max_age.as_secs() / 60,
            epoch_bulletins: e.epochs.max_wraps,
            batch_max: e.batch_max,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Address to bind the plain-HTTP `/metrics` endpoint, e.g. `127.0.0.1:9464`.
    pub listen: String,
}

/// `[taxii]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTaxii {
    /// Address to bind the HTTPS TAXII server, e.g. `127.0.0.1:7446`.
    pub listen: String,
}

/// `[desk]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDesk {
    /// Address to bind the HTTPS desk, e.g. `127.0.0.1:7445`.
    pub listen: String,
}

/// `[peer]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    /// Address to bind, e.g. `0.0.0.0:7443`.
    pub listen: String,
    /// host:port partners connect to (published in the identity document).
    pub advertise: Vec<String>,
}

/// `[api]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    /// Address to bind, e.g. `127.0.0.1:7444`.
    pub listen: String,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// Sign a checkpoint every this many entries.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// The log's page cache in MiB (default 64): most of a node's memory.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            checkpoint_every: default_checkpoint_every(),
            cache_mib: default_cache_mib(),
        }
    }
}

fn default_cache_mib() -> u64 {
    64
}

fn default_checkpoint_every() -> u64 {
    100
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This agency.
    pub agency: AgencyId,
    /// Human-readable agency name.
    pub display_name: String,
    /// Peer listener address.
    pub peer_listen: SocketAddr,
    /// Advertised peer endpoints (host:port).
    pub peer_advertise: Vec<String>,
    /// Client API listener address.
    pub api_listen: SocketAddr,
    /// Checkpoint interval in entries (at least 1).
    pub checkpoint_every: u64,
    /// The log's page cache, MiB.
    pub log_cache_mib: u64,
    /// Where the Prometheus endpoint listens, if it is on.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the TAXII server listens, if it is on.
    pub taxii_listen: Option<SocketAddr>,
    /// Where the officers' desk listens, if it is on.
    pub desk_listen: Option<SocketAddr>,
    /// Format-v2 sealing settings.
    pub envelope: EnvelopeSettings,
    /// Per-partner queue limits.
    pub outbox: OutboxLimits,
}

impl TryFrom<RawConfig> for NodeConfig {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<Self, String> {
        let addr = |field: &str, v: &str| {
            v.parse::<SocketAddr>().map_err(|_| {
                format!("{field}: {v:?} is not an IP address and port, e.g. 127.0.0.1:7443")
            })
        };
        if raw.display_name.trim().is_empty() {
            return Err("display_name: must not be empty".into());
        }
        if raw.peer.advertise.is_empty() {
            return Err("peer.advertise: name at least one host:port partners can reach".into());
        }
        if let Some(bad) = raw.peer.advertise.iter().find(|a| !is_host_port(a)) {
            return Err(format!("peer.advertise: {bad:?} is not host:port"));
        }
        if raw.log.checkpoint_every == 0 {
            return Err("log.checkpoint_every: must be at least 1".into());
        }
        if !(8..=65_536).contains(&raw.log.cache_mib) {
            return Err("log.cache_mib: must be 8 to 65536".into());
        }
        Ok(Self {
            agency: raw
                .agency
                .parse()
                .map_err(|e: liaison_core::Malformed| e.to_string())?,
            display_name: raw.display_name,
            peer_listen: addr("peer.listen", &raw.peer.listen)?,
            peer_advertise: raw.peer.advertise,
            api_listen: addr("api.listen", &raw.api.listen)?,
            checkpoint_every: raw.log.checkpoint_every,
            log_cache_mib: raw.log.cache_mib,
            metrics_listen: raw
                .metrics
                .map(|m| addr("metrics.listen", &m.listen))
                .transpose()?,
            taxii_listen: raw
                .taxii
                .map(|t| addr("taxii.listen", &t.listen))
                .transpose()?,
            desk_listen: raw
                .desk
                .map(|d| addr("desk.listen", &d.listen))
                .transpose()?,
            envelope: raw
                .envelope
                .map(EnvelopeSettings::try_from)
                .transpose()?
                .unwrap_or_default(),
            outbox: raw
                .outbox
                .map(OutboxLimits::try_from)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

impl From<&NodeConfig> for RawConfig {
    fn from(c: &NodeConfig) -> Self {
        Self {
            agency: c.agency.to_string(),
            display_name: c.display_name.clone(),
            peer: RawPeer {
                listen: c.peer_listen.to_string(),
                advertise: c.peer_advertise.clone(),
            },
            api: RawApi {
                listen: c.api_listen.to_string(),
            },
            log: RawLog {
                checkpoint_every: c.checkpoint_every,
                cache_mib: c.log_cache_mib,
            },
            metrics: c.metrics_listen.map(|a| RawMetrics {
                listen: a.to_string(),
            }),
            taxii: c.taxii_listen.map(|a| RawTaxii {
                listen: a.to_string(),
            }),
            desk: c.desk_listen.map(|a| RawDesk {
                listen: a.to_string(),
            }),
            envelope: (c.envelope != EnvelopeSettings::default())
                .then(|| RawEnvelope::from(&c.envelope)),
            outbox: (c.outbox != OutboxLimits::default()).then_some(RawOutbox {
                max_entries: c.outbox.max_entries,
                max_mib: c.outbox.max_bytes / (1024 * 1024),
            }),
        }
    }
}

impl NodeConfig {
    /// Reads and validates `liaison.toml` at `path`.
    ///
    /// Errors: [`Error::Io`], or [`Error::Config`] naming the line or field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read configuration", path))?;
        Self::parse(&text).map_err(|problem| Error::Config {
            path: path.to_owned(),
            problem,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::try_from(raw)
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(&RawConfig::from(self)).unwrap_or_default();
        format!("# Liaison node configuration. See README.md, \"Configuration\".\n{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
agency = "NL-NP"
display_name = "Netherlands Police"
[peer]
listen = "127.0.0.1:7443"
advertise = ["nl.example:7443"]
[api]
listen = "127.0.0.1:7444"
"#;

    #[test]
    fn parses_and_round_trips() {
        let c = NodeConfig::parse(GOOD).unwrap();
        assert_eq!(c.agency.as_str(), "NL-NP");
        assert_eq!(c.checkpoint_every, 100);
        assert_eq!(NodeConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn envelope_settings_parse_round_trip_and_are_bounded() {
        let with = format!(
            "{GOOD}[envelope]\nepoch_minutes = 5\nepoch_bulletins = 2000\nbatch_max = 64\n"
        );
        let c = NodeConfig::parse(&with).unwrap();
        assert_eq!(c.envelope.epochs.max_age.as_secs(), 300);
        assert_eq!(c.envelope.epochs.max_wraps, 2000);
        assert_eq!(c.envelope.batch_max, 64);
        assert_eq!(NodeConfig::parse(&c.to_toml()).unwrap(), c);
        assert_eq!(
            NodeConfig::parse(GOOD).unwrap().envelope,
            EnvelopeSettings::default()
        );
        for (bad, field) in [
            ("epoch_minutes = 0", "envelope.epoch_minutes"),
            ("epoch_bulletins = 2000000", "envelope.epoch_bulletins"),
            ("batch_max = 70000", "envelope.batch_max"),
        ] {
            let text = format!("{GOOD}[envelope]\n{bad}\n");
            assert!(
                NodeConfig::parse(&text).unwrap_err().contains(field),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let unknown = GOOD.replace("[api]", "colour = \"blue\"\n[api]");
        assert!(NodeConfig::parse(&unknown).unwrap_err().contains("colour"));
        let bad_addr = GOOD.replace("127.0.0.1:7444", "localhost");
        assert!(
            NodeConfig::parse(&bad_addr)
                .unwrap_err()
                .contains("api.listen")
        );
        let bad_agency = GOOD.replace("NL-NP", "netherlands");
        assert!(
            NodeConfig::parse(&bad_agency)
                .unwrap_err()
                .contains("agency")
        );
    }

    #[test]
    fn taxii_and_desk_are_off_unless_set_and_round_trip() {
        let off = NodeConfig::parse(GOOD).unwrap();
        assert_eq!((off.taxii_listen, off.desk_listen), (None, None));
        let on = NodeConfig::parse(&format!(
            "{GOOD}[taxii]\nlisten = \"127.0.0.1:7446\"\n[desk]\nlisten = \"127.0.0.1:7445\"\n"
        ))
        .unwrap();
        assert_eq!(on.taxii_listen, Some("127.0.0.1:7446".parse().unwrap()));
        assert_eq!(on.desk_listen, Some("127.0.0.1:7445".parse().unwrap()));
        assert_eq!(NodeConfig::parse(&on.to_toml()).unwrap(), on);
        let bad = NodeConfig::parse(&format!("{GOOD}[desk]\nlisten = \"everywhere\"\n"));
        assert!(bad.unwrap_err().starts_with("desk.listen:"));
    }

    #[test]
    fn example_configs_load() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".liaison.toml"))
            {
                NodeConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "expected the three demo agencies' examples in config/"
        );
        let mut policies = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".policy.toml"))
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let policy = liaison_core::policy::Policy::parse(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // The joint-operation example (jit.policy.toml) has thirty partners
                // and is checked in liaison-core; each demo agency's has two.
                if policy.groups().is_empty() {
                    assert_eq!(policy.partners().count(), 2, "{}", path.display());
                    policies += 1;
                }
            }
        }
        assert_eq!(
            policies, 3,
            "expected a policy example per demo agency in config/"
        );
    }
}
