//! The one error type for requests, and the one mapping from an error to a status code.
//!
//! Every way a request can fail is a variant here. [`RequestError::status`] gives the status the
//! client receives and [`RequestError::closes`] whether the connection must close afterwards
//! (framing errors always close: after them we cannot know where the next request starts).
//! The enum is `Copy` with static descriptions, so the error path never allocates.

/// A request that cannot be answered normally. See ARCHITECTURE.md, "Errors".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    // --- malformed head: 400, close (RFC 9112 sections 2, 3, 5) ---
    /// The request line does not match `method SP request-target SP HTTP-version`.
    MalformedRequestLine,
    /// A header field name is empty or contains a non-token byte (includes obs-fold lines).
    MalformedHeaderName,
    /// A header field value contains a forbidden byte (NUL, other controls, bare CR).
    MalformedHeaderValue,
    /// A line ends in LF without CR, or a CR is not followed by LF.
    BareLineFeed,
    /// The version is not `HTTP/x.y` at all.
    MalformedVersion,
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1: 505, close.
    UnsupportedVersion,
    /// The head is larger than the head cap: 431, close.
    HeadTooLarge,
    /// More header fields than the header-count cap: 431, close.
    TooManyHeaders,
    /// The request line is longer than the target cap: 414, close.
    UriTooLong,
    /// Content-Length is not a plain decimal number that fits in 63 bits.
    InvalidContentLength,
    /// Several Content-Length values that differ.
    ConflictingContentLength,
    /// Content-Length together with Transfer-Encoding (RFC 9112 section 6.1).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1).
    TransferEncodingInHttp10,
    /// The last transfer coding is not `chunked`, or `chunked` appears more than once.
    TransferEncodingNotChunked,
    /// A transfer coding other than chunked: 501, close.
    UnknownTransferCoding,
    /// HTTP/1.1 request without Host (RFC 9112 section 3.2).
    MissingHost,
    /// More than one Host field.
    DuplicateHost,
    /// The Host value is not a valid `uri-host [ ":" port ]`.
    InvalidHost,
    /// A request-target that is not origin-form, absolute-form, or `*` for OPTIONS.
    InvalidTarget,
    /// A chunk line, chunk terminator or trailer field is malformed (RFC 9112 section 7.1).
    MalformedChunk,
    /// The trailer section is larger than its cap.
    TrailersTooLarge,
    /// The body is larger than `--max-body`: 413, close.
    BodyTooLarge,
    /// An upload (`POST /files/{path}`) is larger than `--max-upload`: 413, close.
    UploadTooLarge,
    /// An `Expect` other than `100-continue`: 417, close.
    UnknownExpectation,
    /// The head did not arrive within the header deadline: 408, close.
    HeaderTimeout,
    /// The body stopped arriving for longer than the body timeout: 408, close.
    BodyTimeout,
    /// The body arrived slower than `--min-body-rate` on average: 408, close.
    BodyTooSlow,
    /// The bodies held in memory by all connections would pass `--max-body-memory`: 503 with
    /// `Retry-After`, close (the rest of this body is not read).
    BodyMemoryFull,

    // --- request semantics: the connection stays usable ---
    /// A method this server does not know: 501.
    UnknownMethod,
    /// A known method the route does not allow: 405 with `Allow`.
    MethodNotAllowed,
    /// The path is not a valid path below the root (`..` escape, NUL, encoded slash, bad UTF-8).
    BadPath,
    /// An `Idempotency-Key` that is not 1 to 255 visible ASCII characters: 400.
    BadIdempotencyKey,
    /// `POST /files/{path}` while uploads are off: 403.
    UploadsOff,
    /// A folder asked for as a zip holds more files (or levels of folders) than an archive
    /// takes (`MAX_ARCHIVE_FILES`, `MAX_ARCHIVE_DEPTH`): 403.
    ArchiveTooLarge,
    /// A body to a device that holds no record (with lines framing, no non-empty line): 400.
    NoRecord,
    /// A device id outside the rules of README.md ("Device ingestion"): 400.
    BadDeviceId,
    /// A malformed query string: 400.
    BadQuery,
    /// `?sort=` with a value it does not take: 400.
    BadSort,
    /// `?order=` with a value it does not take: 400.
    BadOrder,
    /// `?format=` with a value it does not take: 400.
    BadFormat,
    /// `?tail=` that is not a number of lines: 400.
    BadTail,
    /// A series request without `field`, or with a bad `since`, `format` or `resolution`: 400.
    BadSeries,
    /// An InfluxDB write whose body has a line that is not line protocol: 400, nothing stored.
    BadLineProtocol,
    /// A body in a `Content-Encoding` other than gzip (or identity): 415.
    UnsupportedEncoding,
    /// A gzip body that does not inflate: 400.
    BadGzip,
    /// Ingest is refusing work (too much unsynced data, or the data disk nearly full): 503.
    Overloaded,
    /// Permission denied, or a symlink that leads out of the root: 403.
    Forbidden,
    /// Nothing at that path: 404.
    NotFound,
    /// The Host (or absolute-form authority) names no host this server answers for: a DNS
    /// rebinding attempt or a misconfigured name (RFC 9110 section 15.5.20): 421.
    MisdirectedRequest,
    /// A write (POST, PUT, PATCH, DELETE) sent by a page of another origin (`Origin` or
    /// `Sec-Fetch-Site: cross-site`): 403, nothing written.
    CrossSiteWrite,
    /// A write without the right `Authorization: Bearer` token (`--ingest-token`): 401.
    TokenRequired,
    /// A read without the right `Authorization: Basic` credentials (`--auth`): 401.
    CredentialsRequired,
    /// The range cannot be satisfied: 416.
    RangeNotSatisfiable,
    /// `If-Match` or `If-Unmodified-Since` is false: 412.
    PreconditionFailed,
    /// The device store is out of space: 507.
    InsufficientStorage,
    /// An I/O failure on our side: 500.
    Internal,
    /// A CGI script that could not start or gave no usable answer: 502.
    BadGateway,
    /// A CGI script that ran past `--cgi-timeout` before answering: 504.
    GatewayTimeout,
}

impl RequestError {
    /// The status code sent for this error.
    pub fn status(self) -> u16 {
        use RequestError::*;
        match self {
            MalformedRequestLine
            | MalformedHeaderName
            | MalformedHeaderValue
            | BareLineFeed
            | MalformedVersion
            | InvalidContentLength
            | ConflictingContentLength
            | ContentLengthWithTransferEncoding
            | TransferEncodingInHttp10
            | TransferEncodingNotChunked
            | MissingHost
            | DuplicateHost
            | InvalidHost
            | InvalidTarget
            | MalformedChunk
            | BadPath
            | BadDeviceId
            | NoRecord
            | BadIdempotencyKey
            | BadQuery
            | BadSort
            | BadOrder
            | BadFormat
            | BadTail
            | BadSeries
            | BadLineProtocol
            | BadGzip => 400,
            UnsupportedEncoding => 415,
            Overloaded | BodyMemoryFull => 503,
            UnsupportedVersion => 505,
            HeadTooLarge | TooManyHeaders | TrailersTooLarge => 431,
            UriTooLong => 414,
            UnknownTransferCoding | UnknownMethod => 501,
            BodyTooLarge | UploadTooLarge => 413,
            UnknownExpectation => 417,
            HeaderTimeout | BodyTimeout | BodyTooSlow => 408,
            MethodNotAllowed => 405,
            Forbidden | CrossSiteWrite | UploadsOff | ArchiveTooLarge => 403,
            NotFound => 404,
            MisdirectedRequest => 421,
            TokenRequired | CredentialsRequired => 401,
            RangeNotSatisfiable => 416,
            PreconditionFailed => 412,
            InsufficientStorage => 507,
            Internal => 500,
            BadGateway => 502,
            GatewayTimeout => 504,
        }
    }

    /// Whether the connection must be closed after the error reply. True for every error after
    /// which the framing of the byte stream is unknown or the client is misbehaving.
    pub fn closes(self) -> bool {
        use RequestError::*;
        !matches!(
            self,
            UnknownMethod
                | NoRecord
                | UploadsOff
                | ArchiveTooLarge
                | BadIdempotencyKey
                | MethodNotAllowed
                | BadPath
                | BadDeviceId
                | BadQuery
                | BadSort
                | BadOrder
                | BadFormat
                | BadTail
                | BadSeries
                | BadLineProtocol
                | UnsupportedEncoding
                | BadGzip
                | Overloaded
                | Forbidden
                | NotFound
                | MisdirectedRequest
                | CrossSiteWrite
                | TokenRequired
                | CredentialsRequired
                | RangeNotSatisfiable
                | PreconditionFailed
                | InsufficientStorage
                | Internal
                | BadGateway
                | GatewayTimeout
        )
    }

    /// A one-line description, used as the body of the error reply and in logs.
    pub fn description(self) -> &'static str {
        use RequestError::*;
        match self {
            MalformedRequestLine => "malformed request line",
            MalformedHeaderName => "malformed header field name",
            MalformedHeaderValue => "malformed header field value",
            BareLineFeed => "line not terminated by CRLF",
            MalformedVersion => "malformed HTTP version",
            UnsupportedVersion => "HTTP version not supported",
            HeadTooLarge => "request header section too large",
            TooManyHeaders => "too many header fields",
            UriTooLong => "request-target too long",
            InvalidContentLength => "invalid Content-Length",
            ConflictingContentLength => "more than one Content-Length value",
            ContentLengthWithTransferEncoding => "Content-Length with Transfer-Encoding",
            TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            TransferEncodingNotChunked => "final transfer coding is not chunked",
            UnknownTransferCoding => "transfer coding not implemented",
            MissingHost => "missing Host header",
            DuplicateHost => "more than one Host header",
            InvalidHost => "invalid Host header",
            InvalidTarget => "invalid request-target",
            MalformedChunk => "malformed chunked body",
            TrailersTooLarge => "trailer section too large",
            BodyTooLarge => "request body too large",
            UploadTooLarge => "upload too large",
            UnknownExpectation => "expectation not supported",
            HeaderTimeout => "request head not received in time",
            BodyTimeout => "request body not received in time",
            BodyTooSlow => "request body arrived slower than --min-body-rate",
            BodyMemoryFull => "too many request bodies in memory (--max-body-memory); retry later",
            UnknownMethod => "method not implemented",
            MethodNotAllowed => "method not allowed",
            BadPath => "invalid path",
            BadDeviceId => {
                "invalid device id: 1 to 64 of A-Z a-z 0-9 . _ - not starting with '.', or a MAC \
                 address such as AA:BB:CC:DD:EE:FF"
            }
            NoRecord => "the body holds no record (a record is a non-empty line)",
            UploadsOff => "uploads are off; start sluice with --upload (or --directory DIR)",
            ArchiveTooLarge => {
                "the folder holds more than 10000 files, or folders 32 levels deep, for one zip"
            }
            BadIdempotencyKey => "Idempotency-Key must be 1 to 255 visible ASCII characters",
            BadQuery => "malformed query string",
            BadSort => "?sort= takes name, size or modified",
            BadOrder => "?order= takes asc or desc",
            BadFormat => "?format= takes html or json",
            BadTail => "?tail= takes a number of lines",
            BadSeries => {
                "a series takes ?field=NAME, and optionally since= (Unix seconds, -SECONDS for \
                 the last ones, or RFC 3339), format=json or csv, resolution=raw or minute"
            }
            BadLineProtocol => {
                "the body is not InfluxDB line protocol (measurement[,tag=v] field=v[,...] \
                 [timestamp] per line); nothing was stored"
            }
            UnsupportedEncoding => "Content-Encoding takes gzip or identity",
            BadGzip => "the gzip body does not inflate",
            Overloaded => "ingest is refusing work for now; retry later",
            Forbidden => "forbidden",
            NotFound => "not found",
            MisdirectedRequest => {
                "this server does not answer for that host name; start sluice with \
                 --server-name NAME to answer it"
            }
            CrossSiteWrite => "cross-site write refused",
            TokenRequired => "a valid ingest token is required (Authorization: Bearer)",
            CredentialsRequired => "authentication required",
            RangeNotSatisfiable => "range not satisfiable",
            PreconditionFailed => "precondition failed",
            InsufficientStorage => "insufficient storage",
            Internal => "internal server error",
            BadGateway => "the script gave no usable answer",
            GatewayTimeout => "the script did not answer in time",
        }
    }
}

/// The `WWW-Authenticate` challenge sent with a 401 (RFC 9110 section 11.6.1).
pub const BEARER_CHALLENGE: &str = "Bearer";
/// The Basic challenge (RFC 7617 section 2.1: the realm, and UTF-8 for user and password).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"sluice\", charset=\"UTF-8\"";

impl RequestError {
    /// The `WWW-Authenticate` value this error's reply carries, if any.
    pub fn challenge(self) -> Option<&'static str> {
        match self {
            RequestError::TokenRequired => Some(BEARER_CHALLENGE),
            RequestError::CredentialsRequired => Some(BASIC_CHALLENGE),
            _ => None,
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for RequestError {}

impl From<crate::http::query::QueryError> for RequestError {
    /// A bad value of a known key names that key and what it takes; anything else is a
    /// malformed query.
    fn from(e: crate::http::query::QueryError) -> Self {
        use crate::http::query::QueryError;
        match e {
            QueryError::BadValue("sort") => RequestError::BadSort,
            QueryError::BadValue("order") => RequestError::BadOrder,
            QueryError::BadValue("format") => RequestError::BadFormat,
            _ => RequestError::BadQuery,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestError::*;

    #[test]
    fn framing_errors_close_and_semantic_errors_keep() {
        for e in [
            MalformedChunk,
            BodyTooLarge,
            ContentLengthWithTransferEncoding,
            HeaderTimeout,
            BodyTimeout,
            BodyTooSlow,
            BodyMemoryFull,
        ] {
            assert!(e.closes(), "{e:?}");
        }
        for e in [
            NotFound,
            Forbidden,
            MethodNotAllowed,
            UnknownMethod,
            RangeNotSatisfiable,
            PreconditionFailed,
            BadQuery,
        ] {
            assert!(!e.closes(), "{e:?}");
        }
    }

    #[test]
    fn statuses_follow_the_design_table() {
        assert_eq!(UnsupportedVersion.status(), 505);
        assert_eq!(HeadTooLarge.status(), 431);
        assert_eq!(UriTooLong.status(), 414);
        assert_eq!(UnknownTransferCoding.status(), 501);
        assert_eq!(TransferEncodingNotChunked.status(), 400);
        assert_eq!(UnknownExpectation.status(), 417);
        assert_eq!(HeaderTimeout.status(), 408);
        assert_eq!(BodyTimeout.status(), 408);
        assert_eq!(RangeNotSatisfiable.status(), 416);
        assert_eq!(PreconditionFailed.status(), 412);
        assert_eq!(BadQuery.status(), 400);
        assert_eq!(MisdirectedRequest.status(), 421);
        assert_eq!(CrossSiteWrite.status(), 403);
        assert_eq!(TokenRequired.status(), 401);
        assert_eq!(CredentialsRequired.status(), 401);
    }

    #[test]
    fn security_refusals_keep_the_connection_and_401s_challenge() {
        for e in [
            MisdirectedRequest,
            CrossSiteWrite,
            TokenRequired,
            CredentialsRequired,
        ] {
            assert!(!e.closes(), "{e:?}");
        }
        assert_eq!(TokenRequired.challenge(), Some("Bearer"));
        assert_eq!(
            CredentialsRequired.challenge(),
            Some("Basic realm=\"sluice\", charset=\"UTF-8\"")
        );
        assert_eq!(CrossSiteWrite.challenge(), None);
    }
}
