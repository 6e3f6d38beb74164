//! A restart over an existing data directory (issue 4: the registry is "rebuilt from the data
//! directory on start (sizes and mtimes) so a restart forgets nothing"). Start needs only a `stat`
//! per file: the server listens and serves even while a huge file's records are still being
//! counted; the counts arrive in the background (`counting` in `/api/devices` until then), and
//! once they have, every device has exactly the records its file holds plus those posted since.

mod common;
mod sse;

use common::ingest::*;
use common::*;
use sse::{api_devices_counted, device, get_json, post_record};

#[test]
fn a_restart_counts_every_files_records_in_the_background() {
    let data = tempfile::tempdir().unwrap();
    // Files left by an earlier run: many small ones and one of several read chunks.
    let small = 600;
    for n in 0..small {
        let lines = n % 7;
        std::fs::write(data.path().join(format!("s{n}")), "reading\n".repeat(lines)).unwrap();
    }
    let big_lines = 400_000;
    std::fs::write(data.path().join("big"), "t=21.5 h=40\n".repeat(big_lines)).unwrap();
    std::fs::write(data.path().join("torn"), b"whole\npartial").unwrap();

    let f = start_ingest_in(data.path(), &[]);
    // Posts right after start add to whatever the count finds, before or after it arrives.
    let mut c = f.connect();
    post_record(&mut c, "big", b"t=22.0 h=41\n");
    post_record(&mut c, "s3", b"reading\n");
    post_record(&mut c, "new", b"first\n");

    let doc = api_devices_counted(&f.server, None);
    assert_eq!(doc["count"], small + 3, "{doc}");
    for n in 0..small {
        let d = device(&doc, &format!("s{n}"));
        let posted = usize::from(n == 3);
        assert_eq!(d["records"], n % 7 + posted, "{d}");
        assert_eq!(d["bytes"], 8 * (n % 7 + posted), "{d}");
    }
    let big = device(&doc, "big");
    assert_eq!(big["records"], big_lines + 1, "{big}");
    assert_eq!(big["bytes"], 12 * (big_lines + 1), "{big}");
    assert_eq!(device(&doc, "torn")["records"], 1, "lines end with \\n");
    assert_eq!(device(&doc, "new")["records"], 1);
}

#[test]
fn the_server_serves_before_a_huge_file_is_counted() {
    let data = tempfile::tempdir().unwrap();
    // A sparse terabyte: reading it takes minutes, so a server that counted at start would not
    // be listening within Server::start's wait.
    let huge = std::fs::File::create(data.path().join("huge")).unwrap();
    if let Err(e) = huge.set_len(1 << 40) {
        println!("SKIPPED: cannot make a sparse 1 TiB file here: {e}");
        return;
    }
    drop(huge);
    std::fs::write(data.path().join("small"), b"a\nb\n").unwrap();
    let mut f = start_ingest_in(data.path(), &[]);
    let doc = get_json(&f.server, "/api/devices");
    let d = device(&doc, "huge");
    assert_eq!(d["bytes"], 1u64 << 40, "size from stat: {d}");
    assert_eq!(d["counting"], true, "{d}");
    // Everything else works meanwhile.
    let mut c = f.connect();
    post_record(&mut c, "small", b"c\n");
    let g = c.request(&get("/devices/small"));
    g.assert_status(200);
    assert_eq!(g.body, b"a\nb\nc\n");
    let doc = api_devices_counted(&f.server, Some("huge"));
    assert_eq!(device(&doc, "small")["records"], 3, "{doc}");
    // Shutdown does not wait for the count to finish.
    drop(c);
    f.server.signal(nix::sys::signal::Signal::SIGTERM);
    let status = f.server.wait_exit(IO_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SIGTERM while counting: {status:?}"
    );
}
