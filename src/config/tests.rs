use super::*;

#[test]
fn a_bare_number_alone_is_a_port_unless_a_directory_has_that_name() {
    let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let port = |v: &[&str]| bare_port(args(v), cwd);
    assert_eq!(
        port(&["sluice", "8000"]),
        args(&["sluice", "--port", "8000"])
    );
    assert_eq!(port(&["sluice", "site"]), args(&["sluice", "site"]));
    assert_eq!(port(&["sluice", "70000"]), args(&["sluice", "70000"]));
    assert_eq!(
        port(&["sluice", "-l", "8000"]),
        args(&["sluice", "-l", "8000"])
    );
    std::fs::create_dir(cwd.join("8001")).unwrap();
    assert_eq!(port(&["sluice", "8001"]), args(&["sluice", "8001"]));
}

#[test]
fn listen_accepts_a_bare_colon_port_for_every_interface() {
    assert_eq!(parse_listen(":8080"), Ok("0.0.0.0:8080".parse().unwrap()));
    assert!(parse_listen(":x").is_err());
}

#[test]
fn sizes() {
    assert_eq!(parse_size("1M"), Ok(1 << 20));
    assert_eq!(parse_size("512K"), Ok(512 << 10));
    assert_eq!(parse_size("1024"), Ok(1024));
    assert_eq!(parse_size("2g"), Ok(2 << 30));
    for bad in [
        "",
        "M",
        "1.5M",
        "-1",
        "1T",
        "99999999999999999999",
        "17179869184G",
    ] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
}

#[test]
fn seconds() {
    assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
    for bad in ["0", "-1", "nan", "inf", "x", "100000"] {
        assert!(parse_secs(bad).is_err(), "{bad}");
    }
}

#[test]
fn defaults_match_the_interface() {
    let c = Config::from(Cli::parse_from(["sluice"]));
    assert_eq!(c.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
    assert_eq!(c.max_body, 1 << 20);
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.header_timeout, Duration::from_secs(10));
    assert_eq!(c.body_timeout, Duration::from_secs(30));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.live_heartbeat, Duration::from_secs(15));
    assert!(c.listing);
    assert_eq!(c.store.dir, PathBuf::from("./data"));
    assert_eq!(c.store.ack, AckMode::Write);
    assert_eq!(c.store.format, RecordFormat::default());
    assert!(c.allow.admits("192.168.1.1".parse().unwrap()));
    assert!(!c.allow.admits("8.8.8.8".parse().unwrap()));
    assert_eq!(c.max_connections_per_peer, 2500);
    assert!(c.security.server_names.is_empty());
    assert_eq!(c.store.max_open_files, 0, "derived at start");
}

#[test]
fn the_device_file_cap_is_what_the_descriptor_limit_leaves() {
    let c = Config::from(Cli::parse_from(["sluice", "--max-open-devices", "100"]));
    assert_eq!(c.store.max_open_files, 100);
    // 10,000 connections, 256 CGI scripts with 3 pipes, 1,024 cached files, 64 reserved.
    let others = 10_000 + 768 + 1024 + 64;
    assert_eq!(open_device_files(Some(20_000), 10_000), 20_000 - others);
    assert_eq!(
        open_device_files(Some((others + MIN_OPEN_DEVICE_FILES + 1) as u64), 10_000),
        MIN_OPEN_DEVICE_FILES + 1
    );
    assert_eq!(
        open_device_files(Some((others + MIN_OPEN_DEVICE_FILES - 1) as u64), 10_000),
        MIN_OPEN_DEVICE_FILES,
        "never below the minimum"
    );
    // A limit too small for the minimum: a quarter of it.
    assert_eq!(open_device_files(Some(1024), 10_000), 256);
    assert_eq!(open_device_files(Some(256), 10_000), 64);
    assert_eq!(open_device_files(Some(2048), 10_000), MIN_OPEN_DEVICE_FILES);
    assert_eq!(open_device_files(Some(3), 10_000), 1);
    assert_eq!(open_device_files(None, 10), MIN_OPEN_DEVICE_FILES);
    assert_eq!(
        open_device_files(Some(u64::MAX), usize::MAX),
        MIN_OPEN_DEVICE_FILES
    );
    assert_eq!(
        open_device_files(Some(1 << 20), 10),
        (1 << 20) - (10 + 768 + 1024 + 64)
    );
}

#[test]
fn per_peer_default_follows_max_connections() {
    let c = Config::from(Cli::parse_from(["sluice", "--max-connections", "40"]));
    assert_eq!(c.max_connections_per_peer, 16);
    let c = Config::from(Cli::parse_from(["sluice", "--max-connections", "400"]));
    assert_eq!(c.max_connections_per_peer, 100);
    let c = Config::from(Cli::parse_from([
        "sluice",
        "--max-connections-per-peer",
        "3",
    ]));
    assert_eq!(c.max_connections_per_peer, 3);
}

#[test]
fn security_flags() {
    let c = Config::from(Cli::parse_from([
        "sluice",
        "--server-name",
        "Sluice.Example.com.",
        "--server-name",
        "b.example",
        "--ingest-token",
        "t0k3n",
        "--auth",
        "me:pw",
    ]));
    assert_eq!(c.security.server_names, ["sluice.example.com", "b.example"]);
    assert_eq!(
        c.security.ingest_token,
        Some(Secret::token("t0k3n").unwrap())
    );
    assert_eq!(c.security.basic, Some(Secret::basic("me:pw").unwrap()));
    // Secrets stay out of debug output.
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("t0k3n") && !shown.contains("bWU6cHc="),
        "{shown}"
    );
}

#[test]
fn repeatable_listen_and_allow() {
    let c = Config::from(Cli::parse_from([
        "sluice",
        "-l",
        "127.0.0.1:0",
        "--listen",
        "[::1]:0",
        "--allow",
        "8.8.8.0/24",
    ]));
    assert_eq!(c.listen.len(), 2);
    assert!(c.allow.admits("8.8.8.8".parse().unwrap()));
    assert!(!c.allow.admits("127.0.0.1".parse().unwrap()));
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["sluice", "--max-body", "lots"][..],
        &["sluice", "--max-connections", "0"],
        &["sluice", "--allow", "10.0.0.0/40"],
        &["sluice", "--allow-any", "--allow", "10.0.0.0/8"],
        &["sluice", "-l", "nowhere"],
        &["sluice", "--header-timeout", "0"],
        &["sluice", "--ack", "sometimes"],
        &["sluice", "--server-name", "not a name"],
        &["sluice", "--ingest-token", ""],
        &["sluice", "--ingest-token", "has space"],
        &["sluice", "--auth", "nocolon"],
        &["sluice", "--max-connections-per-peer", "0"],
        &["sluice", "--max-open-devices", "many"],
        &["sluice", "--max-open-devices", "-1"],
    ] {
        let err = Cli::try_parse_from(args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}");
    }
}
