//! The command line (README.md, "Usage") and the validated configuration it produces. The flags
//! that set limits have their defaults here; the fixed limits are in `limits.rs`.
use crate::http::request::HeadLimits;
use crate::limits::{
    CGI_PIPES_PER_SCRIPT, FILE_CACHE_ENTRIES, MAX_CGI_PROCESSES, MAX_HEAD_BYTES,
    MAX_REQUEST_LINE_BYTES, MIN_DEFAULT_CONNECTIONS_PER_PEER, MIN_OPEN_DEVICE_FILES,
    RESERVED_DESCRIPTORS,
};
use crate::security::admission::{AllowList, Cidr};
use crate::security::auth::Secret;
use crate::security::{host, Policy};
use crate::store::{AckMode, Framing, RecordFormat, StoreConfig};
use crate::values::ValuesConfig;
use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "An HTTP/1.1 server for a local network: device ingest, static files, resumable downloads."
)]
pub struct Cli {
    /// Directory served at /
    #[arg(value_name = "ROOT", default_value = ".")]
    pub root: PathBuf,

    /// host:port to listen on; repeatable; port 0 picks a free port
    #[arg(short = 'l', long = "listen", value_name = "ADDR", default_value = "0.0.0.0:8080",
          value_parser = parse_listen)]
    pub listen: Vec<SocketAddr>,

    /// Port to listen on, with --bind (default 0.0.0.0); the same as --listen ADDR:PORT
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        conflicts_with = "listen"
    )]
    pub port: Option<u16>,

    /// Address for --port
    #[arg(long = "bind", value_name = "ADDR", requires = "port")]
    pub bind: Option<std::net::IpAddr>,

    /// No per-request line on stderr (printed only when stderr is a terminal)
    #[arg(long = "quiet")]
    pub quiet: bool,

    /// Directory behind /files/ (default: ROOT)
    #[arg(long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Where device files are kept (created if missing)
    #[arg(long = "data", value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,

    /// When a POST is acknowledged
    #[arg(long = "ack", value_name = "MODE", value_enum, default_value = "write")]
    pub ack: AckMode,

    /// How a body is stored: lines (a record is a line; line ends become \n, empty lines are
    /// dropped) or raw (byte for byte)
    #[arg(
        long = "framing",
        value_name = "MODE",
        value_enum,
        default_value = "lines"
    )]
    pub framing: Framing,

    /// Accepted for compatibility: every record ends with exactly one newline already
    #[arg(long = "newline", hide = true)]
    pub newline: bool,

    /// Prefix every record with its receive time (RFC 3339, UTC, milliseconds) and a space
    #[arg(long = "timestamp")]
    pub timestamp: bool,

    /// Acknowledged-but-not-durable bytes beyond which POSTs get 503
    #[arg(long = "max-pending", value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_pending: u64,

    /// Free space on the data disk below which POSTs get 503
    #[arg(long = "min-free", value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub min_free: u64,

    /// Most device files kept open at once; 0: derived from the open-files limit (what is left
    /// after --max-connections, CGI pipes and a reserve; at least 512)
    #[arg(long = "max-open-devices", value_name = "N", default_value_t = 0)]
    pub max_open_devices: usize,

    /// Devices whose readings are tracked (latest values, history, /metrics gauges)
    #[arg(long = "max-value-devices", value_name = "N", default_value_t = 1000)]
    pub max_value_devices: usize,

    /// Fields tracked per device
    #[arg(long = "max-fields", value_name = "N", default_value_t = 32)]
    pub max_fields: usize,

    /// Fields tracked over all devices, each with its history (about 40 KB when full) and a
    /// /metrics gauge; 0 turns readings off
    #[arg(long = "max-series", value_name = "N", default_value_t = 2000)]
    pub max_series: usize,

    /// Admit clients from this network; repeatable; replaces the default list
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<Cidr>,

    /// Admit clients from any address
    #[arg(long = "allow-any", conflicts_with = "allow")]
    pub allow_any: bool,

    /// Also answer requests whose Host is NAME (besides IP literals, localhost, single-label
    /// names and names under .local, .lan, .home.arpa, .internal); repeatable
    #[arg(long = "server-name", value_name = "NAME", value_parser = host::parse_server_name)]
    pub server_names: Vec<String>,

    /// Every write (POST, PUT, PATCH, DELETE) must carry `Authorization: Bearer TOKEN`
    #[arg(long = "ingest-token", value_name = "TOKEN", env = "SLUICE_INGEST_TOKEN",
          hide_env_values = true, value_parser = Secret::token)]
    pub ingest_token: Option<Secret>,

    /// Every GET and HEAD must carry these credentials (HTTP Basic)
    #[arg(long = "auth", value_name = "USER:PASS", env = "SLUICE_AUTH", hide_env_values = true,
          value_parser = Secret::basic)]
    pub auth: Option<Secret>,

    /// Largest request body, e.g. 512K, 4M
    #[arg(long = "max-body", value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    pub max_body: u64,

    /// Largest upload (`POST /files/{path}`), streamed to disk rather than held in memory,
    /// e.g. 512M, 64G
    #[arg(long = "max-upload", value_name = "SIZE", default_value = "16G", value_parser = parse_size)]
    pub max_upload: u64,

    /// Request bodies held in memory by all connections together, e.g. 64M; past it a new body
    /// gets 503 with Retry-After
    #[arg(long = "max-body-memory", value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_body_memory: u64,

    /// Slowest average rate a body may arrive at once it has taken longer than --body-timeout,
    /// in bytes per second (e.g. 1K); slower gets 408; 0 turns the check off
    #[arg(long = "min-body-rate", value_name = "SIZE", default_value = "1K", value_parser = parse_size)]
    pub min_body_rate: u64,

    /// Simultaneous connections
    #[arg(long = "max-connections", value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Simultaneous connections from one client address; more are closed at once
    /// [default: the larger of 16 and a quarter of --max-connections]
    #[arg(long = "max-connections-per-peer", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_peer: Option<u32>,

    /// Deadline for a whole request head, in seconds
    #[arg(long = "header-timeout", value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub header_timeout: Duration,

    /// Longest silence while a body is arriving, in seconds
    #[arg(long = "body-timeout", value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub body_timeout: Duration,

    /// Keep-alive idle time between requests, in seconds
    #[arg(long = "idle-timeout", value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub idle_timeout: Duration,

    /// Longest time a response may make no progress because the client does not read, in seconds
    #[arg(long = "send-timeout", value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub send_timeout: Duration,

    /// Interval between heartbeat comments on an idle live stream, in seconds
    #[arg(long = "live-heartbeat", value_name = "SECS", default_value = "15", value_parser = parse_secs)]
    pub live_heartbeat: Duration,

    /// Combined-format access log; '-' for stdout
    #[arg(long = "access-log", value_name = "PATH")]
    pub access_log: Option<PathBuf>,

    /// Run executables in ROOT/cgi-bin/ as CGI/1.1 scripts
    #[arg(long = "cgi")]
    pub cgi: bool,

    /// Longest a CGI script may run, in seconds
    #[arg(long = "cgi-timeout", value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub cgi_timeout: Duration,

    /// Never generate directory listings
    #[arg(long = "no-listing")]
    pub no_listing: bool,

    /// Send large files by read and write instead of sendfile: faster to a client on this
    /// machine (a proxy in front, a loopback benchmark), a copy more on a real network
    #[arg(long = "no-sendfile")]
    pub no_sendfile: bool,

    /// Accept POST /files/{path} (uploads into --directory); also on when --directory is given
    #[arg(long = "upload")]
    pub upload: bool,

    /// Serve and list dotfiles (.git/, .env, ...); without it they are 404 and not listed
    /// (/.well-known/ is always served)
    #[arg(long = "hidden")]
    pub hidden: bool,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    /// The folder behind `/files/`; ROOT when `None`.
    pub directory: Option<PathBuf>,
    pub listen: Vec<SocketAddr>,
    /// A line per request and one at shutdown on stderr, when it is a terminal (no `--quiet`).
    pub console: bool,
    pub allow: AllowList,
    pub max_body: u64,
    /// Bytes all request bodies in memory may hold together (`--max-body-memory`).
    pub max_body_memory: u64,
    /// Largest upload, in bytes (`--max-upload`).
    pub max_upload: u64,
    /// Bytes per second a slow body must average past the body timeout (`--min-body-rate`).
    pub min_body_rate: u64,
    pub max_connections: usize,
    /// Simultaneous connections from one client address.
    pub max_connections_per_peer: u32,
    /// Host names, cross-site writes, credentials (`crate::security`).
    pub security: Policy,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    pub live_heartbeat: Duration,
    pub access_log: Option<PathBuf>,
    pub listing: bool,
    /// Large files go out by `sendfile` (no `--no-sendfile`), else by `pread` and `write`.
    pub sendfile: bool,
    /// Dotfiles are served and listed (`--hidden`).
    pub hidden: bool,
    /// `POST /files/{path}` stores uploads (`--upload`, or an explicit `--directory`).
    pub upload: bool,
    /// CGI scripts enabled (`--cgi`), and how long one may run.
    pub cgi: bool,
    pub cgi_timeout: Duration,
    pub head_limits: HeadLimits,
    pub store: StoreConfig,
    /// What readings are tracked (`--max-value-devices`, `--max-fields`, `--max-series`).
    pub values: ValuesConfig,
}

impl From<Cli> for Config {
    fn from(cli: Cli) -> Self {
        let allow = if cli.allow_any {
            AllowList::any()
        } else if cli.allow.is_empty() {
            AllowList::local_networks()
        } else {
            AllowList::only(cli.allow)
        };
        let upload = cli.upload || cli.directory.is_some();
        Config {
            root: cli.root,
            directory: cli.directory,
            listen: match cli.port {
                Some(port) => {
                    let ip = cli.bind.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
                    vec![SocketAddr::new(ip, port)]
                }
                None => cli.listen,
            },
            console: !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            allow,
            max_body: cli.max_body,
            max_body_memory: cli.max_body_memory,
            max_upload: cli.max_upload,
            min_body_rate: cli.min_body_rate,
            max_connections: cli.max_connections as usize,
            max_connections_per_peer: cli
                .max_connections_per_peer
                .unwrap_or_else(|| default_per_peer(cli.max_connections)),
            security: Policy {
                server_names: cli.server_names,
                ingest_token: cli.ingest_token,
                basic: cli.auth,
            },
            header_timeout: cli.header_timeout,
            body_timeout: cli.body_timeout,
            idle_timeout: cli.idle_timeout,
            send_timeout: cli.send_timeout,
            live_heartbeat: cli.live_heartbeat,
            access_log: cli.access_log,
            listing: !cli.no_listing,
            sendfile: !cli.no_sendfile,
            hidden: cli.hidden,
            upload,
            cgi: cli.cgi,
            cgi_timeout: cli.cgi_timeout,
            head_limits: HeadLimits {
                max_head_bytes: MAX_HEAD_BYTES,
                max_request_line: MAX_REQUEST_LINE_BYTES,
            },
            store: StoreConfig {
                dir: cli.data,
                ack: cli.ack,
                format: RecordFormat {
                    framing: cli.framing,
                    timestamp: cli.timestamp,
                },
                max_pending: cli.max_pending,
                min_free: cli.min_free,
                max_open_files: cli.max_open_devices,
            },
            values: ValuesConfig {
                max_devices: cli.max_value_devices,
                max_fields: cli.max_fields,
                max_series: cli.max_series,
            },
        }
    }
}

impl Config {
    /// Refuses directory choices that would mix device records with served pages: `--data`
    /// equal to ROOT (a one-line message for a usage error).
    pub fn check_dirs(&self) -> Result<(), String> {
        let canonical = |p: &std::path::Path| {
            std::fs::canonicalize(p).unwrap_or_else(|_| {
                std::env::current_dir().map_or_else(|_| p.to_path_buf(), |cwd| cwd.join(p))
            })
        };
        if canonical(&self.root) == canonical(&self.store.dir) {
            return Err(format!(
                "--data {} is ROOT: device records would be served as pages; give --data another \
                 directory",
                self.store.dir.display()
            ));
        }
        Ok(())
    }

    /// The defaults of README.md's "Usage" with `root` served, listening on `listen`.
    pub fn new(root: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        let mut cli = Cli::parse_from(["sluice"]);
        cli.root = root.into();
        cli.listen = vec![listen];
        Config::from(cli)
    }
}

/// The device-file cap for `--max-open-devices 0`: the open-files limit `nofile` (`None` when it
/// cannot be read) less a descriptor per connection, the pipes of every CGI script, the static
/// file cache and [`RESERVED_DESCRIPTORS`]; never below [`MIN_OPEN_DEVICE_FILES`], or a quarter
/// of the limit where that is less (a limit of 256 allows 64 device files, not 512 it does not
/// have). Should the descriptors still run out, the store closes device files and retries.
pub fn open_device_files(nofile: Option<u64>, max_connections: usize) -> usize {
    let Some(nofile) = nofile else {
        return MIN_OPEN_DEVICE_FILES;
    };
    let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
    let others = max_connections
        .saturating_add(MAX_CGI_PROCESSES * CGI_PIPES_PER_SCRIPT)
        .saturating_add(FILE_CACHE_ENTRIES)
        .saturating_add(RESERVED_DESCRIPTORS);
    let floor = MIN_OPEN_DEVICE_FILES.min(nofile / 4).max(1);
    nofile.saturating_sub(others).max(floor)
}

/// The default `--max-connections-per-peer` for a given `--max-connections`.
pub fn default_per_peer(max_connections: u32) -> u32 {
    MIN_DEFAULT_CONNECTIONS_PER_PEER.max(max_connections / 4)
}

/// `host:port`, `[v6]:port`, or a resolvable `name:port`.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    // `:8080`: every interface.
    if let Some(port) = s.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
        return Ok(SocketAddr::new(
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            port,
        ));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("'{s}' is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)"))
}

/// `sluice 8000`, a bare number as the only argument, serves the current directory on that port
/// as `python3 -m http.server 8000` does: the arguments become `--port 8000` (unless `cwd` has
/// a directory of that name, which stays ROOT).
pub fn bare_port(
    mut args: Vec<std::ffi::OsString>,
    cwd: &std::path::Path,
) -> Vec<std::ffi::OsString> {
    if let [_, only] = &args[..] {
        let is_port = only.to_str().and_then(|s| s.parse::<u16>().ok()).is_some();
        if is_port && !cwd.join(only).exists() {
            args.insert(1, "--port".into());
        }
    }
    args
}

/// A byte size: digits with an optional K, M or G suffix (powers of 1024), e.g. `512K`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a size such as 4096, 512K, 4M or 1G"));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Seconds, possibly fractional, greater than zero and at most a day.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0 and 86400"
        )),
    }
}

#[cfg(test)]
mod tests;
