//! sluice: an HTTP/1.1 server for a local network.
#![forbid(unsafe_code)]

pub mod error;
pub mod files;
pub mod http;
