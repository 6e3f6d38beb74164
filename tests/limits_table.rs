//! README.md's "Limits" table against the code, so the two cannot drift apart:
//!
//! - every `pub const` of `src/limits.rs` is in `limits::ALL`, and every entry of `ALL` has a
//!   row of the table whose default is its value as the README writes it (`16 KiB`, `100`, `2 s`);
//! - every row named by a flag names a flag that exists, and its default starts with the flag's
//!   default as `sluice --help` has it;
//! - every row names a constant or a flag.
use clap::CommandFactory;
use sluice::config::Cli;
use sluice::limits::{Value, ALL};
use std::collections::BTreeMap;
use std::time::Duration;

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The rows of the README's Limits table: name (without backticks) -> default cell.
fn readme_rows() -> BTreeMap<String, String> {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n## Limits\n")
        .nth(1)
        .expect("README.md has a Limits section");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        if cells[0] == "limit" || cells[0].starts_with("---") {
            continue;
        }
        assert_eq!(cells.len(), 4, "row of four cells: {line}");
        let name = cells[1].trim_matches('`').to_string();
        let previous = rows.insert(name.clone(), cells[2].to_string());
        assert!(previous.is_none(), "{name} has two rows");
    }
    rows
}

/// A value as the README writes it.
fn written(value: Value) -> String {
    match value {
        Value::Size(n) if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        Value::Size(n) if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        Value::Size(n) => format!("{n} bytes"),
        Value::Count(n) => n.to_string(),
        Value::Time(d) if d.subsec_nanos() == 0 => format!("{} s", d.as_secs()),
        Value::Time(d) => format!("{} ms", d.as_millis()),
    }
}

#[test]
fn every_limit_constant_is_listed_in_all() {
    let source = repo_file("src/limits.rs");
    let declared: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub const "))
        .map(|l| l.split(':').next().unwrap())
        .filter(|name| *name != "ALL")
        .collect();
    let listed: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        declared, listed,
        "limits::ALL must list every limit, in order"
    );
}

#[test]
fn the_readme_table_states_every_constant_with_its_value() {
    let rows = readme_rows();
    for (name, value) in ALL {
        let cell = rows
            .get(*name)
            .unwrap_or_else(|| panic!("README.md's Limits table has no row for {name}"));
        assert_eq!(cell, &written(*value), "README.md's default for {name}");
    }
}

#[test]
fn the_readme_table_states_every_flag_with_its_default() {
    let command = Cli::command();
    let flags: BTreeMap<String, Option<String>> = command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((format!("--{long}"), default))
        })
        .collect();
    let constants: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
    for (name, cell) in readme_rows() {
        if constants.contains(&name.as_str()) {
            continue;
        }
        let default = flags.get(&name).unwrap_or_else(|| {
            panic!("README.md's Limits row {name} is neither a limit nor a flag")
        });
        if let Some(default) = default {
            assert!(
                cell.starts_with(&format!("`{default}`")),
                "README.md says {name} defaults to {cell:?}; sluice --help says {default:?}"
            );
        }
    }
}

#[test]
fn values_are_written_the_readme_way() {
    assert_eq!(written(Value::Size(16 * 1024)), "16 KiB");
    assert_eq!(written(Value::Size(4 << 20)), "4 MiB");
    assert_eq!(written(Value::Size(255)), "255 bytes");
    assert_eq!(written(Value::Size(17 * 1024)), "17 KiB");
    assert_eq!(written(Value::Time(Duration::from_millis(100))), "100 ms");
    assert_eq!(written(Value::Time(Duration::from_secs(2))), "2 s");
}
