//! What the server tells about itself: Prometheus metrics, the combined-format access log, and
//! the lines a terminal shows.
pub mod access_log;
pub mod console;
pub mod metrics;
pub mod throttle;
pub mod units;
