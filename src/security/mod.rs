//! The request-level defences of a LAN-only server (README, "Threat model"). Peer admission
//! (`crate::security::admission`) and the per-peer connection cap (`crate::reactor::peers`) act on the socket;
//! these act on a parsed head, before any route runs or any body byte is read:
//!
//! 1. [`host`]: the Host names this server (DNS rebinding), else 421;
//! 2. [`origin`]: a write from another origin, else 403;
//! 3. [`auth`]: the ingest token for writes, Basic credentials for reads, else 401.
//!
//! A refused request's body, if any, is read and thrown away; it never reaches the device store.
pub mod admission;
pub mod auth;
pub mod host;
pub mod location;
pub mod origin;

use crate::http::error::RequestError;
use crate::http::request::{Method, RequestHead};
use auth::Secret;

/// What the security checks need from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `--server-name`s, lowercase, without a trailing dot.
    pub server_names: Vec<String>,
    /// `--ingest-token`: every write must carry `Authorization: Bearer` with it.
    pub ingest_token: Option<Secret>,
    /// `--auth`: every GET and HEAD must carry these `Authorization: Basic` credentials.
    pub basic: Option<Secret>,
}

/// Checks `head` against `policy`, in the order of the module docs; the first refusal wins.
pub fn check(head: &RequestHead<'_, '_>, policy: &Policy) -> Result<(), RequestError> {
    if let Some(authority) = head.host {
        if !host::allowed(authority, &policy.server_names) {
            return Err(RequestError::MisdirectedRequest);
        }
    }
    let authorization = head.header("authorization");
    if origin::is_write(head.method) {
        if origin::cross_site_write(head) {
            return Err(RequestError::CrossSiteWrite);
        }
        if let Some(token) = &policy.ingest_token {
            if !auth::bearer_matches(authorization, token) {
                return Err(RequestError::TokenRequired);
            }
        }
    } else if matches!(head.method, Method::Get | Method::Head) {
        if let Some(basic) = &policy.basic {
            if !auth::basic_matches(authorization, basic) {
                return Err(RequestError::CredentialsRequired);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{header_slots, parse_head};

    fn verdict(request: &str, policy: &Policy) -> Result<(), RequestError> {
        let mut fields = header_slots::<16>();
        let head = parse_head(request.as_bytes(), &mut fields).unwrap();
        check(&head, policy)
    }

    #[test]
    fn checks_run_in_order() {
        let policy = Policy {
            server_names: Vec::new(),
            ingest_token: Some(Secret::token("tok").unwrap()),
            basic: Some(Secret::basic("u:p").unwrap()),
        };
        use RequestError::*;
        // Host first, even before the cross-site and credential checks.
        let r = "POST / HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(MisdirectedRequest));
        // Cross-site before the token: the right token does not make a foreign page's post ok.
        let r = "POST / HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\
                 Authorization: Bearer tok\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(CrossSiteWrite));
        let r = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n";
        assert_eq!(verdict(r, &policy), Ok(()));
        // Writes need the token, not Basic; reads need Basic, not the token.
        let r = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpw\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(TokenRequired));
        let r = "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n";
        assert_eq!(verdict(r, &policy), Err(CredentialsRequired));
        let r = "HEAD /devices/a HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpw\r\n\r\n";
        assert_eq!(verdict(r, &policy), Ok(()));
        // OPTIONS reveals nothing and carries no credentials (CORS preflight).
        let r = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(verdict(r, &policy), Ok(()));
    }

    #[test]
    fn without_flags_only_host_and_origin_apply() {
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
