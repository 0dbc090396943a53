//! Writing an app's files into its folder without ever following a
//! symbolic link: a container may plant links in a folder bind-mounted from
//! the app's folder, and the agent writes as root. Every folder on the way
//! is opened with `O_NOFOLLOW`, every file is written beside its place and
//! renamed over it (a rename replaces a link, it does not follow it).

use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, CWD};

fn dir_flags() -> OFlags {
    OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY
}

fn io(e: rustix::io::Errno, what: &str) -> std::io::Error {
    let kind = std::io::Error::from(e);
    if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
        return std::io::Error::new(
            kind.kind(),
            format!("{what} is a symbolic link or not a folder; AppOS does not write through it"),
        );
    }
    std::io::Error::new(kind.kind(), format!("{what}: {kind}"))
}

/// Opens the folder of `path` (relative, `/`-separated) under `root`,
/// creating missing folders when `create`.
fn parent(root: &OwnedFd, path: &str, create: bool) -> std::io::Result<(OwnedFd, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| std::io::Error::other("empty path"))?;
    let mut fd = rustix::fs::openat(root, ".", dir_flags(), Mode::empty())
        .map_err(|e| io(e, "the app's folder"))?;
    let mut walked = String::new();
    for d in dirs {
        walked = if walked.is_empty() {
            d.to_string()
        } else {
            format!("{walked}/{d}")
        };
        if create {
            match rustix::fs::mkdirat(&fd, *d, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io(e, &walked)),
            }
        }
        fd = rustix::fs::openat(&fd, *d, dir_flags(), Mode::empty()).map_err(|e| io(e, &walked))?;
    }
    Ok((fd, name.to_string()))
}

fn open_root(dir: &Path) -> std::io::Result<OwnedFd> {
    rustix::fs::openat(CWD, dir, dir_flags(), Mode::empty())
        .map_err(|e| io(e, &dir.display().to_string()))
}

/// Whether the regular file `name` in `parent` holds exactly `bytes` with `mode`.
fn same(parent: &OwnedFd, name: &str, bytes: &[u8], mode: Mode) -> bool {
    use std::io::Read as _;
    let Ok(fd) = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return false;
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
        || st.st_size as usize != bytes.len()
        || (st.st_mode & 0o777) != mode.as_raw_mode()
    {
        return false;
    }
    let mut have = Vec::with_capacity(bytes.len());
    std::fs::File::from(fd).read_to_end(&mut have).is_ok() && have == bytes
}

/// Writes each `(path, content, executable)` under `dir` (mode 0644, or
/// 0755), leaving a file that already holds that content as it is (a
/// container that bind-mounts it keeps seeing it). Returns whether any
/// file changed.
pub fn write<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8], bool)>,
) -> std::io::Result<bool> {
    let root = open_root(dir)?;
    let mut changed = false;
    for (path, bytes, executable) in files {
        let (parent, name) = parent(&root, path, true)?;
        let mode = Mode::from_raw_mode(if executable { 0o755 } else { 0o644 });
        if same(&parent, &name, bytes, mode) {
            continue;
        }
        changed = true;
        let tmp = format!(".{name}.appos-tmp");
        let _ = rustix::fs::unlinkat(&parent, tmp.as_str(), AtFlags::empty());
        let fd = rustix::fs::openat(
            &parent,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )
        .map_err(|e| io(e, path))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()?;
        // The umask may have narrowed the mode.
        rustix::fs::fchmod(&f, mode).map_err(|e| io(e, path))?;
        rustix::fs::renameat(&parent, tmp.as_str(), &parent, name.as_str())
            .map_err(|e| io(e, path))?;
    }
    Ok(changed)
}

/// Removes each file `path` under `dir` that is there (links included,
/// never their targets). Returns whether any was there.
pub fn remove<'a>(dir: &Path, paths: impl IntoIterator<Item = &'a str>) -> std::io::Result<bool> {
    let root = open_root(dir)?;
    let mut removed = false;
    for path in paths {
        // A folder on the way that is gone, or is now a link, holds nothing of ours.
        if let Ok((parent, name)) = parent(&root, path, false) {
            match rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::empty()) {
                Ok(()) => removed = true,
                Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::ISDIR) => {}
                Err(e) => return Err(io(e, path)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_files_and_never_follows_links() {
        let app = tempfile::tempdir().expect("app");
        let outside = tempfile::tempdir().expect("outside");
        assert!(write(
            app.path(),
            [
                ("conf/nginx.conf", &b"server {}"[..], false),
                ("run.sh", &b"#!/bin/sh"[..], true)
            ]
        )
        .expect("write"));
        // The same content again changes nothing, not even the inode a bind mount holds.
        use std::os::unix::fs::MetadataExt as _;
        let inode = std::fs::metadata(app.path().join("conf/nginx.conf"))
            .expect("meta")
            .ino();
        assert!(
            !write(app.path(), [("conf/nginx.conf", &b"server {}"[..], false)]).expect("write")
        );
        assert_eq!(
            std::fs::metadata(app.path().join("conf/nginx.conf"))
                .expect("meta")
                .ino(),
            inode
        );
        assert_eq!(
            std::fs::read(app.path().join("conf/nginx.conf")).expect("read"),
            b"server {}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(app.path().join("run.sh"))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        // A container replaced a file by a link to a server file: the link is replaced, the target untouched.
        std::fs::write(outside.path().join("shadow"), "root:x").expect("write");
        std::fs::remove_file(app.path().join("conf/nginx.conf")).expect("rm");
        std::os::unix::fs::symlink(
            outside.path().join("shadow"),
            app.path().join("conf/nginx.conf"),
        )
        .expect("link");
        assert!(write(app.path(), [("conf/nginx.conf", &b"new"[..], false)]).expect("write"));
        assert_eq!(
            std::fs::read_to_string(outside.path().join("shadow")).expect("read"),
            "root:x"
        );
        assert_eq!(
            std::fs::read(app.path().join("conf/nginx.conf")).expect("read"),
            b"new"
        );
        assert!(
            !std::fs::symlink_metadata(app.path().join("conf/nginx.conf"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        // A folder replaced by a link: refused, nothing written outside.
        std::fs::remove_dir_all(app.path().join("conf")).expect("rm");
        std::os::unix::fs::symlink(outside.path(), app.path().join("conf")).expect("link");
        let e = write(app.path(), [("conf/shadow", &b"pwned"[..], false)]).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "conf is a symbolic link or not a folder; AppOS does not write through it"
        );
        assert_eq!(
            std::fs::read_to_string(outside.path().join("shadow")).expect("read"),
            "root:x"
        );
        // Removing goes through no link either.
        assert!(remove(app.path(), ["conf/shadow", "run.sh", "missing/file"]).expect("remove"));
        assert!(outside.path().join("shadow").exists());
        assert!(!app.path().join("run.sh").exists());
    }
}
