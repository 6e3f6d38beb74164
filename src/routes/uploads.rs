//! `/files/{name}`: a file of `--directory` read back (`GET`), or created from the request body
//! (`POST`, with uploads on).
use super::context::Context;
use crate::files::serve::{self, FileRequest};
use crate::files::{self, upload, Resolved};
use crate::http::error::RequestError;
use crate::http::query;
use crate::http::reply::{self, Framing, Reply};
use crate::http::request::RequestHead;
use crate::http::response;

/// Methods `/files/{name}` allows.
pub const ALLOW_FILES: &str = "GET, HEAD, POST, OPTIONS";

/// The name to store the body of `POST /files/{name}` as (percent-decoded and validated).
pub fn target(name: &str) -> Result<Vec<u8>, RequestError> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    upload::validate_name(&decoded).map(<[u8]>::to_vec)
}

/// `GET /files/{name}`: a file of `--directory` as `application/octet-stream`, with ranges and
/// validators like any file.
pub fn serve(
    head: &RequestHead<'_, '_>,
    name: &str,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(RequestError::from)?;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    upload::validate_name(&decoded)?;
    let scratch = &mut ctx.site.scratch;
    match files::resolve(&ctx.files_root, &head.path["/files".len()..], scratch)? {
        Resolved::File(mut file) => {
            file.content_type = files::ContentType {
                essence: "application/octet-stream",
                utf8: false,
            };
            let req = FileRequest {
                head,
                framing,
                download: query.download.then(|| files::resolved_name(scratch)),
                now: ctx.wall,
                date: ctx.reply.date(),
            };
            serve::serve(&req, file, None, out)
        }
        _ => Err(RequestError::NotFound),
    }
}

/// The reply to a stored upload: 201 with the file's `Location`, or the error.
pub fn upload_reply(
    out: &mut Vec<u8>,
    date: &[u8],
    name: &[u8],
    result: Result<(), RequestError>,
    framing: Framing,
) -> Reply {
    if let Err(err) = result {
        return reply::error(out, date, err, framing);
    }
    const BODY: &[u8] = b"created\n";
    response::start(out, 201, date);
    out.extend_from_slice(b"Location: /files/");
    let encoded = percent_encoding::percent_encode(name, files::PATH_SEGMENT);
    for piece in encoded {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\n");
    response::content_length(out, BODY.len() as u64);
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    out.extend_from_slice(BODY);
    Reply::buffered(201, BODY.len() as u64)
}
