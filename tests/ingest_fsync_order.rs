//! The syscall-order test of `--ack fsync`: under strace, a body is written to the write-ahead
//! log, the log's `fdatasync` completes (on another thread than the one answering: the reactor
//! keeps going), then the body is written to its device file, and only then is its `204` written
//! to the socket. The data directory was `fsync`ed before the first 204 (the log's own name is
//! durable; a device file whose name a power cut loses is rebuilt from the log, see
//! `ingest_power_cut.rs`).
//! Skipped, with a message, where strace is missing or cannot trace (ptrace not permitted).

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::process::{Command, Stdio};

/// Whether strace can trace a child here; prints why not.
fn strace_works() -> bool {
    match Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            println!(
                "SKIPPED: strace cannot trace here (ptrace not permitted?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            println!("SKIPPED: cannot run strace ({e}); install it (apt-get install strace)");
            false
        }
    }
}

/// The pid of the child of `parent` (strace's tracee, sluice), read from /proc.
fn child_of(parent: i32) -> Option<i32> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// SIGKILLs the traced sluice if the test ends early, before strace (its parent, which the
/// `Server` kills) goes: a tracer killed first would leave its tracee running, detached.
struct KillTracee(i32);

impl Drop for KillTracee {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// One line of `strace -f -tt -y` output: thread id and the rest after the time.
struct Line<'a> {
    tid: &'a str,
    call: &'a str,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let mut parts = line.splitn(3, ' ');
    let tid = parts.next()?;
    let _time = parts.next()?;
    Some(Line {
        tid,
        call: parts.next()?,
    })
}

#[test]
fn the_log_is_synced_then_the_device_file_written_before_the_204() {
    if !strace_works() {
        return;
    }
    let root = basic_root();
    let data = tempfile::tempdir().unwrap();
    let trace_dir = tempfile::tempdir().unwrap();
    let trace_path = trace_dir.path().join("strace.txt");
    let data_str = data.path().to_str().unwrap();
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-tt", "-y", "-s", "256"])
        .args(["-e", "trace=write,writev,sendto,sendmsg,fdatasync,fsync"])
        .arg("-o")
        .arg(&trace_path)
        .arg(bin())
        .args(["-l", "127.0.0.1:0", "--ack", "fsync", "--data", data_str])
        .arg(root.path());
    // strace writes its trace to the file; sluice's stdout (the listening line) reaches us.
    let mut server = Server::start_command(cmd, 1);
    let sluice = child_of(server.pid()).expect("sluice under strace");
    let _guard = KillTracee(sluice);

    let posts = [
        ("synced-a", "marker-7f3a1c-one"),
        ("synced-b", "marker-7f3a1c-two"),
        ("synced-a", "marker-7f3a1c-three"),
    ];
    let mut c = server.connect();
    for (device, marker) in posts {
        let r = c.request(&post(&format!("/devices/{device}"), marker.as_bytes()));
        r.assert_status(204);
    }
    drop(c);
    // A clean stop, so that strace has written everything when it exits after its tracee.
    kill(Pid::from_raw(sluice), Signal::SIGTERM).expect("SIGTERM sluice");
    let status = server
        .wait_exit(IO_TIMEOUT)
        .expect("strace exits with sluice");
    assert!(status.success(), "strace/sluice exit: {status:?}");
    let trace = fs::read_to_string(&trace_path).expect("read strace output");
    let lines: Vec<&str> = trace.lines().collect();
    let shown = || trace.lines().collect::<Vec<_>>().join("\n");

    let replies: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            (l.contains("socket:[") || l.contains("TCP:")) && l.contains("HTTP/1.1 204")
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        replies.len(),
        posts.len(),
        "one 204 per POST in:\n{}",
        shown()
    );

    let dir = format!("{data_str}>");
    let dir_sync = lines
        .iter()
        .position(|l| l.contains(" fsync(") && l.contains(&dir))
        .unwrap_or_else(|| panic!("no fsync of {dir} in:\n{}", shown()));
    assert!(
        completion(&lines, dir_sync, "fsync") < replies[0],
        "the data directory was not synced before the first 204:\n{}",
        shown()
    );
    let log_path = format!("{data_str}/.sluice-wal>");
    let mut previous_reply = 0;
    for (k, (device, marker)) in posts.iter().enumerate() {
        let fd_path = format!("{data_str}/{device}>");
        let find = |what: &str, from: usize| {
            (from..lines.len())
                .find(|&i| lines[i].contains(what) && lines[i].contains(marker))
                .unwrap_or_else(|| panic!("no write of {marker} to {what} in:\n{}", shown()))
        };
        // The write(2) of the body to the log, the log's sync, then the device file.
        let logged = find(&log_path, 0);
        assert!(
            logged > previous_reply,
            "POST {k} logged before POST {} was answered",
            k.max(1) - 1
        );
        let sync = (logged + 1..lines.len())
            .find(|&i| lines[i].contains("fdatasync(") && lines[i].contains(&log_path))
            .unwrap_or_else(|| panic!("no fdatasync of the log after {marker}:\n{}", shown()));
        let sync_line = parse_line(lines[sync]).expect("strace line");
        let done = completion(&lines, sync, "fdatasync");
        let write = find(&fd_path, done);
        let reply = replies[k];
        assert!(
            done < write && write < reply,
            "POST {k} ({marker}): expected log sync done (line {done}) < device write (line \
             {write}) < 204 (line {reply}):\n{}",
            shown()
        );
        // The sync runs off the reactor thread.
        let reply_tid = parse_line(lines[reply]).expect("strace line").tid;
        assert_ne!(
            sync_line.tid, reply_tid,
            "fdatasync ran on the thread that answers connections"
        );
        println!(
            "POST {k}: logged line {logged}, fdatasync lines {sync}..={done} (thread {}), device write line {write}, 204 line {reply} (thread {reply_tid})",
            sync_line.tid
        );
        previous_reply = reply;
    }
    assert_eq!(
        read_device(data.path(), "synced-a").as_deref(),
        Some(&b"marker-7f3a1c-one\nmarker-7f3a1c-three\n"[..])
    );
}

/// The line at which the call `name` traced at line `at` completed (its `resumed` line if it
/// was interrupted by another thread's output); panics unless it returned 0.
fn completion(lines: &[&str], at: usize, name: &str) -> usize {
    let line = parse_line(lines[at]).expect("strace line");
    let done = if line.call.contains("<unfinished ...>") {
        let resumed = format!("<... {name} resumed>");
        (at + 1..lines.len())
            .find(|&i| {
                parse_line(lines[i])
                    .is_some_and(|l| l.tid == line.tid && l.call.starts_with(&resumed))
            })
            .unwrap_or_else(|| panic!("{name} at line {at} never resumed"))
    } else {
        at
    };
    assert!(
        lines[done].trim_end().ends_with("= 0"),
        "{name} failed: {}",
        lines[done]
    );
    done
}
