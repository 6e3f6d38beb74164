//! Unit tests of `--ack fsync`: the log's sync before the device writes, in order, retries of
//! logged bodies, rotation and checkpoints.
use super::*;

/// A store in fsync mode whose wakes arrive on the returned channel.
fn open_fsync(dir: &Path) -> (DeviceStore, std::sync::mpsc::Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let store = DeviceStore::open(
        config(dir, AckMode::Fsync),
        Box::new(move || {
            let _ = tx.send(());
        }),
    )
    .unwrap();
    (store, rx)
}

/// Collects reports until `done` holds `n` completions.
fn wait_for(
    store: &mut DeviceStore,
    wakes: &std::sync::mpsc::Receiver<()>,
    done: &mut Vec<Completion>,
    n: usize,
) {
    while done.len() < n {
        wakes
            .recv_timeout(Duration::from_secs(60))
            .expect("a background thread wakes the reactor");
        store.collect_reports(done);
    }
}

#[test]
fn fsync_mode_writes_the_device_file_and_completes_after_the_log_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, wakes) = open_fsync(dir.path());
    store
        .append(id("a"), (b"r", None), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    let mut done = Vec::new();
    store.commit(Instant::now(), &mut done);
    assert!(done.is_empty(), "not acknowledged before the sync");
    assert_eq!(
        std::fs::read(dir.path().join("a")).unwrap(),
        b"",
        "the device file waits for the log's sync"
    );
    let log = std::fs::read(dir.path().join(wal::WAL_FILE)).unwrap();
    assert!(
        log.windows(2).any(|w| w == b"r\n"),
        "the record is in the log"
    );
    wait_for(&mut store, &wakes, &mut done, 1);
    assert_eq!(done, vec![(waiter(1), Ok(()))]);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"r\n");
    assert_eq!(store.unsynced_bytes(), 0);
    assert_eq!(store.stats(&id("a")).unwrap().records, 1);
}

#[test]
fn fsync_mode_keeps_logging_while_a_sync_is_under_way_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, wakes) = open_fsync(dir.path());
    let mut done = Vec::new();
    for n in 0..20u64 {
        let body = format!("r{n}");
        store
            .append(
                id("a"),
                (body.as_bytes(), None),
                PEER,
                SystemTime::now(),
                waiter(n),
            )
            .unwrap();
        store.commit(Instant::now(), &mut done);
    }
    wait_for(&mut store, &wakes, &mut done, 20);
    let keys: Vec<usize> = done.iter().map(|(w, _)| w.key).collect();
    assert_eq!(keys, (0..20).collect::<Vec<_>>());
    let expected: String = (0..20).map(|n| format!("r{n}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a")).unwrap(),
        expected
    );
}

#[test]
fn fsync_mode_a_retry_of_a_logged_body_completes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, wakes) = open_fsync(dir.path());
    let key = || Some(Box::<str>::from("k1"));
    let mut done = Vec::new();
    store
        .append(id("a"), (b"r", key()), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    store.commit(Instant::now(), &mut done);
    let retry = store
        .append(id("a"), (b"r", key()), PEER, SystemTime::now(), waiter(2))
        .unwrap();
    assert_eq!(retry, Appended::Waiting);
    store.commit(Instant::now(), &mut done);
    wait_for(&mut store, &wakes, &mut done, 2);
    assert_eq!(done, vec![(waiter(1), Ok(())), (waiter(2), Ok(()))]);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"r\n");
}

#[test]
fn fsync_mode_rotates_a_full_log_and_the_checkpoint_removes_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, wakes) = open_fsync(dir.path());
    let big = vec![b'x'; crate::limits::WAL_CHECKPOINT_BYTES as usize];
    let mut done = Vec::new();
    store
        .append(id("big"), (&big, None), PEER, SystemTime::now(), waiter(1))
        .unwrap();
    store.commit(Instant::now(), &mut done);
    wait_for(&mut store, &wakes, &mut done, 1);
    assert!(!dir.path().join(wal::WAL_OLD_FILE).exists());
    // The next batch finds the log full: it is rotated, then checkpointed.
    store
        .append(
            id("small"),
            (b"s", None),
            PEER,
            SystemTime::now(),
            waiter(2),
        )
        .unwrap();
    store.commit(Instant::now(), &mut done);
    let log = std::fs::read(dir.path().join(wal::WAL_FILE)).unwrap();
    assert!(log.len() < 100, "a new log holds only the new batch");
    wait_for(&mut store, &wakes, &mut done, 2);
    while dir.path().join(wal::WAL_OLD_FILE).exists() {
        wakes
            .recv_timeout(Duration::from_secs(60))
            .expect("the checkpoint reports");
        store.collect_reports(&mut done);
    }
    assert_eq!(
        std::fs::metadata(dir.path().join("big")).unwrap().len(),
        big.len() as u64 + 1
    );
    assert_eq!(std::fs::read(dir.path().join("small")).unwrap(), b"s\n");
}
