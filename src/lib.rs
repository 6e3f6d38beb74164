//! sluice: an HTTP/1.1 server for a local network.
//!
//! One thread runs a mio reactor ([`server`]); each client is a [`conn::Connection`] state
//! machine; HTTP parsing and encoding are sans-IO ([`http`]); static files come from [`files`].
//! See DESIGN.md for the architecture and INTERFACE.md for the command line and URLs.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admission;
pub mod cgi;
pub mod config;
pub mod conn;
pub mod context;
pub mod devices;
pub mod error;
pub mod file_cache;
pub mod files;
pub mod harness;
pub mod http;
pub mod io;
pub mod live;
pub mod metrics;
pub mod pages;
pub mod peers;
pub mod routes;
pub mod security;
pub mod server;
pub mod static_file;
pub mod uploads;
