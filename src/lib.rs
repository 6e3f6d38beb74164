//! sluice: an HTTP/1.1 server for a local network.
//!
//! `src/` is laid out by the stages a request passes through, top to bottom; ARCHITECTURE.md
//! is the map (the layers, who may import whom, a GET and a POST walked file by file).
#![forbid(unsafe_code)]

pub mod cgi;
pub mod config;
pub mod conn;
pub mod files;
#[cfg(feature = "harness")]
pub mod harness;
pub mod http;
pub mod limits;
pub mod live;
pub mod observe;
pub mod pages;
pub mod reactor;
pub mod routes;
pub mod security;
pub mod store;
