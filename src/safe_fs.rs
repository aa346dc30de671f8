//! File access that cannot be turned against the user: every read opens the
//! file first and then checks what was opened (a regular file, inside the
//! folder it must be in), reads through that descriptor only, and reads at
//! most a limit. Nothing here blocks on a FIFO or follows a link it should not.
//!
//! Writes create their file anew (`O_CREAT|O_EXCL|O_NOFOLLOW`): a link,
//! FIFO or device planted at the name is never written through; a temporary
//! name qasearch owns is cleared first (the link itself is removed, never
//! what it points at).
//!
//! Every file qasearch opens goes through here: the corpus (links may lead
//! anywhere inside the data folder, never outside, even when swapped while
//! we read), the index folder and the models folder (their files are never
//! links, never devices, never FIFOs; reads are bounded), the files a user
//! names (`--vectors-from`, `--model-file`, BEIR sets: links followed,
//! regular files only, bounded), exports and locks.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Opens for reading without blocking on FIFOs or devices (`O_NONBLOCK`);
/// with `follow` false, a symbolic link as the last component is refused.
fn open_nonblocking(path: &Path, follow: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    #[cfg(not(unix))]
    let _ = follow;
    options.open(path).map_err(|e| {
        // O_NOFOLLOW on a link fails with ELOOP: say so in words.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) && !follow {
            return invalid("is a symbolic link, which an index never holds");
        }
        e
    })
}

/// Opens a file that must be a regular file and not a symbolic link (the
/// files of an index). Returns the file and its length.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let file = open_nonblocking(path, false)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(invalid(format!(
            "is not a regular file ({})",
            kind_of(&md.file_type())
        )));
    }
    Ok((file, md.len()))
}

/// Reads a whole regular, non-link file of at most `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(invalid(format!(
            "{len} bytes, more than the {limit} allowed"
        )));
    }
    read_at_most(file, len, limit)
}

/// Reads through `file` until its end, failing past `limit` bytes (the file
/// may grow between `fstat` and the read).
fn read_at_most(file: File, expected: u64, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(expected.min(limit) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(invalid(format!("more than the {limit} bytes allowed")));
    }
    Ok(bytes)
}

/// A short name for a file type, for messages.
pub fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Why a corpus file was not read.
#[derive(Debug)]
pub enum Refused {
    /// Opening or reading failed.
    Io(io::Error),
    /// What was opened is not a regular file (a FIFO, a device, a folder).
    NotRegular(&'static str),
    /// What was opened lies outside the folder it must be in.
    Outside,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Io(e) => write!(f, "cannot read: {e}"),
            Refused::NotRegular(kind) => write!(f, "is {kind}, not a regular file"),
            Refused::Outside => write!(f, "symbolic link leads outside the data folder"),
        }
    }
}

/// Reads a corpus file that must be a regular file lying inside `canon_root`
/// (already canonical). The file is opened first; then the opened file is
/// compared with what its path resolves to now, so a link swapped in between
/// (a race) can never make us read a file outside the folder, and a FIFO
/// swapped in never blocks.
pub fn read_inside(path: &Path, canon_root: &Path) -> Result<Vec<u8>, Refused> {
    let file = open_nonblocking(path, true).map_err(Refused::Io)?;
    let md = file.metadata().map_err(Refused::Io)?;
    if !md.is_file() {
        return Err(Refused::NotRegular(kind_of(&md.file_type())));
    }
    let real = path.canonicalize().map_err(Refused::Io)?;
    if !real.starts_with(canon_root) {
        return Err(Refused::Outside);
    }
    // The path resolves inside now; is that the file we opened?
    let now = std::fs::metadata(&real).map_err(Refused::Io)?;
    if !same_file(&md, &now) {
        return Err(Refused::Outside);
    }
    read_at_most(file, md.len(), u64::MAX).map_err(Refused::Io)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Opens a file the user named (a link is followed: it is theirs) for
/// reading: a regular file only, without blocking on a FIFO or a device.
pub fn open_user_file(path: &Path) -> io::Result<File> {
    let file = open_nonblocking(path, true)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(invalid(format!(
            "is {}, not a regular file",
            kind_of(&md.file_type())
        )));
    }
    Ok(file)
}

/// A line read with [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line, without its `\n` (or `\r\n`).
    Bytes(Vec<u8>),
    /// A line longer than allowed (its length), skipped to its end.
    TooLong(usize),
}

/// The next line of `input`, holding at most `max` bytes of it in memory
/// whatever its length (a longer one is skipped to its end and reported);
/// `None` at the end of input. The last line needs no `\n`.
pub fn read_line(input: &mut impl io::BufRead, max: usize) -> io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut seen = 0usize;
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then(|| finish_line(line, seen, max)));
        }
        any = true;
        let (chunk, ends) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        seen = seen.saturating_add(chunk.len());
        if seen <= max {
            line.extend_from_slice(chunk);
        } else {
            line = Vec::new();
        }
        let used = ends.unwrap_or(buf.len());
        input.consume(used);
        if ends.is_some() {
            return Ok(Some(finish_line(line, seen, max)));
        }
    }
}

fn finish_line(mut line: Vec<u8>, seen: usize, max: usize) -> Line {
    if seen > max {
        return Line::TooLong(seen);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Line::Bytes(line)
}

/// Reads a whole file the user named ([`open_user_file`]), of at most
/// `limit` bytes.
pub fn read_user_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_user_file(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(invalid(format!(
            "{len} bytes, more than the {limit} allowed"
        )));
    }
    read_at_most(file, len, limit)
}

/// Creates `path` for writing, failing if anything is there already and
/// never through a link (`O_CREAT|O_EXCL|O_NOFOLLOW`).
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
    }
    options.open(path)
}

/// Opens an existing file qasearch wrote, for writing in place: never
/// through a link, never blocking on a FIFO; it must be a regular file.
pub fn open_own_for_write(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = options.open(path)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(invalid(format!(
            "is not a regular file ({})",
            kind_of(&md.file_type())
        )));
    }
    Ok(file)
}

/// Removes whatever is at a name qasearch owns before it writes there: a
/// file, a link (not what it points at), a FIFO, a socket. A folder is left
/// alone and reported (it may hold someone's files).
pub fn clear(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(md) if md.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is a folder where qasearch writes a file of its own: move it away or remove it (rm -r)",
                path.display()
            ),
        )),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Writes `bytes` to `path` as a new file ([`clear`] it first when the name
/// is a temporary qasearch owns) and syncs it to disk.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = create_new(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Opens (creating) a lock file: never through a link, never blocking on a
/// FIFO; it must be a regular file.
pub fn open_lock(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return invalid(
                "is a symbolic link, not a lock file: remove it (qasearch makes its own)",
            );
        }
        e
    })?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(invalid(format!(
            "is {}, not a lock file: remove it (qasearch makes its own)",
            kind_of(&md.file_type())
        )));
    }
    Ok(file)
}

/// True when the path can be opened for reading now (as a regular file).
pub fn readable(path: &Path) -> bool {
    open_nonblocking(path, true)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_only_and_never_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        assert_eq!(read_limited(&file, 5).unwrap(), b"hello");
        assert!(read_limited(&file, 4).is_err());
        assert!(read_limited(dir.path(), 100).is_err());
        #[cfg(unix)]
        {
            let link = dir.path().join("l");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let e = read_limited(&link, 100).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
            assert!(read_limited(Path::new("/dev/zero"), 100).is_err());
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid C string; mkfifo has no other requirement.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = read_limited(&fifo, 100).unwrap_err();
            assert!(e.to_string().contains("FIFO"), "{e}");
            let root = dir.path().canonicalize().unwrap();
            assert!(matches!(
                read_inside(&fifo, &root),
                Err(Refused::NotRegular("a FIFO"))
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn writes_never_go_through_what_is_planted_at_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let name = dir.path().join("CURRENT.tmp");
        std::os::unix::fs::symlink(&target, &name).unwrap();
        assert!(create_new(&name).is_err());
        clear(&name).unwrap();
        write_new(&name, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::read(&name).unwrap(), b"new");
        std::fs::remove_file(&name).unwrap();
        let c = std::ffi::CString::new(name.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open_lock(&name).is_err());
        clear(&name).unwrap();
        std::fs::create_dir(&name).unwrap();
        let e = clear(&name).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        let lock = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        assert!(open_lock(&lock)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert!(read_user_file(Path::new("/dev/zero"), 10).is_err());
        assert_eq!(read_user_file(&target, 10).unwrap(), b"keep");
    }

    #[test]
    fn lines_are_bounded_whatever_their_length() {
        let input = b"one\r\ntwo\n\nxxxxxxxxxx\nlast";
        let mut r = io::BufReader::with_capacity(4, &input[..]);
        let mut got = Vec::new();
        while let Some(l) = read_line(&mut r, 5).unwrap() {
            got.push(l);
        }
        assert_eq!(
            got,
            [
                Line::Bytes(b"one".to_vec()),
                Line::Bytes(b"two".to_vec()),
                Line::Bytes(Vec::new()),
                Line::TooLong(10),
                Line::Bytes(b"last".to_vec()),
            ]
        );
        #[cfg(unix)]
        {
            // An endless line costs no memory: /dev/zero is refused first.
            assert!(open_user_file(Path::new("/dev/zero")).is_err());
            let mut zeros =
                io::BufReader::new(std::fs::File::open("/dev/zero").unwrap().take(50 << 20));
            assert_eq!(
                read_line(&mut zeros, 1 << 10).unwrap(),
                Some(Line::TooLong(50 << 20))
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn read_inside_refuses_what_lies_outside() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a"), b"inside").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("in")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        assert_eq!(read_inside(&root.join("in"), &root).unwrap(), b"inside");
        assert!(matches!(
            read_inside(&root.join("out"), &root),
            Err(Refused::Outside)
        ));
    }
}
