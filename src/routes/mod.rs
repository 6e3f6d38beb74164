//! The one dispatcher: for a parsed request head, decide what happens next and return it as a
//! value ([`Next`]) that the connection executes. The reply, when there is one now, is written
//! into the connection's write buffer; a route that wants the request body names where the body
//! goes ([`BodySink`]) and answers once the connection has read it.
//!
//! The route table is [`Route::of`]: every path prefix is matched there, once. [`dispatch`]
//! runs the checks that come before every route (admission of the request by `security`, the
//! body limit), then acts on the route and the method. Adding a route touches this folder and
//! the thing that answers it, nothing in the connection.
pub mod context;
mod devices;
pub mod influx;
pub mod reflect;
mod uploads;

pub use devices::{ingest_reply, ALLOW_DEVICE};
pub use uploads::{upload_reply, ALLOW_FILES};

use crate::cgi::{self, CgiRequest};
use crate::files::site::{Clock, Served};
use crate::http::error::RequestError;
use crate::http::query;
use crate::http::reply::{self, Framing, Reply, ALLOW_STATIC};
use crate::http::request::{BodyFraming, Method, RequestHead, Version};
use crate::live::{self, Topic};
use crate::observe::metrics;
use crate::pages;
use crate::store::DeviceId;
use context::Context;
use std::net::SocketAddr;

/// What the connection does after a head (see the module docs).
#[derive(Debug)]
pub enum Next {
    /// The reply is written. The request's body, if any, is read and discarded first unless the
    /// connection closes after the reply.
    Reply { reply: Reply, close: bool },
    /// Read the body into `sink`; the reply is written once the sink has it.
    ReadBody { sink: BodySink, close: bool },
    /// A live event stream on `topic`; its head is written, events follow.
    Live { topic: Topic },
}

/// Where a body that a route wants goes.
#[derive(Debug)]
pub enum BodySink {
    /// Appended to the device's file (`POST /devices/{id}`, `POST /`, `POST /ingest`), once per
    /// `Idempotency-Key`.
    Device {
        id: DeviceId,
        http10: bool,
        key: Option<Box<str>>,
    },
    /// Streamed into a file under `--directory` (`POST /files/{path}`); `path` as decoded, for
    /// the `Location` of the 201.
    Upload {
        upload: Box<crate::files::upload::Upload>,
        path: Vec<u8>,
        http10: bool,
    },
    /// Given to the script on stdin (`--cgi`, `/cgi-bin/`).
    Cgi(Box<CgiRequest>),
    /// Sent back (`POST /echo`, `/anything`).
    Reflect(reflect::Reflect),
    /// InfluxDB line protocol, each line a record of the device its tags name
    /// (`POST /api/v2/write`, `POST /write`); `gzip` when `Content-Encoding: gzip`.
    LineProtocol { http10: bool, gzip: bool },
}

/// What a request path names: the route table, each prefix matched once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    /// `/devices`, `/devices/`: the dashboard.
    Dashboard,
    ApiDevices,
    /// `/api/devices/{id}/series`: one field's points.
    Series(&'p str),
    /// `/api/v2/write`, `/write`: the InfluxDB write API.
    InfluxWrite,
    /// `/ping`, `/health`: the InfluxDB client libraries' connection checks, unless ROOT has a
    /// file of that name.
    InfluxPing,
    InfluxHealth,
    Healthz,
    Metrics,
    UserAgent,
    /// `/echo/{text}`.
    Echo(&'p str),
    /// `/echo`: a body sent back.
    EchoBody,
    /// `/anything[/...]`: the request described back as JSON.
    Anything,
    /// `/api/live`: every device's live stream.
    LiveAll,
    /// `/devices/{id}/live`: the device's live stream, or its page in a browser.
    DeviceLive(&'p str),
    /// `/devices/{id}`: the device's data, or a POST of records.
    Device(&'p str),
    /// `/files/{path}`: a file under `--directory`.
    Files(&'p str),
    /// `/cgi-bin/{name}[/path-info]`: a CGI script (with `--cgi`).
    Cgi(&'p str),
    /// `/ingest`: a POST of records for the device `?device=` or the client's address names.
    Ingest,
    /// Anything else: a file under ROOT (and `POST /` is ingest too).
    Static,
}

impl<'p> Route<'p> {
    fn of(path: &'p str) -> Route<'p> {
        match path {
            "/devices" | "/devices/" => return Route::Dashboard,
            "/api/devices" => return Route::ApiDevices,
            "/api/live" => return Route::LiveAll,
            "/healthz" => return Route::Healthz,
            "/metrics" => return Route::Metrics,
            "/user-agent" => return Route::UserAgent,
            "/ingest" => return Route::Ingest,
            "/echo" => return Route::EchoBody,
            "/anything" => return Route::Anything,
            "/api/v2/write" | "/write" => return Route::InfluxWrite,
            "/ping" => return Route::InfluxPing,
            "/health" => return Route::InfluxHealth,
            _ => {}
        }
        if path.starts_with("/anything/") {
            return Route::Anything;
        }
        if let Some(id) = path
            .strip_prefix("/api/devices/")
            .and_then(|rest| rest.strip_suffix("/series"))
        {
            return Route::Series(id);
        }
        if let Some(rest) = path.strip_prefix("/devices/") {
            return match rest.strip_suffix("/live") {
                Some(id) => Route::DeviceLive(id),
                None => Route::Device(rest),
            };
        }
        if let Some(name) = path.strip_prefix("/files/") {
            return Route::Files(name);
        }
        if let Some(text) = path.strip_prefix("/echo/") {
            return Route::Echo(text);
        }
        if let Some(script) = path.strip_prefix("/cgi-bin/") {
            return Route::Cgi(script);
        }
        Route::Static
    }
}

/// The two ends of the connection a request came in on.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
}

/// The route table: what happens next for `head`, with any reply written into `out`.
#[inline]
pub fn dispatch(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    ends: Ends,
) -> Next {
    let keep = head.keep_alive && !ctx.draining;
    let has_body = head.framing != BodyFraming::None;
    // A body announced with `Expect: 100-continue` is never sent unless invited, so a route that
    // does not read it closes the connection after its answer.
    let unwanted_body_closes = has_body && head.expect_continue;
    // Host, cross-site and credential checks come before any route (live, CGI, ingest, files):
    // a refused request's body, if any, is read and discarded, never handed on.
    if let Err(err) = crate::security::check(head, &ctx.config.security) {
        if err == RequestError::MisdirectedRequest {
            log_refused_host(head, ctx);
        }
        let oversized = matches!(head.framing, BodyFraming::Length(n) if n > ctx.config.max_body);
        let close = !keep || err.closes() || oversized || unwanted_body_closes;
        let reply = reply::error(
            out,
            ctx.reply.date(),
            err,
            Framing::for_request(head, close),
        );
        return Next::Reply { reply, close };
    }
    let route = Route::of(head.path);
    let reads = matches!(head.method, Method::Get | Method::Head);
    match route {
        Route::LiveAll if reads => return live_stream(head, Ok(Topic::All), ctx, out),
        // A browser navigating here gets the live page (below).
        Route::DeviceLive(id) if reads && live::stream::asks_for_events(head) => {
            let topic = DeviceId::parse(id.as_bytes()).map(Topic::Device);
            return live_stream(head, topic, ctx, out);
        }
        _ => {}
    }
    let http10 = head.version == Version::Http10;
    let post = head.method == Method::Post;
    if let BodyFraming::Length(n) = head.framing {
        // An upload streams to disk under its own limit.
        let upload = post && ctx.config.upload && matches!(route, Route::Files(_));
        let (limit, err) = if upload {
            (ctx.config.max_upload, RequestError::UploadTooLarge)
        } else {
            (ctx.config.max_body, RequestError::BodyTooLarge)
        };
        if n > limit {
            return error(head, ctx, out, err);
        }
    }
    match route {
        Route::EchoBody => {
            if let Some(next) = reflect::echo(head, keep) {
                return next;
            }
        }
        Route::Anything => {
            return reflect::anything(head, ends.peer.ip(), out, &mut ctx.reply, keep);
        }
        _ => {}
    }
    match route {
        Route::Cgi(script) if ctx.config.cgi => {
            let (site, peer, local) = (&mut ctx.site, ends.peer, ends.local);
            let found = cgi::script(head, script, &site.root, &mut site.scratch, peer, local);
            return match found {
                Ok(req) => read_body(BodySink::Cgi(Box::new(req)), keep),
                Err(err) => refuse(head, ctx, out, err, (keep, ALLOW_STATIC)),
            };
        }
        Route::Files(_) if post && !ctx.config.upload => {
            let err = RequestError::UploadsOff;
            return refuse(head, ctx, out, err, (keep, ALLOW_FILES));
        }
        Route::Files(path) if post => {
            return match uploads::begin(path, ctx, http10) {
                Ok(sink) => read_body(sink, keep),
                Err(err) => refuse(head, ctx, out, err, (keep, ALLOW_FILES)),
            };
        }
        Route::InfluxWrite if post => {
            let gzip = influx::gzip_encoded(head);
            return match gzip.and_then(|gzip| ctx.store.admit().map(|()| gzip)) {
                Ok(gzip) => read_body(BodySink::LineProtocol { http10, gzip }, keep),
                Err(err) => refuse(head, ctx, out, err, (keep, influx::ALLOW_WRITE)),
            };
        }
        Route::Device(_) | Route::Ingest if post => {}
        // `POST /devices/` names the empty device id: 400 with the rule, below.
        Route::Dashboard if post && head.path.ends_with('/') => {}
        Route::Static if post && head.path == "/" => {}
        // No other route reads bodies.
        _ => {
            let close = !keep || unwanted_body_closes;
            let reply = respond(head, route, ctx, out, Framing::for_request(head, close));
            return Next::Reply { reply, close };
        }
    }
    let target = match route {
        Route::Device(id) => DeviceId::parse(id.as_bytes()),
        Route::Dashboard => DeviceId::parse(b""),
        _ => devices::named_by_query_or_peer(head.query, ends.peer.ip()),
    };
    let key = head.header("idempotency-key").map(crate::store::parse_key);
    let admitted = target.and_then(|id| ctx.store.admit().map(|()| id));
    match (admitted, key.transpose()) {
        (Ok(id), Ok(key)) => read_body(BodySink::Device { id, http10, key }, keep),
        (Err(err), _) | (_, Err(err)) => refuse(head, ctx, out, err, (keep, ALLOW_DEVICE)),
    }
}

/// Answers a request whose route reads no body.
fn respond(
    head: &RequestHead<'_, '_>,
    route: Route<'_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Reply {
    let accept = head.header("accept-encoding");
    let page = |ctx: &mut Context, out: &mut Vec<u8>| -> Result<Reply, RequestError> {
        let kit = &mut ctx.reply;
        Ok(match route {
            Route::ApiDevices => {
                let data = (&ctx.store, &ctx.values);
                pages::api_devices(out, kit, framing, accept, data, ctx.wall)
            }
            Route::Healthz => pages::healthz(out, kit, framing, ctx.draining, &ctx.store),
            Route::Metrics => {
                let gauges = metrics::Gauges {
                    connections_open: ctx.connections_open as u64,
                    devices: ctx.store.devices().count() as u64,
                    device_files_open: ctx.store.open_files() as u64,
                    unsynced_bytes: ctx.store.unsynced_bytes(),
                    live_subscribers: ctx.live.len() as u64,
                };
                let data = (&gauges, &ctx.values);
                pages::metrics(out, kit, framing, accept, data, ctx.wall)
            }
            Route::UserAgent => pages::user_agent(out, kit, framing, head),
            Route::Dashboard => {
                let data = (&ctx.store, &ctx.values);
                pages::dashboard::page(out, kit, framing, accept, data, ctx.wall)
            }
            Route::Echo(text) => pages::echo(out, kit, framing, head, text),
            Route::InfluxPing => influx::ping(out, kit.date(), framing),
            Route::InfluxHealth => {
                let body = br#"{"name":"sluice","message":"ready for writes","status":"pass"}"#;
                kit.page(out, framing, accept, 200, "application/json", body)
            }
            Route::Series(id) => {
                let id = DeviceId::parse(id.as_bytes())?;
                let now = crate::values::unix_ms(ctx.wall);
                let query = pages::values::SeriesQuery::parse(head.query, now)?;
                pages::values::series(out, kit, framing, accept, &ctx.values, &id, &query)?
            }
            _ => return Err(RequestError::NotFound),
        })
    };
    match route {
        Route::Dashboard
        | Route::ApiDevices
        | Route::Healthz
        | Route::Metrics
        | Route::UserAgent
        | Route::Series(_)
        | Route::Echo(_) => by_method(head, ctx, out, framing, ALLOW_STATIC, page),
        // Not reserved: a file of that name under ROOT comes first.
        Route::InfluxPing | Route::InfluxHealth => {
            by_method(head, ctx, out, framing, ALLOW_STATIC, |ctx, out| {
                let at = out.len();
                match serve_static(head, ctx, out, framing) {
                    Err(RequestError::NotFound) => {
                        out.truncate(at);
                        page(ctx, out)
                    }
                    other => other,
                }
            })
        }
        // GET and HEAD of `/echo`; the methods with a body were taken in `dispatch`.
        Route::EchoBody => by_method(head, ctx, out, framing, reflect::ALLOW_ECHO, |_, _| {
            Err(RequestError::MethodNotAllowed)
        }),
        // POST was taken in `dispatch`.
        Route::InfluxWrite => by_method(head, ctx, out, framing, influx::ALLOW_WRITE, |_, _| {
            Err(RequestError::MethodNotAllowed)
        }),
        // Answered in `dispatch`, whatever the method; never here.
        Route::Anything => reply::error(out, ctx.reply.date(), RequestError::Internal, framing),
        Route::Files(name) => by_method(head, ctx, out, framing, ALLOW_FILES, |ctx, out| {
            uploads::serve(head, name, ctx, out, framing)
        }),
        // The browser page; `EventSource` requests were taken by `live_stream`.
        Route::DeviceLive(id) => by_method(head, ctx, out, framing, ALLOW_STATIC, |ctx, out| {
            let id = DeviceId::parse(id.as_bytes())?;
            devices::page(head, &id, ctx, out, framing)
        }),
        Route::Device(id) => by_method(head, ctx, out, framing, ALLOW_DEVICE, |ctx, out| {
            devices::serve(head, id, ctx, out, framing)
        }),
        // Without --cgi, and /api/live and /ingest read other than as above: files under ROOT.
        Route::LiveAll | Route::Cgi(_) | Route::Ingest | Route::Static => {
            by_method(head, ctx, out, framing, ALLOW_STATIC, |ctx, out| {
                serve_static(head, ctx, out, framing)
            })
        }
    }
}

/// The method rule every resource route shares: GET and HEAD are answered by `get` (its error
/// becomes the error reply), OPTIONS lists `allow`, an unknown method is 501 and any other is 405
/// with `allow`.
fn by_method(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
    allow: &str,
    get: impl FnOnce(&mut Context, &mut Vec<u8>) -> Result<Reply, RequestError>,
) -> Reply {
    let reply_at = out.len();
    let err = match head.method {
        Method::Get | Method::Head => match get(ctx, out) {
            Ok(reply) => return reply,
            Err(err) => err,
        },
        Method::Options => return reply::options(out, ctx.reply.date(), framing, allow),
        Method::Other => RequestError::UnknownMethod,
        _ => RequestError::MethodNotAllowed,
    };
    out.truncate(reply_at);
    reply::error_with(out, ctx.reply.date(), err, framing, allow, &[])
}

/// `GET /<path>` under ROOT: a file, a listing, a redirect, or the home page.
fn serve_static(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(RequestError::from)?;
    let clock = Clock {
        now: ctx.now,
        wall: ctx.wall,
        turn: ctx.turn,
    };
    match ctx
        .site
        .serve(head, &query, &mut ctx.reply, out, framing, clock)?
    {
        Served::Reply(reply) => Ok(reply),
        Served::Home => {
            let listing = std::mem::take(&mut ctx.reply.page);
            let accept = head.header("accept-encoding");
            let kit = &mut ctx.reply;
            let data = (&ctx.store, &ctx.values);
            let reply = pages::home(out, kit, framing, accept, &listing, data);
            ctx.reply.page = listing;
            Ok(reply)
        }
    }
}

/// A live stream: its head and replay are written, and the connection subscribes (a HEAD gets
/// the head only and closes).
fn live_stream(
    head: &RequestHead<'_, '_>,
    target: Result<Topic, RequestError>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
) -> Next {
    let reply_at = out.len();
    let started = target.and_then(|topic| {
        let replay = match topic {
            Topic::Device(id) => match live::stream::Replay::asked(head)? {
                Some(asked) => match devices::device_file(ctx, &id) {
                    Ok(file) => Some((asked, Some(file))),
                    Err(RequestError::NotFound) => Some((asked, None)),
                    Err(err) => return Err(err),
                },
                None => None,
            },
            Topic::All => None,
        };
        live::stream::start(head, replay, ctx.reply.date(), out).map(|()| topic)
    });
    match started {
        Ok(_) if head.method == Method::Head => Next::Reply {
            reply: Reply::buffered(200, 0),
            close: true,
        },
        Ok(topic) => Next::Live { topic },
        Err(err) => {
            out.truncate(reply_at);
            let close = !head.keep_alive || ctx.draining;
            let reply = reply::error(
                out,
                ctx.reply.date(),
                err,
                Framing::for_request(head, close),
            );
            Next::Reply { reply, close }
        }
    }
}

/// One line per refused host name and interval, naming the flag that would admit it.
fn log_refused_host(head: &RequestHead<'_, '_>, ctx: &mut Context) {
    let host = head.host.unwrap_or(b"");
    // The name without its port: what --server-name takes.
    let name = match host.iter().rposition(|&b| b == b':') {
        Some(colon) if !host.starts_with(b"[") || host[..colon].ends_with(b"]") => &host[..colon],
        _ => host,
    };
    if ctx.refused_hosts.allow(name, ctx.now) {
        let name = String::from_utf8_lossy(name);
        log::warn!(
            "Host {name}: refused with 421, not a name this server answers; \
             start sluice with --server-name {name} to answer it"
        );
    }
}

/// A route wants the body: the connection reads it into `sink`.
fn read_body(sink: BodySink, keep: bool) -> Next {
    Next::ReadBody { sink, close: !keep }
}

/// Refuses a request whose route would have read its body; `allow` names the route's methods.
fn refuse(
    head: &RequestHead<'_, '_>,
    ctx: &Context,
    out: &mut Vec<u8>,
    err: RequestError,
    (keep, allow): (bool, &str),
) -> Next {
    let has_body = head.framing != BodyFraming::None;
    let close = !keep || err.closes() || (has_body && head.expect_continue);
    let framing = Framing::for_request(head, close);
    let reply = reply::error_with(out, ctx.reply.date(), err, framing, allow, &[]);
    Next::Reply { reply, close }
}

/// An error found before any route: the connection closes if the error demands it.
fn error(head: &RequestHead<'_, '_>, ctx: &Context, out: &mut Vec<u8>, err: RequestError) -> Next {
    let close = err.closes() || ctx.draining;
    let framing = Framing {
        close,
        head_only: head.method == Method::Head,
        http10_keep_alive: false,
    };
    let limits = (ctx.config.max_body, ctx.config.max_upload);
    let reply = reply::error_within(out, ctx.reply.date(), err, framing, limits);
    Next::Reply { reply, close }
}
