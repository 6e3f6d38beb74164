//! The device routes: which device a POST names (`POST /devices/{id}`, `POST /` and
//! `POST /ingest`), the reply once its body is committed, and `GET /devices/{id}`, the device's
//! file with every acknowledged byte in it.
use super::context::Context;
use crate::files::serve::{self, FileRequest};
use crate::files::{self, OpenFile, Resolved};
use crate::http::error::RequestError;
use crate::http::query;
use crate::http::reply::{self, Framing, Reply};
use crate::http::request::RequestHead;
use crate::http::response;
use crate::limits::MAX_DEVICE_ID_BYTES;
use crate::store::DeviceId;
use std::net::IpAddr;

/// Methods the device routes (`/devices/{id}`) allow.
pub const ALLOW_DEVICE: &str = "GET, HEAD, POST, OPTIONS";

/// The device a `POST /` or `POST /ingest` is for: `?device=ID`, else the client's address.
pub fn named_by_query_or_peer(query: Option<&str>, peer: IpAddr) -> Result<DeviceId, RequestError> {
    let named = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "device")
            .map(|(_, value)| DeviceId::parse(value.as_bytes()))
    });
    named.unwrap_or_else(|| Ok(DeviceId::from_ip(peer)))
}

/// The reply to an ingest request once its commit is known: 204, or the error.
pub fn ingest_reply(
    out: &mut Vec<u8>,
    date: &[u8],
    result: Result<(), RequestError>,
    framing: Framing,
) -> Reply {
    match result {
        Ok(()) => {
            response::start(out, 204, date);
            response::connection(out, framing.close, framing.http10_keep_alive);
            response::end(out);
            Reply::buffered(204, 0)
        }
        Err(err) => reply::error(out, date, err, framing),
    }
}

/// `GET /devices/{id}`: the device's file, with every acknowledged byte in it; ranges,
/// validators and `?download` as for static files, no precompressed siblings.
pub fn serve(
    head: &RequestHead<'_, '_>,
    id: &str,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(RequestError::from)?;
    let id = DeviceId::parse(id.as_bytes())?;
    let file = device_file(ctx, &id)?;
    // `?download` names the file `ID.txt`, so that it opens in an editor.
    let mut name = [0u8; MAX_DEVICE_ID_BYTES + 4];
    let id_bytes = id.as_str().as_bytes();
    name[..id_bytes.len()].copy_from_slice(id_bytes);
    name[id_bytes.len()..id_bytes.len() + 4].copy_from_slice(b".txt");
    let req = FileRequest {
        head,
        framing,
        download: query.download.then_some(&name[..id_bytes.len() + 4]),
        now: ctx.wall,
        date: ctx.reply.date(),
    };
    serve::serve(&req, file, None, out)
}

/// Opens the data file of `id` after writing out its records still in memory (`--ack buffer`),
/// so a reader sees every acknowledged byte (read-your-writes). Resolves with the site's
/// scratch space, which then holds the file's name.
pub fn device_file(ctx: &mut Context, id: &DeviceId) -> Result<OpenFile, RequestError> {
    ctx.store.flush_device(id, &mut ctx.completions);
    let mut path = [0u8; 1 + MAX_DEVICE_ID_BYTES];
    path[0] = b'/';
    let name = id.as_str().as_bytes();
    path[1..=name.len()].copy_from_slice(name);
    let path = std::str::from_utf8(&path[..=name.len()]).map_err(|_| RequestError::Internal)?;
    // No data directory yet: no device has a file.
    let data = ctx.data_root.as_ref().ok_or(RequestError::NotFound)?;
    match files::resolve(data, path, &mut ctx.site.scratch)? {
        Resolved::File(mut file) => {
            file.content_type = files::ContentType {
                essence: "text/plain",
                utf8: true,
            };
            Ok(file)
        }
        _ => Err(RequestError::NotFound),
    }
}

/// `GET /devices/{id}/live` from a browser: the device page, with the end of the device's file
/// (every acknowledged record: written out first in `--ack buffer`). `?range=24h` charts a day.
pub fn page(
    head: &RequestHead<'_, '_>,
    id: &DeviceId,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let day = match head
        .query
        .map(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "range"))
    {
        Some(Some((_, range))) => match &*range {
            "24h" | "1d" | "day" => true,
            "1h" | "hour" | "" => false,
            _ => return Err(RequestError::BadQuery),
        },
        _ => false,
    };
    ctx.store.flush_device(id, &mut ctx.completions);
    let mut tail = Vec::new();
    let path = ctx.store.dir().join(id.as_str());
    if let Err(e) = crate::values::read_tail(&path, &mut tail) {
        tail.clear();
        if e.kind() != std::io::ErrorKind::NotFound {
            log::warn!("device page of {id}: cannot read its file: {e}");
        }
    }
    let page = crate::pages::device::DevicePage {
        id,
        stats: ctx.store.stats(id),
        values: ctx.values.device(id),
        tail: &tail,
        day,
        now_ms: crate::values::unix_ms(ctx.wall),
    };
    let accept = head.header("accept-encoding");
    let reply = crate::pages::device::page(out, &mut ctx.reply, framing, accept, &page);
    Ok(reply)
}
