//! ENOSPC (issue 4): on a 256 KiB tmpfs used as `--data` (with `--min-free 0`, so the free-space
//! check does not refuse first), posting until the disk is full gives 507 for the body that does
//! not fit, leaves no part of it in the file, keeps every acknowledged record, and the server
//! keeps serving; once space is freed, posts succeed again. Needs root to mount; skipped with a
//! message otherwise.

mod common;

use common::ingest::*;
use common::*;

#[test]
fn full_disk_gives_507_no_partial_record_and_the_server_keeps_serving() {
    full_disk("write");
}

#[test]
fn full_disk_in_fsync_mode_gives_507_and_no_partial_record() {
    full_disk("fsync");
}

fn full_disk(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount_or_skip(dir.path(), "256k") else {
        return;
    };
    let data = dir.path();
    let f = start_ingest_in(data, &["--min-free", "0", "--ack", mode]);
    // Ballast to free later, written around the server (it is just another device file).
    std::fs::write(data.join("ballast"), vec![b'#'; 64 * 1024]).unwrap();

    let mut c = f.connect();
    let mut acked = Vec::new();
    let mut stored = Vec::new();
    let mut failed_at = None;
    for seq in 0..5000 {
        let body = record(0, seq);
        let r = c.request(&post("/devices/full", &body));
        if r.status == 204 {
            acked.push(seq);
            stored.extend_from_slice(&body);
            continue;
        }
        r.assert_status(507).assert_no_connection_close();
        failed_at = Some(seq);
        break;
    }
    let failed_at = failed_at.expect("256 KiB never filled up");
    assert!(acked.len() > 10, "only {} records fit", acked.len());
    println!(
        "--ack {mode}: {} records stored, record {failed_at} got 507",
        acked.len()
    );

    // The file holds exactly the acknowledged records: the failed one was cut back out.
    let file = f.device("full").unwrap();
    assert_eq!(
        parse_records(&file).unwrap_or_else(|e| panic!("after ENOSPC: {e}")),
        acked.iter().map(|&s| (0, s)).collect::<Vec<_>>()
    );
    assert!(file == stored, "file differs from the acknowledged bodies");

    // Health says so while writes fail.
    let h = c.request(&get("/healthz"));
    h.assert_status(503);
    assert_eq!(h.body, b"device writes failing\n");
    // The server keeps serving, on the same connection and on new ones.
    expect_still_open(&mut c);
    let g = c.request(&get("/devices/full"));
    g.assert_status(200);
    assert!(g.body == stored, "GET /devices/full after ENOSPC");
    let mut c2 = f.connect();
    expect_still_open(&mut c2);

    // Bodies that cannot fit keep failing cleanly, on this device and on a new one.
    let big = vec![b'z'; 100 * 1024];
    let r = c.request(&post("/devices/full", &big));
    r.assert_status(507);
    assert!(
        f.device("full").unwrap() == stored,
        "a failed body left bytes behind"
    );
    let r = c2.request(&post_chunked("/devices/newcomer", &three_chunks(&big)));
    r.assert_status(507);
    let newcomer = f.device("newcomer").unwrap_or_default();
    assert!(
        newcomer.is_empty(),
        "new device kept {} bytes",
        newcomer.len()
    );

    // Free space: ingest works again and appends right after the surviving records.
    std::fs::remove_file(data.join("ballast")).unwrap();
    let body = record(0, failed_at);
    let r = c.request(&post("/devices/full", &body));
    r.assert_status(204);
    stored.extend_from_slice(&body);
    assert!(f.device("full").unwrap() == stored, "append after recovery");
    c.request(&get("/healthz")).assert_status(200);
    acked.push(failed_at);
    assert_eq!(
        parse_records(&stored).unwrap(),
        acked.iter().map(|&s| (0, s)).collect::<Vec<_>>()
    );
}
