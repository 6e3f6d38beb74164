//! The request-level defences of a LAN-only server (README, "Threat model"). Peer admission
//! (`crate::admission`) and the per-peer connection cap (`crate::peers`) act on the socket;
//! these act on a parsed head, before any route runs or any body byte is read:
//!
//! 1. [`host`]: the Host names this server (DNS rebinding), else 421;
//! 2. [`origin`]: a write from another origin, else 403;
//!
//! A refused request's body, if any, is read and thrown away; it never reaches the device store.
pub mod host;
pub mod location;
pub mod origin;

use crate::error::RequestError;
use crate::http::request::RequestHead;

/// What the security checks need from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `--server-name`s, lowercase, without a trailing dot.
    pub server_names: Vec<String>,
}

/// Checks `head` against `policy`, in the order of the module docs; the first refusal wins.
pub fn check(head: &RequestHead<'_, '_>, policy: &Policy) -> Result<(), RequestError> {
    if let Some(authority) = head.host {
        if !host::allowed(authority, &policy.server_names) {
            return Err(RequestError::MisdirectedRequest);
        }
    }
    if origin::cross_site_write(head) {
        return Err(RequestError::CrossSiteWrite);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn verdict(request: &str, policy: &Policy) -> Result<(), RequestError> {
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let head = parse_head(request.as_bytes(), &mut fields).unwrap();
        check(&head, policy)
    }

    #[test]
    fn host_before_origin() {
        let policy = Policy::default();
        let r = "POST / HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(RequestError::MisdirectedRequest));
        let r = "POST / HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(RequestError::CrossSiteWrite));
    }

    #[test]
    fn devices_and_http10_pass() {
        let open = Policy::default();
        assert_eq!(verdict("POST / HTTP/1.1\r\nHost: x\r\n\r\n", &open), Ok(()));
        assert_eq!(verdict("GET / HTTP/1.0\r\n\r\n", &open), Ok(()));
        assert_eq!(
            verdict(
                "GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
                &open
            ),
            Err(RequestError::MisdirectedRequest)
        );
    }
}
