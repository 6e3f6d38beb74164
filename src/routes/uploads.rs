//! `/files/{path}`: a file under `--directory` read back (`GET`), or created from the request
//! body (`POST`, with uploads on) in the folder `path` names, streamed to disk as it arrives.
use super::context::Context;
use super::BodySink;
use crate::files::serve::{self, FileRequest};
use crate::files::{self, upload, Resolved};
use crate::http::error::RequestError;
use crate::http::query;
use crate::http::reply::{self, Framing, Reply};
use crate::http::request::RequestHead;
use crate::http::response;

/// Methods `/files/{path}` allows.
pub const ALLOW_FILES: &str = "GET, HEAD, POST, OPTIONS";

/// Starts `POST /files/{path}`: the path percent-decoded and validated, and the temporary file
/// its body streams into created in the folder it names (which must exist, and is never the
/// data directory).
pub fn begin(path: &str, ctx: &Context, http10: bool) -> Result<BodySink, RequestError> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let data = ctx.data_root.as_ref().and_then(files::Root::identity);
    let upload = upload::Upload::begin(&ctx.files_root, &decoded, data)?;
    Ok(BodySink::Upload {
        upload: Box::new(upload),
        path: decoded,
        http10,
    })
}

/// `GET /files/{path}`: a file under `--directory` as `application/octet-stream`, with ranges and
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
    upload::split_path(&decoded)?;
    // The data directory inside `--directory` is not served there (devices have /devices/).
    let data = ctx.data_root.as_ref();
    if let Some(private) = data.and_then(|data| ctx.files_root.private(data)) {
        let inside = decoded.strip_prefix(&*private.rel);
        if inside.is_some_and(|rest| rest.first() == Some(&b'/')) {
            return Err(RequestError::NotFound);
        }
    }
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

/// The reply to a stored upload: 201 with the file's `Location` (`path` below `/files/`), or the
/// error.
pub fn upload_reply(
    out: &mut Vec<u8>,
    date: &[u8],
    path: &[u8],
    result: Result<(), RequestError>,
    framing: Framing,
) -> Reply {
    if let Err(err) = result {
        return reply::error(out, date, err, framing);
    }
    const BODY: &[u8] = b"created\n";
    response::start(out, 201, date);
    out.extend_from_slice(b"Location: /files");
    for segment in path.split(|&b| b == b'/') {
        out.push(b'/');
        for piece in percent_encoding::percent_encode(segment, files::PATH_SEGMENT) {
            out.extend_from_slice(piece.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\n");
    response::content_length(out, BODY.len() as u64);
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    out.extend_from_slice(BODY);
    Reply::buffered(201, BODY.len() as u64)
}
