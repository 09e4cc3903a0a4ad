//! Operations an operator or an agency system asks of a node. Each works on a
//! [`NodeState`](crate::node::state::NodeState), whether the node is running (called
//! from an edge) or not (called by the CLI directly on the data directory), and records
//! every change in the log.

pub mod attachments;
pub mod bulletins;
pub mod clients;
pub mod connections;
pub mod continuity;
pub mod fulltext;
pub mod keys;
pub mod log;
pub mod officers;
pub mod peers;
pub mod policy;
pub mod private_query;
pub mod retention;
pub mod roster;
pub mod status;
pub mod stix;
pub mod taxii;
