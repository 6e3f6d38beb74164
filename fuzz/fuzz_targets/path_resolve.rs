//! Path resolution inside the served root (`sluice::files::resolve`).
//!
//! A small fixed tree is built once per process under the temp dir: files, a nested directory
//! with and without `index.html`, symlinks that stay inside the root (relative, absolute, and one
//! that climbs up and back in), symlinks that lead out (relative, absolute, to `/etc`, from a
//! nested directory), a dangling link, a self-loop, a Unix socket, and a sibling directory
//! `outside/` with a secret. The fuzzer's bytes are the request path.
//!
//! Oracle: whatever `resolve` opens is inside the root. For every `File` or `Directory` result the
//! opened descriptor's `/proc/self/fd/N` link must be the canonical root or lie below it, which
//! holds however the path was spelled or the links were followed. And no panics.
//!
//! The tree (a few KiB) is left in the temp dir when libFuzzer exits, named after the process id.
#![no_main]

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluice::http::error::RequestError;
use sluice::files::{resolve, Resolved, Root, Scratch};

struct Tree {
    root: Root,
    /// The canonical root, as `/proc/self/fd/N` names things below it.
    canonical: PathBuf,
}

static TREE: OnceLock<Tree> = OnceLock::new();

fn build_tree() -> Tree {
    let base = std::env::temp_dir().join(format!("sluice-fuzz-path-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let root = base.join("root");
    let outside = base.join("outside");
    let file = |p: &Path, text: &str| {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    file(&outside.join("secret.txt"), "secret\n");
    file(&outside.join("index.html"), "outside index\n");
    file(&root.join("index.html"), "root index\n");
    file(&root.join("file.txt"), "file\n");
    file(&root.join("a b.txt"), "space\n");
    file(&root.join("caf\u{e9}.txt"), "utf-8 name\n");
    file(&root.join("dir/nested/deep.txt"), "deep\n");
    file(&root.join("dir/nested/index.html"), "nested index\n");
    fs::create_dir_all(root.join("empty")).unwrap();
    let link = |target: &Path, at: &str| symlink(target, root.join(at)).unwrap();
    // Inside the root.
    link(Path::new("dir/nested"), "link_in");
    link(Path::new("file.txt"), "link_file");
    link(Path::new("../file.txt"), "dir/up_in");
    link(&root.join("dir"), "abs_in");
    // Leading out of it.
    link(Path::new("../outside"), "link_out");
    link(Path::new("../outside/secret.txt"), "link_secret");
    link(
        Path::new("../../../outside/secret.txt"),
        "dir/nested/escape",
    );
    link(&outside, "abs_out");
    link(Path::new("/etc"), "etc");
    link(Path::new("/"), "slash");
    // Broken.
    link(Path::new("nowhere"), "dangling");
    link(Path::new("loop"), "loop");
    // Not a file or directory: must be refused, never opened for serving.
    std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();

    let root = Root::open(&root).unwrap();
    let canonical = fs::canonicalize(root.path()).unwrap();
    Tree { root, canonical }
}

fuzz_target!(|input: &[u8]| {
    let Ok(raw_path) = std::str::from_utf8(input) else {
        return;
    };
    let tree = TREE.get_or_init(build_tree);
    let mut scratch = Scratch::default();
    match resolve(&tree.root, raw_path, &mut scratch) {
        Ok(Resolved::File(f)) => {
            let meta = f.file.metadata().unwrap();
            assert!(meta.is_file() && meta.len() == f.len);
            check_inside(tree, raw_path, &*f.file);
        }
        Ok(Resolved::Directory(d)) => {
            assert!(d.metadata().unwrap().is_dir());
            check_inside(tree, raw_path, &d);
        }
        Ok(Resolved::RedirectToSlash) => {}
        Err(RequestError::BadPath | RequestError::NotFound | RequestError::Forbidden) => {}
        // The tree is fixed and readable: no other failure is possible.
        Err(e) => panic!("{raw_path:?}: unexpected {e:?}"),
    }
});

/// The kernel's name for what `opened` refers to must be the root or below it.
fn check_inside(tree: &Tree, raw_path: &str, opened: &impl AsRawFd) {
    let fd_link = format!("/proc/self/fd/{}", opened.as_raw_fd());
    let real = fs::read_link(&fd_link).unwrap();
    assert!(
        real.starts_with(&tree.canonical),
        "{raw_path:?} opened {} outside the root {}",
        real.display(),
        tree.canonical.display()
    );
}
