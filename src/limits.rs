//! Every fixed limit of the server, in one place. Each name carries its unit: `_BYTES` for sizes,
//! `_SECS` or `_MS` for durations, and otherwise names what it counts (`_RECORDS`, `_FILES`,
//! `_THREADS`, `MAX_HEADERS`...). Limits a user may need to change are flags (`config.rs`),
//! whose defaults live there; README.md's "Limits" table lists both kinds, and a test
//! (`tests/limits_table.rs`) holds that table to the values here and to the flags' defaults.
//!
//! This module is the bottom layer: it imports nothing of the crate, and anything may import it.
use std::time::Duration;

// ---- Request heads and bodies (`http/`)

/// Largest request head, request line and final empty line included (431 beyond it).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Longest request line, CRLF excluded (414 beyond it).
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;

/// Most header fields in one head (431 beyond it). Fixed because the parser's field array lives
/// on the stack.
pub const MAX_HEADERS: usize = 100;

/// Cap on one chunk-size line including extensions, in bytes (`MalformedChunk` beyond it).
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// Cap on the trailer section of a chunked body, in bytes (431 `TrailersTooLarge` beyond it).
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Longest ingest token accepted on the command line.
pub const MAX_TOKEN_BYTES: usize = 1024;

// ---- Responses (`http/`, `files/`)

/// Most distinct ranges (after coalescing) one 206 response carries; more are answered with 200.
pub const MAX_RANGES: usize = 16;

/// Generated bodies shorter than this are sent as they are (the gzip framing would not pay).
pub const MIN_GZIP_BYTES: usize = 256;

/// Files up to this size are copied into the write buffer with the head (one write); larger
/// ones go out by `sendfile`.
pub const SMALL_FILE_MAX_BYTES: u64 = 16 * 1024;

/// Most files one folder's zip (`GET /dir/?download`) takes; more: 403.
pub const MAX_ARCHIVE_FILES: usize = 10_000;

/// Most levels of folders below the one a zip is made of; deeper: 403.
pub const MAX_ARCHIVE_DEPTH: usize = 32;

/// Most bytes a generated body (a folder's zip) adds to the write buffer at a time.
pub const GENERATED_CHUNK_BYTES: usize = 256 * 1024;

/// Most bytes one `sendfile` call may send, so one download cannot starve other connections.
pub const SENDFILE_CHUNK_BYTES: usize = 512 * 1024;

// ---- One connection (`conn/`)

/// Size of the shared read buffer: the most one `read` call takes from a socket.
pub const READ_SCRATCH_BYTES: usize = 64 * 1024;

/// Largest read buffer: a whole head of the maximum size plus room to see that it is too large.
pub const READ_BUFFER_MAX_BYTES: usize = MAX_HEAD_BYTES + 1024;

/// Buffers whose capacity grew past this are given back once the connection is idle.
pub const KEEP_BUFFER_BYTES: usize = 64 * 1024;
/// Capacity a connection's body buffer keeps between bodies (not counted in
/// `--max-body-memory` until its next body begins); a larger one is given back.
pub const BODY_BUFFER_KEEP_BYTES: usize = 4 << 10;

/// Unsent response bytes after which a pipelining client's further requests wait.
pub const MAX_PENDING_WRITE_BYTES: usize = 256 * 1024;

/// Most requests answered for one connection per loop turn before others get their turn.
pub const REQUESTS_PER_TURN: usize = 64;

/// Most file bytes sent to one connection per loop turn before others get their turn.
pub const FILE_BYTES_PER_TURN: u64 = 2 * 1024 * 1024;

/// How long a closing connection is drained (lingering close) so our last reply is not reset.
pub const LINGER_SECS: Duration = Duration::from_secs(2);

/// Most bytes read and discarded during a lingering close.
pub const LINGER_MAX_BYTES: usize = 1024 * 1024;

// ---- The reactor (`reactor/`)

/// Readiness events handled per `poll` call.
pub const EVENTS_PER_POLL: usize = 1024;

/// Pending connections the kernel may queue per listener.
pub const LISTEN_BACKLOG_CONNECTIONS: i32 = 4096;

/// How long to wait before accepting again after running out of descriptors.
pub const ACCEPT_RETRY_MS: Duration = Duration::from_millis(100);

/// At most one log line per this interval for a repeating error (failed device writes).
pub const ERROR_LOG_INTERVAL_SECS: Duration = Duration::from_secs(1);
/// A refused peer address or host name is logged at most once per this interval.
pub const REFUSAL_LOG_INTERVAL_SECS: Duration = Duration::from_secs(60);
/// Most peer addresses or host names remembered for rate-limiting their log lines.
pub const MAX_THROTTLED_KEYS: usize = 1024;
/// How often the free space of the data disk is re-read.
pub const FREE_SPACE_CHECK_SECS: Duration = Duration::from_secs(1);

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE_SECS: Duration = Duration::from_secs(5);

/// The smallest default of `--max-connections-per-peer`; the default is the larger of this and
/// a quarter of `--max-connections`, so no single address can hold every slot.
pub const MIN_DEFAULT_CONNECTIONS_PER_PEER: u32 = 16;

/// Descriptors kept free for everything but connections, CGI pipes, cached static files and
/// device files (listeners, poller, waker, signal pipe, stdio, access log, directories, the
/// record counter, a download's file) when the device-file cap is derived.
pub const RESERVED_DESCRIPTORS: usize = 64;

/// Descriptors one running CGI script holds (its stdin, stdout and stderr pipes).
pub const CGI_PIPES_PER_SCRIPT: usize = 3;

// ---- Static files (`files/`)

/// How long what a path names is trusted.
pub const FILE_CACHE_TTL_SECS: Duration = Duration::from_secs(1);

/// Most paths kept; when full, the cache starts over.
pub const FILE_CACHE_ENTRIES: usize = 1024;

/// Most bytes of file contents kept in all; files past it are read from their descriptor.
pub const FILE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// How often an open is retried when `openat2` reports `EAGAIN` (a concurrent rename).
pub const OPEN_EAGAIN_RETRIES: usize = 3;

/// Longest file name accepted, in bytes (the usual filesystem limit).
pub const MAX_UPLOAD_NAME_BYTES: usize = 255;

/// Bytes of an upload written before the kernel is asked to start writing them to disk
/// (`posix_fadvise` `DONTNEED`), so the sync at its end waits for little.
pub const UPLOAD_WRITEBACK_BYTES: u64 = 8 * 1024 * 1024;

// ---- The device store (`store/`)

/// Longest device id, in bytes.
pub const MAX_DEVICE_ID_BYTES: usize = 64;

/// How often `--ack buffer` writes pending records out.
pub const BUFFER_FLUSH_INTERVAL_SECS: Duration = Duration::from_secs(1);

/// Most devices a `--ack buffer` flush writes in one loop turn; the rest of the round follows in
/// the next turns. Where each write must create its file (100,000 new devices), one device costs
/// about 130 µs, almost all of it in `openat`, so a turn spends about 8 ms on the flush; the
/// slowest GET during such flushes took 21-36 ms at 32, 40-54 ms at 64, 106-151 ms at 256 and
/// 2-3 s unbounded (benches/README.md, "Device ingestion").
pub const BUFFER_FLUSH_DEVICES_PER_TURN: usize = 64;

/// Bytes after which a `--ack buffer` flush stops for this turn: no further device is started
/// once this many were written (a device's records are always written whole, with one `write`).
pub const BUFFER_FLUSH_BYTES_PER_TURN: usize = 4 << 20;

/// Size past which the write-ahead log is emptied (a checkpoint): what recovery reads at most
/// at start, besides the last batch. In `--ack fsync` a checkpoint syncs every device file the
/// log names; at 1,000 devices 16 MiB made that a tenth of the CPU, 64 MiB a thirtieth
/// (benches/README.md, "Device ingestion").
pub const WAL_CHECKPOINT_BYTES: u64 = 64 << 20;
/// Device files past which a checkpoint or recovery makes them durable with one `syncfs(2)` of
/// the data disk instead of one `fdatasync` each (100,000 syncs take minutes).
pub const SYNCFS_FROM_FILES: usize = 1_000;
/// Longest `Idempotency-Key` value, in bytes (400 beyond it).
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// How long a device's `Idempotency-Key` values are kept at least (across restarts).
pub const KEY_RETENTION_SECS: Duration = Duration::from_secs(24 * 60 * 60);
/// How many of the newest `Idempotency-Key` values are kept however old they are.
pub const MIN_KEPT_KEYS: usize = 100_000;

/// The fewest device files kept open when the cap is derived from the descriptor limit (unless
/// that limit is below four times this: then a quarter of it), and the cap where none was
/// given (a store opened without one).
pub const MIN_OPEN_DEVICE_FILES: usize = 512;

/// The reactor is woken after this many counted files (and after the last).
pub const COUNT_WAKE_FILES: usize = 256;

/// ... or after this many bytes were read since the last wake, and before a file at least this
/// large is read (so the counts already made do not wait behind a long read).
pub const COUNT_WAKE_BYTES: u64 = 64 << 20;

/// Bytes read per `read` call while counting.
pub const COUNT_CHUNK_BYTES: usize = 256 * 1024;

// ---- Live streams (`live/`)

/// Most unsent bytes a live subscriber may have queued before it is dropped.
pub const MAX_LIVE_BACKLOG_BYTES: usize = 256 * 1024;

/// Most bytes of a device file replayed when a client resumes with `Last-Event-ID`.
pub const MAX_REPLAY_BYTES: u64 = 1024 * 1024;

/// Most records a client may ask for with `?tail=N`.
pub const MAX_TAIL_RECORDS: usize = 1000;
/// How far back from the end of a device file `?tail=N` looks for its lines.
pub const TAIL_WINDOW_BYTES: u64 = 64 * 1024;

// ---- Readings (`values/`)

/// Longest field name, a flattened JSON path included (the field is skipped beyond it).
pub const MAX_FIELD_NAME_BYTES: usize = 64;

/// Deepest nesting of objects and arrays in a JSON record (the record gives no readings
/// beyond it).
pub const MAX_JSON_DEPTH: usize = 32;

/// Longest number read as a reading (the field is skipped beyond it).
pub const MAX_NUMBER_BYTES: usize = 64;

/// Raw points kept per field; the oldest is dropped for a new one.
pub const HISTORY_RAW_POINTS: usize = 1000;

/// Minutes of per-minute min, mean and max kept per field.
pub const HISTORY_MINUTES: usize = 24 * 60;

/// Bytes read from the end of each device file at start to rebuild its readings.
pub const VALUES_TAIL_BYTES: u64 = 64 * 1024;

/// Bytes before the saved length whose CRC tells that a device file is the one the readings
/// snapshot was taken of.
pub const SNAPSHOT_CHECK_BYTES: u64 = 4096;

// ---- CGI (`cgi/`)

/// Most CGI scripts running at once (503 beyond it).
pub const MAX_CGI_PROCESSES: usize = 256;

/// Largest CGI header section, in bytes.
pub const MAX_CGI_HEAD_BYTES: usize = 16 * 1024;

/// Bytes read from the script per call.
pub const CGI_READ_CHUNK_BYTES: usize = 16 * 1024;

/// Longest stderr line logged (the rest of the line is cut).
pub const CGI_STDERR_LINE_BYTES: usize = 1024;

/// The value of a limit, by kind (how README.md writes it: `16 KiB`, `100`, `2 s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Size(u64),
    Count(u64),
    Time(Duration),
}

/// Every limit of this module by name, so that README.md's table can be checked against the
/// values (`tests/limits_table.rs`, which also checks that this list misses none).
pub const ALL: &[(&str, Value)] = &[
    ("MAX_HEAD_BYTES", Value::Size(MAX_HEAD_BYTES as u64)),
    (
        "MAX_REQUEST_LINE_BYTES",
        Value::Size(MAX_REQUEST_LINE_BYTES as u64),
    ),
    ("MAX_HEADERS", Value::Count(MAX_HEADERS as u64)),
    (
        "MAX_CHUNK_LINE_BYTES",
        Value::Size(MAX_CHUNK_LINE_BYTES as u64),
    ),
    ("MAX_TRAILER_BYTES", Value::Size(MAX_TRAILER_BYTES as u64)),
    ("MAX_TOKEN_BYTES", Value::Size(MAX_TOKEN_BYTES as u64)),
    ("MAX_RANGES", Value::Count(MAX_RANGES as u64)),
    ("MIN_GZIP_BYTES", Value::Size(MIN_GZIP_BYTES as u64)),
    ("SMALL_FILE_MAX_BYTES", Value::Size(SMALL_FILE_MAX_BYTES)),
    ("MAX_ARCHIVE_FILES", Value::Count(MAX_ARCHIVE_FILES as u64)),
    ("MAX_ARCHIVE_DEPTH", Value::Count(MAX_ARCHIVE_DEPTH as u64)),
    (
        "GENERATED_CHUNK_BYTES",
        Value::Size(GENERATED_CHUNK_BYTES as u64),
    ),
    (
        "SENDFILE_CHUNK_BYTES",
        Value::Size(SENDFILE_CHUNK_BYTES as u64),
    ),
    ("READ_SCRATCH_BYTES", Value::Size(READ_SCRATCH_BYTES as u64)),
    (
        "READ_BUFFER_MAX_BYTES",
        Value::Size(READ_BUFFER_MAX_BYTES as u64),
    ),
    ("KEEP_BUFFER_BYTES", Value::Size(KEEP_BUFFER_BYTES as u64)),
    (
        "BODY_BUFFER_KEEP_BYTES",
        Value::Size(BODY_BUFFER_KEEP_BYTES as u64),
    ),
    (
        "MAX_PENDING_WRITE_BYTES",
        Value::Size(MAX_PENDING_WRITE_BYTES as u64),
    ),
    ("REQUESTS_PER_TURN", Value::Count(REQUESTS_PER_TURN as u64)),
    ("FILE_BYTES_PER_TURN", Value::Size(FILE_BYTES_PER_TURN)),
    ("LINGER_SECS", Value::Time(LINGER_SECS)),
    ("LINGER_MAX_BYTES", Value::Size(LINGER_MAX_BYTES as u64)),
    ("EVENTS_PER_POLL", Value::Count(EVENTS_PER_POLL as u64)),
    (
        "LISTEN_BACKLOG_CONNECTIONS",
        Value::Count(LISTEN_BACKLOG_CONNECTIONS as u64),
    ),
    ("ACCEPT_RETRY_MS", Value::Time(ACCEPT_RETRY_MS)),
    (
        "ERROR_LOG_INTERVAL_SECS",
        Value::Time(ERROR_LOG_INTERVAL_SECS),
    ),
    (
        "REFUSAL_LOG_INTERVAL_SECS",
        Value::Time(REFUSAL_LOG_INTERVAL_SECS),
    ),
    (
        "MAX_THROTTLED_KEYS",
        Value::Count(MAX_THROTTLED_KEYS as u64),
    ),
    ("FREE_SPACE_CHECK_SECS", Value::Time(FREE_SPACE_CHECK_SECS)),
    ("SHUTDOWN_GRACE_SECS", Value::Time(SHUTDOWN_GRACE_SECS)),
    (
        "MIN_DEFAULT_CONNECTIONS_PER_PEER",
        Value::Count(MIN_DEFAULT_CONNECTIONS_PER_PEER as u64),
    ),
    (
        "RESERVED_DESCRIPTORS",
        Value::Count(RESERVED_DESCRIPTORS as u64),
    ),
    (
        "CGI_PIPES_PER_SCRIPT",
        Value::Count(CGI_PIPES_PER_SCRIPT as u64),
    ),
    ("FILE_CACHE_TTL_SECS", Value::Time(FILE_CACHE_TTL_SECS)),
    (
        "FILE_CACHE_ENTRIES",
        Value::Count(FILE_CACHE_ENTRIES as u64),
    ),
    ("FILE_CACHE_BYTES", Value::Size(FILE_CACHE_BYTES as u64)),
    (
        "OPEN_EAGAIN_RETRIES",
        Value::Count(OPEN_EAGAIN_RETRIES as u64),
    ),
    (
        "MAX_UPLOAD_NAME_BYTES",
        Value::Size(MAX_UPLOAD_NAME_BYTES as u64),
    ),
    (
        "UPLOAD_WRITEBACK_BYTES",
        Value::Size(UPLOAD_WRITEBACK_BYTES),
    ),
    (
        "MAX_DEVICE_ID_BYTES",
        Value::Size(MAX_DEVICE_ID_BYTES as u64),
    ),
    (
        "BUFFER_FLUSH_INTERVAL_SECS",
        Value::Time(BUFFER_FLUSH_INTERVAL_SECS),
    ),
    (
        "BUFFER_FLUSH_DEVICES_PER_TURN",
        Value::Count(BUFFER_FLUSH_DEVICES_PER_TURN as u64),
    ),
    (
        "BUFFER_FLUSH_BYTES_PER_TURN",
        Value::Size(BUFFER_FLUSH_BYTES_PER_TURN as u64),
    ),
    ("WAL_CHECKPOINT_BYTES", Value::Size(WAL_CHECKPOINT_BYTES)),
    ("SYNCFS_FROM_FILES", Value::Count(SYNCFS_FROM_FILES as u64)),
    (
        "MAX_IDEMPOTENCY_KEY_BYTES",
        Value::Size(MAX_IDEMPOTENCY_KEY_BYTES as u64),
    ),
    ("KEY_RETENTION_SECS", Value::Time(KEY_RETENTION_SECS)),
    ("MIN_KEPT_KEYS", Value::Count(MIN_KEPT_KEYS as u64)),
    (
        "MIN_OPEN_DEVICE_FILES",
        Value::Count(MIN_OPEN_DEVICE_FILES as u64),
    ),
    ("COUNT_WAKE_FILES", Value::Count(COUNT_WAKE_FILES as u64)),
    ("COUNT_WAKE_BYTES", Value::Size(COUNT_WAKE_BYTES)),
    ("COUNT_CHUNK_BYTES", Value::Size(COUNT_CHUNK_BYTES as u64)),
    (
        "MAX_LIVE_BACKLOG_BYTES",
        Value::Size(MAX_LIVE_BACKLOG_BYTES as u64),
    ),
    ("MAX_REPLAY_BYTES", Value::Size(MAX_REPLAY_BYTES)),
    ("MAX_TAIL_RECORDS", Value::Count(MAX_TAIL_RECORDS as u64)),
    ("TAIL_WINDOW_BYTES", Value::Size(TAIL_WINDOW_BYTES)),
    (
        "MAX_FIELD_NAME_BYTES",
        Value::Size(MAX_FIELD_NAME_BYTES as u64),
    ),
    ("MAX_JSON_DEPTH", Value::Count(MAX_JSON_DEPTH as u64)),
    ("MAX_NUMBER_BYTES", Value::Size(MAX_NUMBER_BYTES as u64)),
    (
        "HISTORY_RAW_POINTS",
        Value::Count(HISTORY_RAW_POINTS as u64),
    ),
    ("HISTORY_MINUTES", Value::Count(HISTORY_MINUTES as u64)),
    ("VALUES_TAIL_BYTES", Value::Size(VALUES_TAIL_BYTES)),
    ("SNAPSHOT_CHECK_BYTES", Value::Size(SNAPSHOT_CHECK_BYTES)),
    ("MAX_CGI_PROCESSES", Value::Count(MAX_CGI_PROCESSES as u64)),
    ("MAX_CGI_HEAD_BYTES", Value::Size(MAX_CGI_HEAD_BYTES as u64)),
    (
        "CGI_READ_CHUNK_BYTES",
        Value::Size(CGI_READ_CHUNK_BYTES as u64),
    ),
    (
        "CGI_STDERR_LINE_BYTES",
        Value::Size(CGI_STDERR_LINE_BYTES as u64),
    ),
];
