//! Unit tests of the device store against a real temporary data directory.
use super::*;
use crate::limits::{
    BUFFER_FLUSH_BYTES_PER_TURN, BUFFER_FLUSH_DEVICES_PER_TURN, BUFFER_FLUSH_INTERVAL_SECS,
    MIN_OPEN_DEVICE_FILES,
};
use std::time::{Duration, UNIX_EPOCH};

fn config(dir: &Path, ack: AckMode) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        ack,
        format: RecordFormat {
            framing: Framing::Lines,
            timestamp: false,
        },
        max_pending: 1024,
        min_free: 0,
        max_open_files: 0,
    }
}

fn open(dir: &Path, ack: AckMode) -> DeviceStore {
    DeviceStore::open(config(dir, ack), Box::new(|| {})).unwrap()
}

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s.as_bytes()).unwrap()
}

fn waiter(n: u64) -> Waiter {
    Waiter {
        key: n as usize,
        conn: n,
    }
}

const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[test]
fn write_mode_commits_every_pending_record_in_order_then_completes_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Write);
    let now = SystemTime::now();
    for (n, (dev, body)) in [("a", "1"), ("b", "x"), ("a", "2"), ("a", "3")]
        .iter()
        .enumerate()
    {
        let got = store.append(
            id(dev),
            (body.as_bytes(), None),
            PEER,
            now,
            waiter(n as u64),
        );
        assert_eq!(got, Ok(Appended::Waiting));
    }
    assert!(store.has_uncommitted());
    assert!(
        !dir.path().join("a").exists(),
        "nothing is written before the commit point"
    );
    let mut done = Vec::new();
    store.commit(Instant::now(), &mut done);
    assert!(!store.has_uncommitted());
    let mut keys: Vec<usize> = done
        .iter()
        .map(|(w, r)| (w.key, r.is_ok()))
        .filter(|p| p.1)
        .map(|p| p.0)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec![0, 1, 2, 3]);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"1\n2\n3\n");
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"x\n");
    let stats = store.stats(&id("a")).unwrap();
    assert_eq!((stats.bytes, stats.records), (6, 3));
    assert_eq!(stats.last_addr, Some(PEER));
}

#[test]
fn buffer_mode_acknowledges_at_once_and_writes_once_a_second_or_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    let start = Instant::now();
    let got = store.append(id("a"), (b"r1", None), PEER, SystemTime::now(), waiter(1));
    assert_eq!(got, Ok(Appended::Acknowledged));
    assert_eq!(store.unsynced_bytes(), 3);
    let mut done = Vec::new();
    store.commit(start, &mut done);
    assert!(
        !dir.path().join("a").exists(),
        "buffer mode waits for the flush interval"
    );
    store.commit(start + BUFFER_FLUSH_INTERVAL_SECS * 2, &mut done);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"r1\n");
    assert_eq!(store.unsynced_bytes(), 0);
    store
        .append(id("a"), (b"r2", None), PEER, SystemTime::now(), waiter(2))
        .unwrap();
    store.flush_device(&id("a"), &mut done);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"r1\nr2\n");
    assert!(done.is_empty(), "buffer mode has no waiters");
}

#[test]
fn admission_refuses_past_max_pending_and_below_min_free() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    assert_eq!(store.admit(), Ok(()));
    store
        .append(
            id("a"),
            (&[b'x'; 1024], None),
            PEER,
            SystemTime::now(),
            waiter(1),
        )
        .unwrap();
    // 1025 bytes pending (the newline included) is one more than max_pending.
    assert_eq!(store.admit(), Err(RequestError::Overloaded));
    let mut done = Vec::new();
    store.shutdown(&mut done);
    assert_eq!(store.admit(), Ok(()));

    let mut cfg = config(dir.path(), AckMode::Write);
    cfg.min_free = u64::MAX;
    let full = DeviceStore::open(cfg, Box::new(|| {})).unwrap();
    assert_eq!(full.admit(), Err(RequestError::Overloaded));
}

#[test]
fn more_devices_than_open_files_all_get_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Write);
    let devices = MIN_OPEN_DEVICE_FILES * 2 + 7;
    let mut done = Vec::new();
    for round in 0..2 {
        for d in 0..devices {
            let name = format!("d{d}");
            let body = format!("{round}");
            store
                .append(
                    id(&name),
                    (body.as_bytes(), None),
                    PEER,
                    SystemTime::now(),
                    waiter(d as u64),
                )
                .unwrap();
        }
        store.commit(Instant::now(), &mut done);
        assert!(store.open_files() <= MIN_OPEN_DEVICE_FILES);
    }
    assert_eq!(done.len(), devices * 2);
    assert!(done.iter().all(|(_, r)| r.is_ok()));
    for d in [0, devices / 2, devices - 1] {
        assert_eq!(
            std::fs::read(dir.path().join(format!("d{d}"))).unwrap(),
            b"0\n1\n"
        );
    }
}

#[test]
fn a_failed_write_completes_its_waiters_with_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Write);
    // A directory where the device file should be: opening it for appending fails.
    std::fs::create_dir(dir.path().join("blocked")).unwrap();
    store
        .append(
            id("blocked"),
            (b"lost", None),
            PEER,
            SystemTime::now(),
            waiter(7),
        )
        .unwrap();
    store
        .append(
            id("fine"),
            (b"kept", None),
            PEER,
            SystemTime::now(),
            waiter(8),
        )
        .unwrap();
    let mut done = Vec::new();
    store.commit(Instant::now(), &mut done);
    done.sort_by_key(|(w, _)| w.key);
    assert_eq!(
        done,
        vec![
            (waiter(7), Err(RequestError::Internal)),
            (waiter(8), Ok(()))
        ]
    );
    assert!(
        !store.has_uncommitted(),
        "a failed record is not retried in write mode"
    );
    assert_eq!(store.stats(&id("blocked")).unwrap().records, 0);
}

#[test]
fn reopening_rebuilds_the_registry_from_stat_then_counts_the_records_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), AckMode::Write);
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for n in 0..3 {
            store
                .append(id("a"), (b"r", None), PEER, at, waiter(n))
                .unwrap();
        }
        store
            .append(id("b"), (b"only", None), PEER, at, waiter(9))
            .unwrap();
        store.commit(Instant::now(), &mut Vec::new());
    }
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    let (tx, wakes) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let mut store = DeviceStore::open(
        config(dir.path(), AckMode::Write),
        Box::new(move || {
            let _ = tx.lock().unwrap().send(());
        }),
    )
    .unwrap();
    // Right after open: sizes and times from stat; records not counted yet.
    assert_eq!(store.devices().count(), 3);
    let stats = store.stats(&id("a")).unwrap();
    assert_eq!((stats.bytes, stats.records, stats.counting), (6, 0, true));
    assert!(stats.last_seen.is_some());
    let empty = store.stats(&id("empty")).unwrap();
    assert_eq!((empty.records, empty.counting), (0, false));
    // Records stored before the count arrives are added to it, not counted twice.
    let mut done = Vec::new();
    store
        .append(id("a"), (b"new", None), PEER, SystemTime::now(), waiter(4))
        .unwrap();
    store.commit(Instant::now(), &mut done);
    assert_eq!(done.len(), 1);
    while store.counting() {
        wakes
            .recv_timeout(Duration::from_secs(60))
            .expect("the counter wakes the reactor");
        store.collect_reports(&mut done);
    }
    let stats = store.stats(&id("a")).unwrap();
    assert_eq!((stats.bytes, stats.records, stats.counting), (10, 4, false));
    let stats = store.stats(&id("b")).unwrap();
    assert_eq!((stats.bytes, stats.records, stats.counting), (5, 1, false));
}

/// Device files present in `dir`.
/// Device files in `dir` (the write-ahead log and other dotfiles are not devices).
fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

/// Appends `body` once to each of the devices `d0` to `d{count - 1}`.
fn append_to_each(store: &mut DeviceStore, count: usize, body: &[u8]) {
    for d in 0..count {
        let device = id(&format!("d{d}"));
        store
            .append(
                device,
                (body, None),
                PEER,
                SystemTime::now(),
                waiter(d as u64),
            )
            .unwrap();
    }
}

#[test]
fn a_buffer_flush_writes_at_most_the_per_turn_device_limit_then_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    let start = Instant::now();
    let n = BUFFER_FLUSH_DEVICES_PER_TURN;
    append_to_each(&mut store, n + 1, b"r");
    let mut done = Vec::new();
    assert!(!store.has_uncommitted(), "no round before the interval");
    let due = start + BUFFER_FLUSH_INTERVAL_SECS * 2;
    store.commit(due, &mut done);
    assert_eq!(
        files_in(dir.path()),
        n,
        "the first turn writes exactly the limit"
    );
    assert!(
        store.has_uncommitted(),
        "the round goes on without sleeping"
    );
    // A device that turns dirty during the round waits for the next round.
    store
        .append(id("late"), (b"r", None), PEER, SystemTime::now(), waiter(2))
        .unwrap();
    store.commit(due, &mut done);
    assert_eq!(files_in(dir.path()), n + 1, "the next turn writes the rest");
    assert!(!dir.path().join("late").exists());
    assert!(!store.has_uncommitted(), "round over");
    assert_eq!(
        store.unsynced_bytes(),
        2,
        "only the late record is in memory"
    );
    store.commit(due, &mut done);
    assert!(
        !dir.path().join("late").exists(),
        "no new round within the interval"
    );
    store.commit(due + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    assert_eq!(std::fs::read(dir.path().join("late")).unwrap(), b"r\n");
    assert!(done.is_empty());
}

#[test]
fn a_buffer_flush_turn_stops_at_the_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    let start = Instant::now();
    // Three devices of half the limit each (the newline makes up the last byte): two reach the
    // limit exactly, the third waits for the next turn.
    let body = vec![b'x'; BUFFER_FLUSH_BYTES_PER_TURN / 2 - 1];
    for d in ["a", "b", "c"] {
        store
            .append(id(d), (&body, None), PEER, SystemTime::now(), waiter(1))
            .unwrap();
    }
    let mut done = Vec::new();
    store.commit(start + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    assert_eq!(files_in(dir.path()), 2);
    assert_eq!(
        store.unsynced_bytes(),
        BUFFER_FLUSH_BYTES_PER_TURN as u64 / 2
    );
    store.commit(start + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    assert_eq!(files_in(dir.path()), 3);
    assert_eq!(store.unsynced_bytes(), 0);
}

#[test]
fn reads_during_a_buffer_flush_round_see_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    let start = Instant::now();
    let n = BUFFER_FLUSH_DEVICES_PER_TURN;
    append_to_each(&mut store, n + 10, b"1");
    let mut done = Vec::new();
    store.commit(start + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    // The last device is still in the round: a read writes it early, and more records follow
    // before the round reaches it.
    let last = id(&format!("d{}", n + 9));
    store.flush_device(&last, &mut done);
    assert_eq!(
        std::fs::read(dir.path().join(last.as_str())).unwrap(),
        b"1\n"
    );
    store
        .append(last, (b"2", None), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    store.flush_device(&last, &mut done);
    store
        .append(last, (b"3", None), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    while store.has_uncommitted() {
        store.commit(start + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    }
    assert_eq!(
        std::fs::read(dir.path().join(last.as_str())).unwrap(),
        b"1\n2\n3\n"
    );
    assert_eq!(files_in(dir.path()), n + 10);
    assert_eq!(store.unsynced_bytes(), 0);
}

#[test]
fn shutdown_writes_a_buffer_flush_round_under_way_and_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), AckMode::Buffer);
    let n = BUFFER_FLUSH_DEVICES_PER_TURN;
    append_to_each(&mut store, n * 2 + 3, b"r");
    let mut done = Vec::new();
    store.commit(Instant::now() + BUFFER_FLUSH_INTERVAL_SECS, &mut done);
    assert_eq!(files_in(dir.path()), n);
    store
        .append(id("late"), (b"r", None), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    store.shutdown(&mut done);
    assert_eq!(files_in(dir.path()), n * 2 + 4);
    assert_eq!(store.unsynced_bytes(), 0);
    assert!(!store.has_uncommitted());
}

#[test]
fn the_open_files_cap_is_reached_exactly_then_the_least_recent_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 5;
    let mut cfg = config(dir.path(), AckMode::Write);
    cfg.max_open_files = cap;
    let mut store = DeviceStore::open(cfg, Box::new(|| {})).unwrap();
    assert_eq!(store.max_open_files(), cap);
    let mut done = Vec::new();
    for d in 0..cap {
        store
            .append(
                id(&format!("d{d}")),
                (b"r", None),
                PEER,
                SystemTime::now(),
                waiter(1),
            )
            .unwrap();
        store.commit(Instant::now(), &mut done);
    }
    assert_eq!(store.open_files(), cap, "one file per device up to the cap");
    assert!((0..cap).all(|d| store.handles.is_open(d)));
    store
        .append(
            id("newcomer"),
            (b"r", None),
            PEER,
            SystemTime::now(),
            waiter(1),
        )
        .unwrap();
    store.commit(Instant::now(), &mut done);
    assert_eq!(store.open_files(), cap, "the cap holds");
    assert!(
        !store.handles.is_open(0),
        "the least recently used device was closed"
    );
    assert!((1..=cap).all(|d| store.handles.is_open(d)));
    assert_eq!(done.len(), cap + 1);
    assert!(done.iter().all(|(_, r)| r.is_ok()));
}

#[test]
fn a_store_opened_without_a_cap_keeps_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        open(dir.path(), AckMode::Write).max_open_files(),
        MIN_OPEN_DEVICE_FILES
    );
}

#[path = "fsync_tests.rs"]
mod fsync;
