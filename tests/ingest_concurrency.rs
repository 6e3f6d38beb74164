//! Many clients posting to a few devices at once (issue 4): every record ends up in its device's
//! file whole, exactly once, and in the order its client sent it, whatever the framing, the
//! pipelining, or the ack mode. Records are `client=<i> seq=<n> pad=<...>\n` with a pad whose
//! length and letter follow from (i, n), so a torn or interleaved record cannot parse.

mod common;

use common::ingest::*;
use common::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const DEVICES: usize = 10;

fn device_of(client: usize) -> String {
    format!("dev{}", client % DEVICES)
}

/// How a client sends its records.
fn request_for(client: usize, seq: usize) -> Vec<u8> {
    let target = format!("/devices/{}", device_of(client));
    let body = record(client, seq);
    // Clients 1 and 3 (mod 4) send chunked, 3 alternating with Content-Length.
    let chunked = match client % 4 {
        1 => true,
        3 => seq % 2 == 1,
        _ => false,
    };
    if chunked {
        post_chunked(&target, &three_chunks(&body))
    } else {
        post(&target, &body)
    }
}

/// One client: one keep-alive connection; clients 0 and 1 (mod 4) wait for each reply, clients
/// 2 and 3 pipeline their records in batches of 5.
fn run_client(addr: SocketAddr, client: usize, records: usize, start: &Barrier) {
    let mut c = Client::connect(addr);
    start.wait();
    let batch = if client % 4 >= 2 { 5 } else { 1 };
    let mut seq = 0;
    while seq < records {
        let n = batch.min(records - seq);
        let raw: Vec<u8> = (seq..seq + n)
            .flat_map(|s| request_for(client, s))
            .collect();
        c.send(&raw);
        for s in seq..seq + n {
            let r = c.read_response();
            assert_eq!(
                r.status, 204,
                "client {client} seq {s}: not acknowledged:\n{}",
                r.raw_head
            );
        }
        seq += n;
    }
}

/// Runs `clients` clients with `records` records each against `f` and waits for all of them.
fn run_clients(f: &Ingest, clients: usize, records: usize) {
    let start = Arc::new(Barrier::new(clients));
    let addr = f.server.addr();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let start = Arc::clone(&start);
            thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || run_client(addr, i, records, &start))
                .expect("spawn client thread")
        })
        .collect();
    let failed: Vec<usize> = handles
        .into_iter()
        .enumerate()
        .filter_map(|(i, h)| h.join().is_err().then_some(i))
        .collect();
    assert!(failed.is_empty(), "clients failed: {failed:?}");
}

/// Every client's records are all there, once each, in send order.
#[track_caller]
fn assert_complete(by_client: &BTreeMap<usize, Vec<usize>>, clients: usize, records: usize) {
    let want: Vec<usize> = (0..records).collect();
    for client in 0..clients {
        let got = by_client.get(&client).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            got,
            &want[..],
            "client {client}: seqs in file order (each must appear once, in order)"
        );
    }
    assert_eq!(by_client.len(), clients, "records from unknown clients");
}

#[test]
fn hundred_clients_ten_devices_every_record_whole_once_in_order() {
    const CLIENTS: usize = 100;
    const RECORDS: usize = 20;
    let f = start_ingest(&[]);
    run_clients(&f, CLIENTS, RECORDS);
    let names: Vec<String> = (0..DEVICES).map(device_of).collect();
    assert_eq!(f.entries(), names.into_iter().collect());
    let by_client = records_by_client(&f.data, device_of);
    assert_complete(&by_client, CLIENTS, RECORDS);
}

#[test]
fn fsync_mode_many_clients_every_record_whole_once_in_order() {
    const CLIENTS: usize = 24;
    const RECORDS: usize = 10;
    let f = start_ingest(&["--ack", "fsync"]);
    run_clients(&f, CLIENTS, RECORDS);
    let by_client = records_by_client(&f.data, device_of);
    assert_complete(&by_client, CLIENTS, RECORDS);
}

#[test]
fn buffer_mode_many_clients_readable_at_once_and_written_at_sigterm() {
    const CLIENTS: usize = 40;
    const RECORDS: usize = 10;
    let mut f = start_ingest(&["--ack", "buffer"]);
    run_clients(&f, CLIENTS, RECORDS);
    // Read-your-writes: a GET shows every acknowledged record, flushed or not.
    let mut served = BTreeMap::new();
    let mut c = f.connect();
    for d in 0..DEVICES {
        let g = c.request(&get(&format!("/devices/{}", device_of(d))));
        g.assert_status(200);
        for (client, seq) in parse_records(&g.body).unwrap_or_else(|e| panic!("GET dev{d}: {e}")) {
            assert_eq!(device_of(client), device_of(d));
            served.entry(client).or_insert_with(Vec::new).push(seq);
        }
    }
    assert_complete(&served, CLIENTS, RECORDS);
    drop(c);
    f.server.signal(nix::sys::signal::Signal::SIGTERM);
    let status = f.server.wait_exit(IO_TIMEOUT + Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SIGTERM: {status:?}"
    );
    let by_client = records_by_client(&f.data, device_of);
    assert_complete(&by_client, CLIENTS, RECORDS);
}
