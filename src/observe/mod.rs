//! What the server tells about itself: Prometheus metrics and the combined-format access log.
pub mod access_log;
pub mod metrics;
pub mod throttle;
