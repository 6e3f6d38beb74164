//! CGI/1.1 (RFC 3875) for executables in `ROOT/cgi-bin/`, enabled by `--cgi`.
//!
//! A request for `/cgi-bin/NAME[/PATH_INFO]` runs `ROOT/cgi-bin/NAME` with the standard
//! meta-variables (section 4.1) and the request body on stdin. The script's stdout is parsed for
//! its header section ([`response`]) and then streamed to the client as it comes: chunked for
//! HTTP/1.1, close-delimited for HTTP/1.0. The pipes are non-blocking and registered with the
//! reactor ([`run`]); a script is killed when it runs past `--cgi-timeout` or its client leaves.
pub mod response;
pub mod run;

use crate::files::{self, Resolved, Root, Scratch};
use crate::http::error::RequestError;
use crate::http::request::{RequestHead, Version};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// `PATH` given to scripts, so `#!/usr/bin/env python3` works.
const SCRIPT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A script to run for one request, with its environment.
#[derive(Debug, Clone)]
pub struct CgiRequest {
    pub program: PathBuf,
    pub dir: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub http10: bool,
    pub head_only: bool,
}

/// The script `rest` names (the path after `/cgi-bin/`, which the route table took off), or why
/// it cannot run.
pub fn script(
    head: &RequestHead<'_, '_>,
    rest: &str,
    root: &Root,
    scratch: &mut Scratch,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<CgiRequest, RequestError> {
    let (name, path_info) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if name.is_empty() || name.starts_with('.') || name.contains('%') {
        return Err(RequestError::NotFound);
    }
    let script_name_len = "/cgi-bin/".len() + name.len();
    let script_path = &head.path[..script_name_len];
    let Resolved::File(file) = files::resolve(root, script_path, scratch)? else {
        return Err(RequestError::NotFound);
    };
    let mode = file
        .file
        .metadata()
        .map_err(|_| RequestError::Internal)?
        .permissions()
        .mode();
    if mode & 0o111 == 0 {
        return Err(RequestError::Forbidden);
    }
    let dir = root.path().join("cgi-bin");
    let program = dir.join(name);
    let mut env = meta_variables(head, script_path, path_info, root, peer, local);
    // Not in RFC 3875, but what Apache and nginx's fastcgi_params set, and php-cgi needs.
    env.push(("SCRIPT_FILENAME".into(), program.clone().into_os_string()));
    env.push(("DOCUMENT_ROOT".into(), root.path().as_os_str().to_owned()));
    Ok(CgiRequest {
        program,
        dir,
        env,
        http10: head.version == Version::Http10,
        head_only: head.method == crate::http::request::Method::Head,
    })
}

/// The meta-variables of RFC 3875 section 4.1, plus `HTTP_*` for the request's fields.
fn meta_variables(
    head: &RequestHead<'_, '_>,
    script_name: &str,
    path_info: &str,
    root: &Root,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut set = |k: &str, v: OsString| env.push((k.into(), v));
    let text = |s: &str| OsString::from(s);
    let bytes = |b: &[u8]| -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(b.to_vec())
    };
    set("GATEWAY_INTERFACE", text("CGI/1.1"));
    set(
        "SERVER_SOFTWARE",
        text(concat!("sluice/", env!("CARGO_PKG_VERSION"))),
    );
    set(
        "SERVER_PROTOCOL",
        text(match head.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }),
    );
    set("REQUEST_METHOD", text(head.method_str));
    set("SCRIPT_NAME", text(script_name));
    set("QUERY_STRING", text(head.query.unwrap_or("")));
    set("REMOTE_ADDR", text(&peer.ip().to_string()));
    set("REMOTE_HOST", text(&peer.ip().to_string()));
    set("REMOTE_PORT", text(&peer.port().to_string()));
    let host = head.host.unwrap_or(b"");
    let host_name = match host.first() {
        Some(b'[') => host
            .iter()
            .position(|&b| b == b']')
            .map_or(host, |i| &host[..=i]),
        _ => host.split(|&b| b == b':').next().unwrap_or(host),
    };
    match (host_name.is_empty(), local) {
        (false, _) => set("SERVER_NAME", bytes(host_name)),
        (true, Some(l)) => set("SERVER_NAME", text(&l.ip().to_string())),
        (true, None) => set("SERVER_NAME", text("localhost")),
    }
    if let Some(l) = local {
        set("SERVER_PORT", text(&l.port().to_string()));
    }
    if !path_info.is_empty() {
        let decoded = percent_encoding::percent_decode_str(path_info).collect::<Vec<u8>>();
        set("PATH_INFO", bytes(&decoded));
        let mut translated = root.path().as_os_str().to_owned();
        translated.push(bytes(&decoded));
        set("PATH_TRANSLATED", translated);
    }
    if let Some(len) = match head.framing {
        crate::http::request::BodyFraming::Length(n) => Some(n),
        _ => None,
    } {
        set("CONTENT_LENGTH", text(&len.to_string()));
    }
    if let Some(ct) = head.header("content-type") {
        set("CONTENT_TYPE", bytes(ct));
    }
    set("PATH", text(SCRIPT_PATH));
    for field in head.headers {
        let name = field.name;
        // Framing is ours; `Proxy` must never become HTTP_PROXY ("httpoxy"); credentials stay
        // with the server.
        let skip = [
            "content-length",
            "content-type",
            "proxy",
            "authorization",
            "transfer-encoding",
        ]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
        if skip {
            continue;
        }
        let mut key = String::with_capacity(5 + name.len());
        key.push_str("HTTP_");
        key.extend(name.chars().map(|c| match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        }));
        if let Some(existing) = env.iter_mut().find(|(k, _)| *k == *key) {
            existing.1.push(", ");
            existing.1.push(bytes(field.value));
        } else {
            env.push((key.into(), bytes(field.value)));
        }
    }
    env
}
