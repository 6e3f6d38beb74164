//! The `sluice` command: parse the command line, start logging, bind, print the listening
//! lines, run. Usage errors exit 2 (clap), runtime errors exit 1.
use clap::Parser;
use sluice::config::{Cli, Config};
use sluice::reactor::Server;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let args = sluice::config::bare_port(std::env::args_os().collect(), &cwd);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .init();
    raise_descriptor_limit();
    let config = Config::from(cli);
    let root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    if let Err(message) = config.check_dirs() {
        eprintln!("sluice: {message}");
        return ExitCode::from(2);
    }
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(message) => {
            eprintln!("sluice: {message}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    for addr in server.local_addrs() {
        let _ = writeln!(stdout, "listening on http://{addr}");
    }
    let _ = stdout.flush();
    drop(stdout);
    // For people: where a wildcard listener can be reached (a phone cannot open 0.0.0.0).
    for addr in server.local_addrs() {
        if addr.ip().is_unspecified() {
            let urls = sluice::reactor::urls_for(*addr).join("  ");
            eprintln!("sluice: serving {} at {urls}", root.display());
        }
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints help or version as clap renders them (exit 0), or a usage error as one line (exit 2).
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    // An invalid value names the values that are valid (`--ack fast`: write, fsync, buffer).
    let possible = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("[possible values: "))
        .and_then(|v| v.strip_suffix(']'));
    match possible {
        Some(values) => eprintln!("sluice: {message}; use one of: {values} (see 'sluice --help')"),
        None => eprintln!("sluice: {message} (see 'sluice --help')"),
    }
    ExitCode::from(2)
}

/// Raises the soft descriptor limit to the hard one, so `--max-connections` can be reached.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
