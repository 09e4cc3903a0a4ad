//! Limits on everything decoded from a partner. A decoder checks the size first and
//! refuses anything over these before allocating for it.

/// Largest sealed envelope a node accepts (attachments included).
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024 * 1024;
/// Largest signed identity bundle.
pub const MAX_IDENTITY_BYTES: usize = 64 * 1024;
/// Most recipients of one envelope.
pub const MAX_RECIPIENTS: usize = 256;
/// Most handling codes on one marking.
pub const MAX_HANDLING_CODES: usize = 32;
/// Longest title, in bytes.
pub const MAX_TITLE_BYTES: usize = 512;
/// Longest body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most structured entities in one bulletin.
pub const MAX_ENTITIES: usize = 4096;
/// Most attachments in one bulletin.
pub const MAX_ATTACHMENTS: usize = 64;
/// Most references to other bulletins.
pub const MAX_REFERENCES: usize = 64;
/// Longest string field inside an entity or attachment name.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Most peer endpoints in an identity document.
pub const MAX_ENDPOINTS: usize = 16;
/// Most revoked keys listed in an identity document.
pub const MAX_REVOKED_KEYS: usize = 1024;
/// Most node certificates pinned in an identity document: the one served, the one a
/// rotation will serve from the next start, and a little room.
pub const MAX_NODE_CERTIFICATES: usize = 4;

/// How far ahead of this node's clock an origin's identity may start and still be
/// accepted: partners' clocks differ by a little, and an identity issued a moment ago by
/// a clock slightly ahead is not an attack. A larger skew is a transient rejection
/// (retried), never a final one.
pub const CLOCK_LEEWAY_MS: i64 = 5 * 60 * 1000;

/// Largest federation roster file accepted (its members' bundles included).
pub const MAX_ROSTER_BYTES: usize = 8 * 1024 * 1024;

/// Most members a federation roster may list.
pub const MAX_ROSTER_MEMBERS: usize = 256;
