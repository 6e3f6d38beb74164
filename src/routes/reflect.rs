//! `POST /echo` and `/anything` (see `pages/reflect.rs`): which requests read a body first, and
//! the reply once the connection has it.
use super::{read_body, BodySink, Next};
use crate::http::reply::{Framing, Reply, ReplyKit};
use crate::http::request::{BodyFraming, Method, RequestHead, Version};
use crate::pages::reflect::{self, Captured};
use std::net::IpAddr;

/// Methods of `/echo`.
pub const ALLOW_ECHO: &str = "POST, PUT, PATCH, OPTIONS";

/// A reflected request waiting for its body.
#[derive(Debug)]
pub enum Reflect {
    /// `POST /echo`, with the client's `Accept-Encoding`.
    Echo {
        http10: bool,
        accept_encoding: Option<Vec<u8>>,
    },
    /// `/anything` with a body.
    Anything { http10: bool, req: Box<Captured> },
}

/// `POST`, `PUT` or `PATCH /echo`: read the body, then send it back.
pub fn echo(head: &RequestHead<'_, '_>, keep: bool) -> Option<Next> {
    if !matches!(head.method, Method::Post | Method::Put | Method::Patch) {
        return None;
    }
    let reflect = Reflect::Echo {
        http10: head.version == Version::Http10,
        accept_encoding: head.header("accept-encoding").map(<[u8]>::to_vec),
    };
    Some(read_body(BodySink::Reflect(reflect), keep))
}

/// `/anything` with any method: with a body, read it first; without, answer now.
pub fn anything(
    head: &RequestHead<'_, '_>,
    peer: IpAddr,
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    keep: bool,
) -> Next {
    let req = Box::new(Captured::of(head, peer));
    if head.framing != BodyFraming::None {
        let http10 = head.version == Version::Http10;
        return read_body(BodySink::Reflect(Reflect::Anything { http10, req }), keep);
    }
    let close = !keep;
    let reply = reflect::anything(out, kit, Framing::for_request(head, close), &req, b"");
    Next::Reply { reply, close }
}

/// The reply to `reflect` once its `body` has arrived.
pub fn reply(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    reflect: &Reflect,
    body: &[u8],
) -> Reply {
    match reflect {
        Reflect::Echo {
            accept_encoding, ..
        } => reflect::echo(out, kit, framing, accept_encoding.as_deref(), body),
        Reflect::Anything { req, .. } => reflect::anything(out, kit, framing, req, body),
    }
}

impl Reflect {
    pub fn http10(&self) -> bool {
        match self {
            Reflect::Echo { http10, .. } | Reflect::Anything { http10, .. } => *http10,
        }
    }
}
