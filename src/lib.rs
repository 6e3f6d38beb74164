//! sluice: an HTTP/1.1 server for a local network.
//!
//! `src/` is laid out by the stages a request passes through, top to bottom; ARCHITECTURE.md
//! is the map (the layers, who may import whom, a GET and a POST walked file by file).
#![forbid(unsafe_code)]
// The library prints nothing: output goes through `log`, the access log, or the replies.
// (main.rs prints the listening lines and start-up errors; tests print what they measure.)
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]
// Keep the server's functions reviewable: a step function per state, not a wall of code.
// (Tests, which read as scripts, are not held to this.)
#![warn(clippy::too_many_lines, clippy::cognitive_complexity)]

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
pub mod values;
