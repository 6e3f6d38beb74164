use super::*;
use std::time::Duration;

fn id(name: &str) -> DeviceId {
    DeviceId::parse(name.as_bytes()).unwrap()
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn config(max_devices: usize, max_fields: usize, max_series: usize) -> ValuesConfig {
    ValuesConfig {
        max_devices,
        max_fields,
        max_series,
    }
}

fn latest(values: &Values, device: &str) -> Vec<(String, f64, i64)> {
    values.device(&id(device)).map_or(vec![], |d| {
        d.fields
            .iter()
            .map(|f| (f.name.to_string(), f.value, f.at_ms))
            .collect()
    })
}

#[test]
fn records_set_latest_values_and_history() {
    let mut values = Values::new(config(10, 10, 100));
    values.observe(id("k"), b"t=21.5 h=40\n", at(1000));
    values.observe(id("k"), b"{\"t\": 22}\n", at(2000));
    values.observe(id("k"), b"not a reading\n", at(3000));
    assert_eq!(
        latest(&values, "k"),
        vec![("t".into(), 22.0, 2000), ("h".into(), 40.0, 1000)]
    );
    let t = values.device(&id("k")).unwrap().field("t").unwrap();
    let points: Vec<_> = t
        .history
        .points_since(0)
        .map(|p| (p.at_ms, p.value))
        .collect();
    assert_eq!(points, vec![(1000, 21.5), (2000, 22.0)]);
    assert_eq!(values.series(), 2);
}

#[test]
fn a_timestamp_prefix_dates_the_reading() {
    let mut values = Values::new(config(10, 10, 100));
    values.observe(id("k"), b"2026-11-22T16:40:00.007Z t=1\n", at(5));
    assert_eq!(
        latest(&values, "k"),
        vec![("t".into(), 1.0, 1_795_365_600_007)]
    );
}

#[test]
fn each_bound_is_hit_exactly() {
    // Devices: the second device is not tracked; its records are not read.
    let mut values = Values::new(config(1, 10, 100));
    values.observe(id("a"), b"x=1", at(0));
    values.observe(id("b"), b"x=1 y=2", at(0));
    assert!(values.device(&id("b")).is_none());
    assert_eq!((values.dropped, values.untracked), (0, 1));
    // Fields per device: two kept, the third dropped, also in a later record.
    let mut values = Values::new(config(10, 2, 100));
    values.observe(id("a"), b"x=1 y=2 z=3", at(0));
    values.observe(id("a"), b"z=3 x=4", at(0));
    let names: Vec<_> = latest(&values, "a").into_iter().map(|f| f.0).collect();
    assert_eq!(names, vec!["x", "y"]);
    assert_eq!(values.dropped, 2);
    // Series in all: three fields over two devices, the fourth dropped.
    let mut values = Values::new(config(10, 10, 3));
    values.observe(id("a"), b"x=1 y=2", at(0));
    values.observe(id("b"), b"x=1 y=2", at(0));
    assert_eq!(values.series(), 3);
    assert_eq!(latest(&values, "b").len(), 1);
    assert_eq!(values.dropped, 1);
    // A device with no field once the series are all taken: not read at all.
    values.observe(id("c"), b"x=1", at(0));
    assert!(values.device(&id("c")).is_none());
    assert_eq!((values.dropped, values.untracked), (1, 1));
    // No series at all: nothing is parsed or kept.
    let mut values = Values::new(config(10, 10, 0));
    values.observe(id("a"), b"x=1", at(0));
    assert!(values.device(&id("a")).is_none());
}

#[test]
fn rebuild_reads_the_tail_of_each_file() {
    let dir = tempfile::tempdir().unwrap();
    // A long file: only its tail is read, and the cut record before it is skipped.
    let mut long = Vec::new();
    let mut i = 0u64;
    while long.len() < crate::limits::VALUES_TAIL_BYTES as usize + 100 {
        long.extend_from_slice(format!("n={i}\n").as_bytes());
        i += 1;
    }
    std::fs::write(dir.path().join("long"), &long).unwrap();
    std::fs::write(
        dir.path().join("timed"),
        b"2026-11-22T16:40:00.007Z t=1\n2026-11-22T16:41:00.000Z t=2\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plain"), b"t=5\n{\"t\": 6}\n").unwrap();
    let mut values = Values::new(config(10, 10, 100));
    let ids = ["long", "timed", "plain", "missing"].map(id);
    let records = values.rebuild(dir.path(), ids.into_iter(), &Covered::new());
    let long_records = long[long.len() - crate::limits::VALUES_TAIL_BYTES as usize..]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert_eq!(records, 2 + 2 + long_records - 1);
    assert_eq!(latest(&values, "long")[0].1, (i - 1) as f64);
    // Timed records keep their times and their history.
    let timed = values.device(&id("timed")).unwrap().field("t").unwrap();
    assert_eq!((timed.value, timed.at_ms), (2.0, 1_795_365_660_000));
    assert_eq!(timed.history.points_since(0).count(), 2);
    // Untimed ones give the latest value, dated by the file, and no history.
    let modified = std::fs::metadata(dir.path().join("plain"))
        .unwrap()
        .modified()
        .unwrap();
    let plain = values.device(&id("plain")).unwrap().field("t").unwrap();
    assert_eq!((plain.value, plain.at_ms), (6.0, unix_ms(modified)));
    assert!(plain.history.is_empty());
}

#[test]
fn rebuild_takes_the_most_recent_files_first() {
    let dir = tempfile::tempdir().unwrap();
    for (name, secs) in [("old", 1_000_000), ("new", 2_000_000)] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"t=1\n").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }
    let mut values = Values::new(config(1, 10, 100));
    values.rebuild(
        dir.path(),
        [id("old"), id("new")].into_iter(),
        &Covered::new(),
    );
    assert!(values.device(&id("new")).is_some());
    assert!(values.device(&id("old")).is_none());
}

#[test]
fn names_with_control_bytes_or_bad_utf8_are_not_tracked() {
    let mut values = Values::new(config(10, 10, 100));
    values.observe(id("a"), b"a\x01=1 \xff=2 b=3", at(0));
    values.observe(id("a"), "{\"k\u{1}\": 1, \"c\": 4}".as_bytes(), at(0));
    let names: Vec<_> = latest(&values, "a").into_iter().map(|f| f.0).collect();
    assert_eq!(names, vec!["b", "c"]);
    assert_eq!(values.dropped, 3);
}

fn points(values: &Values, device: &str, field: &str) -> Vec<(i64, f64)> {
    let f = values.device(&id(device)).unwrap().field(field).unwrap();
    f.history
        .points_since(0)
        .map(|p| (p.at_ms, p.value))
        .collect()
}

#[test]
fn a_snapshot_brings_readings_back_and_only_later_records_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let mut values = Values::new(config(10, 10, 100));
    for (name, body) in [("a", "t=1\nt=2\n"), ("b", "x=5\n"), ("c", "y=7\n")] {
        std::fs::write(file(name), body).unwrap();
        for line in body.lines() {
            values.observe(id(name), line.as_bytes(), at(60_000));
        }
    }
    values.observe(id("a"), b"t=3", at(120_000)); // in memory only: the file has two lines
    assert_eq!(values.save(dir.path()).unwrap(), 3);
    // After the snapshot: a grows, b is replaced by another file, c is cut short.
    let mut a = std::fs::File::options()
        .append(true)
        .open(file("a"))
        .unwrap();
    std::io::Write::write_all(&mut a, b"t=9\n").unwrap();
    std::fs::remove_file(file("b")).unwrap();
    std::fs::write(file("b"), b"x=6\n").unwrap();
    std::fs::write(file("c"), b"").unwrap();

    let mut back = Values::new(config(10, 10, 100));
    let covered = back.restore(dir.path());
    assert_eq!(covered.get(&id("a")), Some(&8), "{covered:?}");
    assert_eq!(
        covered.len(),
        1,
        "b is another file, c is shorter: {covered:?}"
    );
    assert_eq!(
        points(&back, "a", "t"),
        [(60_000, 1.0), (60_000, 2.0), (120_000, 3.0)]
    );
    let records = back.rebuild(dir.path(), ["a", "b", "c"].map(id).into_iter(), &covered);
    assert_eq!(records, 2, "a's new line, and b's");
    assert_eq!(latest(&back, "a")[0].1, 9.0);
    assert_eq!(
        points(&back, "a", "t").len(),
        3,
        "an undated record joins no history"
    );
    assert_eq!(latest(&back, "b")[0].1, 6.0);
    assert!(latest(&back, "c").is_empty());
}

#[test]
fn a_damaged_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"t=1\n").unwrap();
    let mut values = Values::new(config(10, 10, 100));
    values.observe(id("a"), b"t=1", at(1000));
    values.save(dir.path()).unwrap();
    let path = dir.path().join(SNAPSHOT_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let mut back = Values::new(config(10, 10, 100));
    assert!(back.restore(dir.path()).is_empty());
    assert!(back.device(&id("a")).is_none());
    assert_eq!(back.series(), 0);
    // Cut short: ignored too.
    std::fs::write(&path, &bytes[..3]).unwrap();
    assert!(back.restore(dir.path()).is_empty());
}

#[test]
fn a_snapshot_keeps_within_the_bounds_of_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut values = Values::new(config(10, 10, 100));
    for name in ["a", "b"] {
        std::fs::write(dir.path().join(name), b"x=1 y=2\n").unwrap();
        values.observe(id(name), b"x=1 y=2", at(0));
    }
    values.save(dir.path()).unwrap();
    let mut back = Values::new(config(10, 10, 3));
    back.restore(dir.path());
    assert_eq!(back.series(), 3);
}

#[test]
fn fields_are_found_by_short_and_long_names() {
    let short = "s".repeat(SHORT_NAME_BYTES);
    let long = "l".repeat(SHORT_NAME_BYTES + 1);
    for name in [&short, &long, &"t".to_string()] {
        let f = Field::new(name, 1.0, 0, History::default());
        assert!(f.is(name.as_bytes()), "{name}");
        assert!(!f.is(&name.as_bytes()[1..]), "{name}");
        assert!(!f.is(format!("{name}x").as_bytes()), "{name}");
    }
    // Fields in another order than the first record's are still the same fields.
    let mut values = Values::new(config(10, 10, 100));
    values.observe(id("a"), b"x=1 y=2", at(0));
    values.observe(id("a"), b"y=3 x=4", at(1));
    assert_eq!(
        latest(&values, "a"),
        vec![("x".into(), 4.0, 1), ("y".into(), 3.0, 1)]
    );
}
