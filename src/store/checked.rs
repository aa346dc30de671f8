//! A generation's file, checked against its sum, for the time it is
//! decoded. Files of a megabyte or more are mapped rather than read: the
//! metadata and the lexical postings of a million pairs (450 MB) were
//! copied out of the page cache into fresh memory, every page of it zeroed
//! and faulted in by the kernel first, only to be decoded into other
//! memory and dropped. Mapped, their pages are the page cache's.
//!
//! A mapped file truncated under the process would kill it with SIGBUS at
//! the next touch of a lost page; the mapping's range is guarded
//! ([`super::sigbus`]): a lost page reads as zeros and is reported. A
//! file written over in place would change the bytes under the decoding
//! unseen: its sum is taken again once the decoding is done (a pass over
//! pages just read: 23 GB/s here, 14 ms for 314 MB). Either way
//! [`Checked::decode`] turns what was decoded into damage of the file, as
//! a checksum mismatch would be: what is decoded is what was checked.
//! Where the guard cannot be had (another system, every slot taken), the
//! file is read as before.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::folder::read_failed;
use super::sigbus::Guard;
use super::FileSum;
use crate::error::{Error, Result};
use crate::safe_fs::{open_regular, read_limited};

/// Files from this size on are mapped.
const MAP_FROM: u64 = 1 << 20;

/// A file's bytes, checked against its sum.
pub(super) enum Checked {
    /// Mapped, its range guarded (the guard goes before the mapping),
    /// with the CRC-32 it was checked against.
    Mapped {
        guard: Guard,
        map: memmap2::Mmap,
        crc32: u32,
    },
    /// Read.
    Read(Vec<u8>),
}

impl Checked {
    /// The file at `path`, checked against `sum`: mapped when it is large,
    /// read otherwise.
    pub(super) fn read(path: &Path, sum: &FileSum) -> Result<Checked> {
        if sum.len >= MAP_FROM {
            if let Some(mapped) = mapped(path, sum)? {
                return Ok(mapped);
            }
        }
        let bytes = read_limited(path, sum.len.max(1)).map_err(|e| read_failed(path, e))?;
        if bytes.len() as u64 != sum.len || crc32fast::hash(&bytes) != sum.crc32 {
            return Err(mismatch(path));
        }
        Ok(Checked::Read(bytes))
    }

    /// The bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Checked::Mapped { map, .. } => map,
            Checked::Read(bytes) => bytes,
        }
    }

    /// `decode` of the bytes, its error as damage of the file at `path`;
    /// damage too when the mapped file changed meanwhile (a page lost, or
    /// bytes that no longer have its sum).
    pub(super) fn decode<T>(
        &self,
        path: &Path,
        decode: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let decoded = decode(self.bytes());
        if self.lost() {
            return Err(Error::corrupt(path, "changed while it was read"));
        }
        decoded.map_err(|e| Error::corrupt(path, e))
    }

    /// True once the mapped file lost a page or its bytes lost their sum.
    fn lost(&self) -> bool {
        match self {
            Checked::Mapped { guard, map, crc32 } => {
                // The pass may fault on a lost page: the mark is read after.
                crc32fast::hash(map) != *crc32 || guard.faulted()
            }
            Checked::Read(_) => false,
        }
    }
}

/// The file at `path` mapped and checked against `sum`; None where it
/// cannot be mapped and guarded.
fn mapped(path: &Path, sum: &FileSum) -> Result<Option<Checked>> {
    let Some((_, map, guard)) = map_guarded(path, sum)? else {
        return Ok(None);
    };
    let _ = map.advise(memmap2::Advice::Sequential);
    let checked = Checked::Mapped {
        guard,
        map,
        crc32: sum.crc32,
    };
    if checked.lost() {
        return Err(mismatch(path));
    }
    Ok(Some(checked))
}

/// The file at `path` (of `sum.len` bytes) mapped whole, its range
/// guarded, and the file it was opened as; None where it cannot be mapped
/// and guarded (an empty file among them). Nothing of it is read yet.
fn map_guarded(
    path: &Path,
    sum: &FileSum,
) -> Result<Option<(std::fs::File, memmap2::Mmap, Guard)>> {
    let (file, len) = open_regular(path).map_err(|e| read_failed(path, e))?;
    if len != sum.len {
        return Err(mismatch(path));
    }
    // SAFETY: a generation's files are never written once committed; a
    // truncation under the mapping is caught by the guard registered over
    // its whole range before any byte is read, and reported.
    let Ok(size) = usize::try_from(len) else {
        return Ok(None);
    };
    let Ok(map) = (unsafe { memmap2::MmapOptions::new().len(size).map(&file) }) else {
        return Ok(None);
    };
    let Some(guard) = Guard::register(map.as_ptr() as usize, map.len()) else {
        return Ok(None);
    };
    Ok(Some((file, map, guard)))
}

/// A generation's file mapped for as long as the generation answers, not
/// only while it is decoded: the graphs of a process that asks and exits
/// (`folder::open_mapped`), searched where they lie in the page cache
/// rather than copied into fresh memory first (at a million pairs, 476 MB
/// whose every page the kernel zeroed before the copy). Checked against
/// its sum once mapped; [`KeptFile::intact`] says whether it stayed as
/// checked, and an answer read from it is given only if it did
/// (`Snapshot::answers_verified`). What its bytes say is bounds-checked
/// where it is read, so bytes changed under it make a wrong walk at worst,
/// never a read out of bounds.
pub(crate) struct KeptFile {
    /// Unregistered before the mapping goes (fields drop in order).
    guard: Guard,
    map: memmap2::Mmap,
    path: PathBuf,
    file: std::fs::File,
    len: u64,
    mtime: Option<SystemTime>,
}

impl KeptFile {
    /// The file at `path` mapped and checked against `sum`; None where it
    /// cannot be mapped and guarded (it is read instead).
    pub(super) fn map(path: &Path, sum: &FileSum) -> Result<Option<KeptFile>> {
        let Some((file, map, guard)) = map_guarded(path, sum)? else {
            return Ok(None);
        };
        let _ = map.advise(memmap2::Advice::Sequential);
        // The time before the sum: a write after it moves the time.
        let mtime = file
            .metadata()
            .map_err(|e| read_failed(path, e))?
            .modified()
            .ok();
        let kept = KeptFile {
            guard,
            map,
            path: path.to_path_buf(),
            file,
            len: sum.len,
            mtime,
        };
        // The pass may fault on a lost page: the mark is read after.
        if crc32fast::hash(&kept.map) != sum.crc32 || kept.guard.faulted() {
            return Err(mismatch(path));
        }
        Ok(Some(kept))
    }

    /// Whether the file is still as it was checked: no page of it lost,
    /// its length and modification time unchanged. An error names it.
    pub(crate) fn intact(&self) -> Result<()> {
        let md = self
            .file
            .metadata()
            .map_err(|e| read_failed(&self.path, e))?;
        if self.guard.faulted() || md.len() != self.len || md.modified().ok() != self.mtime {
            return Err(Error::corrupt(
                &self.path,
                "changed while it was read (truncated or written to)",
            ));
        }
        Ok(())
    }
}

impl crate::index::mmap_graph::FileWords for KeptFile {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
}

impl std::fmt::Debug for KeptFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn mismatch(path: &Path) -> Error {
    Error::corrupt(path, "checksum mismatch (truncated or damaged)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(bytes: &[u8]) -> FileSum {
        FileSum {
            len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        }
    }

    #[test]
    fn a_large_file_is_mapped_a_small_one_read_both_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (large, small) = (dir.path().join("large.bin"), dir.path().join("small.bin"));
        let bytes: Vec<u8> = (0..MAP_FROM as usize + 5)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&large, &bytes).unwrap();
        std::fs::write(&small, &bytes[..100]).unwrap();
        let read = Checked::read(&large, &sum_of(&bytes)).unwrap();
        assert!(matches!(read, Checked::Mapped { .. }), "a megabyte: mapped");
        assert_eq!(read.bytes(), &bytes[..]);
        let len = read.decode(&large, |b| Ok(b.len())).unwrap();
        assert_eq!(len, bytes.len());
        let e = read
            .decode(&large, |_| Err::<(), _>("bad".into()))
            .unwrap_err();
        assert!(
            matches!(&e, Error::IndexCorrupt { .. }) && e.to_string().contains("bad"),
            "{e}"
        );
        let read = Checked::read(&small, &sum_of(&bytes[..100])).unwrap();
        assert!(matches!(read, Checked::Read(_)));
        assert_eq!(read.bytes(), &bytes[..100]);
        // Another sum, another length: damage, mapped or read.
        let other_crc = FileSum {
            crc32: !sum_of(&bytes).crc32,
            ..sum_of(&bytes)
        };
        for (path, sum) in [
            (&large, sum_of(&bytes[1..])),
            (&large, other_crc),
            (&small, sum_of(&bytes[..99])),
            (&small, sum_of(&bytes[1..101])),
        ] {
            let e = Checked::read(path, &sum).err().unwrap();
            assert!(matches!(e, Error::IndexCorrupt { .. }), "{e}");
        }
    }

    /// A mapped file cut short while it is decoded: the decoding reads
    /// zeros where its pages were, and the result is damage, not SIGBUS.
    /// Written over in place: no fault, and the result is damage too.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_mapped_file_cut_or_written_over_while_it_is_decoded_is_damage() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.bin");
        let open = || std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let cut = || open().set_len(4096).unwrap();
        let written_over = || open().write_all(&[8u8; 4096]).unwrap();
        for (megabytes, change) in [(4, &cut as &dyn Fn()), (2, &written_over)] {
            let bytes = vec![7u8; megabytes * MAP_FROM as usize];
            std::fs::write(&path, &bytes).unwrap();
            let read = Checked::read(&path, &sum_of(&bytes)).unwrap();
            assert!(matches!(read, Checked::Mapped { .. }));
            let e = read
                .decode(&path, |b| {
                    change();
                    Ok(b.iter().map(|&x| u64::from(x)).sum::<u64>())
                })
                .unwrap_err();
            assert!(e.to_string().contains("changed while it was read"), "{e}");
        }
    }
}
