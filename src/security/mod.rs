//! Request-level defences of a LAN-only server.
pub mod location;
