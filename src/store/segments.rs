//! The vectors of a folder generation in several files, so that an update
//! writes only what it adds: the previous generation's files are linked
//! into the new one (hard links: same bytes, nothing copied) and the new
//! rows go into one file of their own.
//!
//! Files are kept in sizes that shrink geometrically towards the end, as in
//! a log-structured merge: an update writes its rows together with every
//! trailing file that is not more than [`GROWTH`] times their rows, in one
//! file. So a row is written again only when the rows after it have grown
//! to its file's size, about log₂ N times in all, and an index of N rows
//! holds at most about log₂ N files ([`MAX_FILES`] caps it).
//!
//! The first file is always `vectors.f32`; an index whose vectors are all
//! in it is written as before (format [`FORMAT_VERSION`]), one with several
//! files as format [`SEGMENTED_FORMAT`], which an earlier qasearch refuses
//! rather than misreads. Every file is checked against its CRC whenever
//! the generation is opened, linked or not: read for questions; for an
//! update, the first file is mapped and checked while the update runs
//! ([`map_vectors`]).

use std::path::{Path, PathBuf};

use super::*;
use crate::error::Result;
use crate::safe_fs;

/// A trailing file is written again with the new rows while it holds at
/// most this many times as many rows as the files after it (new rows
/// included).
pub const GROWTH: usize = 2;

/// At most this many files: an update that would make more merges more of
/// the trailing files with its rows.
pub const MAX_FILES: usize = 32;

/// The name of the file that starts at `generation`'s rows when it is not
/// the first: `vectors.000012.f32`.
pub fn vector_file_name(generation: u64) -> String {
    format!("vectors.{generation:06}.f32")
}

/// True for a name qasearch gives a file of vectors.
pub(super) fn is_vector_file(name: &str) -> bool {
    name == VECTORS
        || name
            .strip_prefix("vectors.")
            .and_then(|r| r.strip_suffix(".f32"))
            .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Of the previous files (their rows, in order), how many are kept as they
/// are when `new_rows` rows are appended: the rest are written again, with
/// the new rows, as one file.
pub fn kept_files(rows: &[usize], new_rows: usize) -> usize {
    let mut kept = rows.len();
    let mut after = new_rows;
    while kept > 0 && (rows[kept - 1] <= GROWTH * after || kept + 1 > MAX_FILES) {
        after += rows[kept - 1];
        kept -= 1;
    }
    kept
}

/// The previous generation's vector files, as an update may link them: its
/// folder, each file with its rows and sum, in order.
#[derive(Debug, Clone)]
pub struct VectorBase {
    dir: PathBuf,
    files: Vec<(VectorFile, FileSum)>,
    /// Every file of the previous generation with its sum (graph files are
    /// linked as vector files are: [`VectorBase::previous_file`]).
    sums: std::collections::BTreeMap<String, FileSum>,
}

impl VectorBase {
    /// The vector files of `previous` (a folder generation), when its rows
    /// are the first `kept_rows` of the next generation's.
    pub fn of(previous: &Snapshot, kept_rows: usize) -> Option<VectorBase> {
        if previous.remote.is_some() || kept_rows != previous.manifest.counts.rows {
            return None;
        }
        let files = previous
            .manifest
            .vector_files()
            .into_iter()
            .map(|f| {
                let sum = *previous.manifest.files.get(&f.name)?;
                Some((f, sum))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(VectorBase {
            dir: previous.dir.clone(),
            files,
            sums: previous.manifest.files.clone(),
        })
    }

    /// The previous generation's file `name` and its sum, when it has one.
    pub(crate) fn previous_file(&self, name: &str) -> Option<(PathBuf, FileSum)> {
        let sum = self.sums.get(name)?;
        Some((self.dir.join(name), *sum))
    }

    fn rows(&self) -> usize {
        self.files.iter().map(|(f, _)| f.rows).sum()
    }
}

/// One file of the vectors to be: linked from the previous generation, or
/// written from these rows' bytes.
pub(super) struct Part<'a> {
    pub(super) name: String,
    pub(super) rows: usize,
    pub(super) bytes: &'a [u8],
    /// The previous generation's file with these very bytes, and its sum.
    pub(super) link: Option<(PathBuf, FileSum)>,
}

impl GenerationWriter<'_> {
    /// Writes the generation's vectors (`rows × dim` floats), linking what
    /// `base` already holds (see the module's text); returns the files, in
    /// order, for [`Manifest::vector_files`] (empty: `vectors.f32` alone).
    /// One write step, however many files.
    pub fn write_vectors(
        &mut self,
        vectors: &[f32],
        dim: usize,
        base: Option<&VectorBase>,
    ) -> Result<Vec<VectorFile>> {
        let bytes = f32_as_bytes(vectors);
        let bytes: &[u8] = &bytes;
        let rows = vectors.len() / dim.max(1);
        let base = base.filter(|b| b.rows() <= rows);
        let parts = match base {
            None => vec![Part {
                name: VECTORS.to_string(),
                rows,
                bytes,
                link: None,
            }],
            Some(base) => {
                let parts = parts(base, bytes, rows, dim, self.generation());
                let linked = parts.iter().filter(|p| p.link.is_some()).count();
                check_rewritten(base, linked, bytes, dim)?;
                parts
            }
        };
        self.write_parts(&parts)?;
        Ok(match parts.len() {
            1 => Vec::new(),
            _ => parts
                .into_iter()
                .map(|p| VectorFile {
                    name: p.name,
                    rows: p.rows,
                })
                .collect(),
        })
    }
}

/// Checks that the rows of `base`'s files after the first `linked` (those
/// written again, merged with the new rows, rather than linked) are still
/// their files' own: each file's range of `bytes` against its recorded
/// CRC. Rows read from a mapping could have changed under the update (a
/// file shortened and grown again); they are never written with a fresh
/// sum. Small files in all but the update that merges everything.
fn check_rewritten(base: &VectorBase, linked: usize, bytes: &[u8], dim: usize) -> Result<()> {
    let row_bytes = dim * 4;
    let mut at: usize = base.files[..linked].iter().map(|(f, _)| f.rows).sum();
    for (file, sum) in &base.files[linked..] {
        let end = at + file.rows;
        let rows = bytes.get(at * row_bytes..end * row_bytes);
        if rows.is_none_or(|b| crc32fast::hash(b) != sum.crc32) {
            return Err(crate::Error::corrupt(
                base.dir.join(&file.name),
                "its rows changed while an update read them",
            ));
        }
        at = end;
    }
    Ok(())
}

/// The files of the next generation's vectors over `base`.
fn parts<'a>(
    base: &VectorBase,
    bytes: &'a [u8],
    rows: usize,
    dim: usize,
    generation: u64,
) -> Vec<Part<'a>> {
    let row_bytes = dim * 4;
    let old: Vec<usize> = base.files.iter().map(|(f, _)| f.rows).collect();
    let kept = kept_files(&old, rows - base.rows());
    let mut parts = Vec::with_capacity(kept + 1);
    let mut at = 0;
    for (file, sum) in &base.files[..kept] {
        let end = at + file.rows;
        parts.push(Part {
            name: file.name.clone(),
            rows: file.rows,
            bytes: &bytes[at * row_bytes..end * row_bytes],
            link: Some((base.dir.join(&file.name), *sum)),
        });
        at = end;
    }
    if at < rows || parts.is_empty() {
        parts.push(Part {
            name: match kept {
                0 => VECTORS.to_string(),
                _ => vector_file_name(generation),
            },
            rows: rows - at,
            bytes: &bytes[at * row_bytes..],
            link: None,
        });
    }
    parts
}

/// Links the file at `from` as `to` (a new name), when `from` is a regular
/// file of `len` bytes and the file system links; false (nothing left at
/// `to`) otherwise. Its bytes were written and synced by the generation
/// that made it; their CRC is checked whenever a generation holding them
/// is opened.
pub(super) fn link_file(from: &Path, to: &Path, len: u64) -> bool {
    let regular = |p: &Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file() && m.len() == len)
    };
    if !regular(from) || std::fs::hard_link(from, to).is_err() {
        return false;
    }
    if regular(to) {
        return true;
    }
    let _ = std::fs::remove_file(to);
    false
}

/// Reads the vector `files` of the generation in `dir` into one matrix,
/// each checked against its sum; `rows × dim` floats in all.
pub(super) fn read_vectors(
    dir: &Path,
    manifest: &Manifest,
    files: &[VectorFile],
    dim: usize,
    _: &Abandon,
) -> Result<Option<Matrix>> {
    let (wanted, total) = listed(dir, manifest, files, dim)?;
    let (floats, room) = ((total / 4) as usize, room_after(total));
    Ok(read_verified_writable(&wanted, total, room)?.map(|m| Matrix::mapped(m, floats)))
}

/// Room for an update's new rows after `total` bytes of vectors: a
/// sixteenth more, at least 8 MiB.
fn room_after(total: u64) -> usize {
    (total / 16).max(8 << 20) as usize
}

/// [`read_vectors`] for an update, which touches few of the rows: the first
/// file, the bulk of them, is mapped rather than read (copy on write, so
/// the update can still write after it), and checked against its sum on a
/// thread of its own while the update runs ([`Matrix::verified`] waits for
/// it); the other files are read after it and checked as they are read.
/// Where the file cannot be mapped, every file is read.
pub(super) fn map_vectors(
    dir: &Path,
    manifest: &Manifest,
    files: &[VectorFile],
    dim: usize,
    abandon: &Abandon,
) -> Result<Option<Matrix>> {
    map_vectors_checked(dir, manifest, files, dim, CheckStart::Now, abandon)
}

/// [`map_vectors`] whose check waits to be started ([`CheckStart::Asked`]):
/// an update's, whose walk of the data folder would share the cores with
/// it.
pub(super) fn map_vectors_check_later(
    dir: &Path,
    manifest: &Manifest,
    files: &[VectorFile],
    dim: usize,
    abandon: &Abandon,
) -> Result<Option<Matrix>> {
    map_vectors_checked(dir, manifest, files, dim, CheckStart::Asked, abandon)
}

/// When the check of a mapped file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckStart {
    /// As soon as the file is mapped.
    Now,
    /// When [`Matrix::start_check`] or [`Matrix::verified`] is first
    /// called; never when neither is.
    Asked,
}

fn map_vectors_checked(
    dir: &Path,
    manifest: &Manifest,
    files: &[VectorFile],
    dim: usize,
    start: CheckStart,
    abandon: &Abandon,
) -> Result<Option<Matrix>> {
    let (wanted, total) = listed(dir, manifest, files, dim)?;
    match wanted.split_first() {
        Some(((first, sum), rest))
            if cfg!(all(target_os = "linux", target_endian = "little")) && sum.len > 0 =>
        {
            let mapped = map_first(first, sum, total)?;
            let Some((mut m, guard, file)) = mapped else {
                return read_vectors(dir, manifest, files, dim, abandon);
            };
            let mut at = sum.len as usize;
            for (path, sum) in rest {
                let end = at + sum.len as usize;
                read_into(path, sum, &mut m[at..end])?;
                at = end;
            }
            let check = check_in_background(file, first, *sum, start, abandon)?;
            Ok(Some(Matrix::file_mapped(
                m,
                guard,
                (total / 4) as usize,
                check,
            )))
        }
        _ => read_vectors(dir, manifest, files, dim, abandon),
    }
}

/// Maps the file at `path` (`sum.len` bytes) privately at the start of an
/// anonymous mapping of `total` bytes and room after, its range guarded
/// against the file's truncation; with the file. None where it cannot be
/// mapped.
fn map_first(
    path: &Path,
    sum: &FileSum,
    total: u64,
) -> Result<Option<(memmap2::MmapMut, super::sigbus::Guard, std::fs::File)>> {
    use std::os::fd::AsRawFd;
    let (file, len) = safe_fs::open_regular(path).map_err(|e| read_failed(path, e))?;
    if len != sum.len {
        return Err(crate::Error::corrupt(
            path,
            format!("{len} bytes, expected {} (truncated?)", sum.len),
        ));
    }
    let size = usize::try_from(total)
        .ok()
        .and_then(|t| t.checked_add(room_after(total)))
        .ok_or_else(|| crate::Error::corrupt(path, "too large for this machine"))?;
    let mut m = memmap2::MmapOptions::new()
        .len(size)
        .map_anon()
        .map_err(|e| crate::Error::io("reading", path, e))?;
    let Some(guard) = super::sigbus::Guard::register(m.as_ptr() as usize, len as usize) else {
        return Ok(None);
    };
    // SAFETY: the range is the start of the anonymous mapping `m` owns (page
    // aligned, at least `len` bytes), replaced in place by the file's private
    // mapping; `m` unmaps both when dropped. Nothing else refers to it yet.
    // Private: writes after the file's bytes, in its last page, stay in this
    // process. A truncation under it is caught by the guard.
    let mapped = unsafe {
        libc::mmap(
            m.as_mut_ptr().cast(),
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            file.as_raw_fd(),
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        log::debug!(
            "{} cannot be mapped ({}): reading it",
            path.display(),
            std::io::Error::last_os_error()
        );
        return Ok(None);
    }
    Ok(Some((m, guard, file)))
}

/// Checks `file` (at `path`, the file mapped) against `sum` on a thread of
/// its own (read through a descriptor, never the mapping), from when
/// `start` says.
fn check_in_background(
    file: std::fs::File,
    path: &Path,
    sum: FileSum,
    start: CheckStart,
    abandon: &Abandon,
) -> Result<super::matrix::FileCheck> {
    let mine = file.try_clone().map_err(|e| read_failed(path, e))?;
    // Taken before the check reads a byte: a write after it changes the time.
    let mtime = mine
        .metadata()
        .map_err(|e| read_failed(path, e))?
        .modified()
        .ok();
    let owned = path.to_path_buf();
    // Its own flag (set when the check is dropped) and the opening's (set
    // when the opening is abandoned): one opening may map, drop and map
    // again (`retry_vanished`), and a check dropped must not abandon it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (dropped, abandoned) = (stop.clone(), abandon.0.clone());
    let stopped = move || {
        use std::sync::atomic::Ordering::Relaxed;
        dropped.load(Relaxed) || abandoned.load(Relaxed)
    };
    let (go, gate) = match start {
        CheckStart::Now => (None, None),
        CheckStart::Asked => {
            let (go, gate) = std::sync::mpsc::channel::<()>();
            (Some(go), Some(gate))
        }
    };
    let thread = std::thread::Builder::new()
        .name("qasearch-check".into())
        .spawn(move || {
            // The matrix dropped before its check was asked for: nothing
            // read from it is written or answered.
            if gate.is_some_and(|gate| gate.recv().is_err()) {
                return Ok(());
            }
            let t = std::time::Instant::now();
            let checked = check_file(file, &owned, &sum, &stopped);
            log::debug!(
                "{} checked in {:.1} ms",
                owned.display(),
                t.elapsed().as_secs_f64() * 1e3
            );
            checked
        })
        .map_err(|e| crate::Error::io("reading", path, e))?;
    Ok(super::matrix::FileCheck {
        path: path.to_path_buf(),
        file: mine,
        len: sum.len,
        mtime,
        go,
        stop,
        thread: Some(thread),
        lost: false,
        failed: None,
    })
}

/// The paths and sums of the vector `files` of the generation in `dir`,
/// each checked to hold its rows; and their bytes in all.
fn listed(
    dir: &Path,
    manifest: &Manifest,
    files: &[VectorFile],
    dim: usize,
) -> Result<(Vec<(PathBuf, FileSum)>, u64)> {
    let row_bytes = dim as u64 * 4;
    let mut wanted = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for f in files {
        let path = dir.join(&f.name);
        let sum = manifest.files.get(&f.name).ok_or_else(|| {
            crate::Error::corrupt(dir.join(MANIFEST), format!("lists no {}", f.name))
        })?;
        if sum.len != (f.rows as u64).saturating_mul(row_bytes) {
            return Err(crate::Error::corrupt(
                &path,
                format!("{} bytes for {} rows of {dim} floats", sum.len, f.rows),
            ));
        }
        total = total.saturating_add(sum.len);
        wanted.push((path, *sum));
    }
    Ok((wanted, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `adds` to a first file of `first` rows, as updates would;
    /// gives the files' rows at the end and the rows written in all.
    fn updates(first: usize, adds: impl IntoIterator<Item = usize>) -> (Vec<usize>, usize) {
        let (mut files, mut written) = (vec![first], first);
        for add in adds {
            let kept = kept_files(&files, add);
            let merged: usize = files[kept..].iter().sum::<usize>() + add;
            files.truncate(kept);
            if merged > 0 {
                files.push(merged);
            }
            written += merged;
        }
        (files, written)
    }

    #[test]
    fn small_updates_keep_the_big_files_and_few_files_in_all() {
        // A million rows, then ten thousand updates of four rows.
        let (files, written) = updates(1_000_000, std::iter::repeat_n(4, 10_000));
        assert_eq!(files[0], 1_000_000, "the first file is never written again");
        assert_eq!(files.iter().sum::<usize>(), 1_040_000);
        assert!(files.len() <= 15, "{files:?}");
        // Each of the 40,000 new rows is written again about log2(40,000/4)
        // times at most.
        let again = written - 1_000_000 - 40_000;
        assert!(again <= 40_000 * 14, "{again}");
        // Sizes shrink towards the end: each file is more than GROWTH times
        // the rows after it, but for the last.
        for i in 0..files.len() - 1 {
            let after: usize = files[i + 1..].iter().sum();
            assert!(files[i] > GROWTH * after, "{files:?}");
        }
    }

    #[test]
    fn an_update_as_big_as_the_files_after_one_rewrites_them_together() {
        assert_eq!(kept_files(&[100, 20, 3], 2), 2, "3 ≤ 2·2; 20 > 2·5");
        assert_eq!(kept_files(&[100, 10, 3], 2), 1, "3 ≤ 2·2, then 10 ≤ 2·5");
        assert_eq!(kept_files(&[100, 10, 3], 1), 3, "3 > 2·1: kept");
        assert_eq!(kept_files(&[100], 50), 0, "everything in one file again");
        assert_eq!(kept_files(&[], 7), 0);
        // Never more than MAX_FILES.
        let many: Vec<usize> = (0..MAX_FILES as u32).map(|i| 3usize.pow(31 - i)).collect();
        assert_eq!(kept_files(&many, 0), MAX_FILES - 1);
    }

    #[test]
    fn a_file_is_linked_only_when_it_is_a_regular_file_of_its_length() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.f32"), dir.path().join("b.f32"));
        std::fs::write(&from, [1u8; 8]).unwrap();
        assert!(!link_file(&from, &to, 9), "another length");
        assert!(!to.exists());
        assert!(link_file(&from, &to, 8));
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&from), ino(&to), "the same file");
        let link = dir.path().join("link.f32");
        std::os::unix::fs::symlink(&from, &link).unwrap();
        let to2 = dir.path().join("c.f32");
        assert!(
            !link_file(&link, &to2, 8),
            "a symbolic link is not followed"
        );
        assert!(!link_file(&dir.path().join("gone.f32"), &to2, 8));
        assert!(std::fs::symlink_metadata(&to2).is_err(), "nothing left");
    }

    #[test]
    fn a_file_that_cannot_be_linked_is_written_from_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (index, prev) = (dir.path().join("index"), dir.path().join("prev"));
        std::fs::create_dir(&prev).unwrap();
        // The previous file is not what its sum says (another length): the
        // rows in memory are written instead, and the new rows after them.
        std::fs::write(prev.join(VECTORS), [0u8; 4]).unwrap();
        let first = FileSum { len: 24, crc32: 0 };
        let base = VectorBase {
            dir: prev.clone(),
            files: vec![(
                VectorFile {
                    name: VECTORS.into(),
                    rows: 3,
                },
                first,
            )],
            sums: Default::default(),
        };
        let lock = WriterLock::acquire(&index).unwrap();
        let mut writer = lock.begin().unwrap();
        // Three rows of two floats, and a new one: the first file kept (by
        // the merge rule), the new row in a file of its own.
        let vectors = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let files = writer.write_vectors(&vectors, 2, Some(&base)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, [VECTORS, &vector_file_name(writer.generation())]);
        let sums = writer.file_sums();
        let first_bytes = f32_as_bytes(&vectors[..6]);
        assert_eq!(sums[VECTORS].len, 24);
        assert_eq!(sums[VECTORS].crc32, crc32fast::hash(&first_bytes));
        assert_eq!(
            sums[files[1].name.as_str()].crc32,
            crc32fast::hash(&f32_as_bytes(&vectors[6..]))
        );
    }

    #[test]
    fn vector_file_names_are_ours_only_in_their_own_form() {
        assert!(is_vector_file("vectors.f32"));
        assert!(is_vector_file(&vector_file_name(12)));
        assert_eq!(vector_file_name(12), "vectors.000012.f32");
        for other in [
            "vectors.12.f32",
            "vectors.000012.f64",
            "vectors.00001a.f32",
            "x.f32",
        ] {
            assert!(!is_vector_file(other), "{other}");
        }
    }

    /// The mapped file (one of an update's) reads as the file, grows past
    /// its room with its rows kept (copied: two mappings do not move as
    /// one), and its check finds a sum that is not the file's.
    #[cfg(all(target_os = "linux", target_endian = "little"))]
    #[test]
    fn a_mapped_file_reads_as_read_grows_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS);
        let floats: Vec<f32> = (0..5003).map(|i| i as f32 * 0.25).collect();
        let bytes: &[u8] = bytemuck::cast_slice(&floats);
        std::fs::write(&path, bytes).unwrap();
        let sum = FileSum {
            len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        };
        let mapped = |sum: FileSum| {
            let (m, guard, file) = map_first(&path, &sum, sum.len).unwrap().unwrap();
            let check = check_in_background(file, &path, sum, CheckStart::Now, &Abandon::default())
                .unwrap();
            Matrix::file_mapped(m, guard, floats.len(), check)
        };
        let mut matrix = mapped(sum);
        assert_eq!(matrix.as_slice(), &floats[..]);
        matrix.verified().unwrap();
        matrix.extend_from_slice(&[1.5; 7]);
        let past_room = room_after(sum.len) / 4;
        matrix.extend_from_slice(&vec![2.5; past_room]);
        assert_eq!(matrix.len(), floats.len() + 7 + past_room);
        assert_eq!(&matrix.as_slice()[..floats.len()], &floats[..]);
        assert_eq!(matrix.as_slice()[floats.len() + 6], 1.5);
        assert_eq!(matrix.as_slice()[floats.len() + 7], 2.5);
        matrix.verified().unwrap();
        // Nothing written to the matrix reached the file.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        let wrong = FileSum {
            crc32: sum.crc32 ^ 1,
            ..sum
        };
        let e = mapped(wrong).verified().unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
    }

    /// An update's check waits until it is started or asked for; dropped
    /// before that, its thread ends without reading the file.
    #[cfg(all(target_os = "linux", target_endian = "little"))]
    #[test]
    fn a_check_asked_for_later_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS);
        let floats: Vec<f32> = (0..4096).map(|i| i as f32).collect();
        std::fs::write(&path, bytemuck::cast_slice::<f32, u8>(&floats)).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        // A sum the file does not have: a check that ran fails.
        let wrong = FileSum { len, crc32: 7 };
        let waiting = || {
            let (m, guard, file) = map_first(&path, &wrong, len).unwrap().unwrap();
            let check =
                check_in_background(file, &path, wrong, CheckStart::Asked, &Abandon::default())
                    .unwrap();
            (m, guard, check)
        };
        let (m, guard, check) = waiting();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!check.thread.as_ref().unwrap().is_finished());
        let matrix = Matrix::file_mapped(m, guard, floats.len(), check);
        matrix.start_check();
        let e = matrix.verified().unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");

        // Asked for without being started: started then.
        let (m, guard, check) = waiting();
        let matrix = Matrix::file_mapped(m, guard, floats.len(), check);
        let e = matrix.verified().unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");

        // Never asked for: the thread ends, the file unread.
        let (_m, _guard, mut check) = waiting();
        let thread = check.thread.take().unwrap();
        drop(check);
        assert!(thread.join().unwrap().is_ok());
    }

    /// A check its owner dropped stops reading: what it would have found
    /// is nobody's to act on (a one-shot engine's opening begun beside the
    /// plan and not wanted).
    #[test]
    fn a_check_dropped_stops_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS);
        std::fs::write(&path, vec![1u8; 3 << 20]).unwrap();
        let wrong = FileSum {
            len: 3 << 20,
            crc32: 7,
        };
        let check = |stop: bool| {
            let file = std::fs::File::open(&path).unwrap();
            super::super::snapshot::check_file(file, &path, &wrong, &|| stop)
        };
        let e = check(false).unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
        // Told to stop, it reads nothing, and says so: a check stopped is
        // never taken for one passed.
        let e = check(true).unwrap_err();
        assert!(e.to_string().contains("not wanted"), "{e}");

        // The opening it belongs to abandoned, it stops with that error.
        let abandon = Abandon::default();
        abandon.set();
        let file = std::fs::File::open(&path).unwrap();
        let mut started =
            check_in_background(file, &path, wrong, CheckStart::Now, &abandon).unwrap();
        let e = started.thread.take().unwrap().join().unwrap().unwrap_err();
        assert!(e.to_string().contains("not wanted"), "{e}");

        // Dropped, it stops; and dropping it leaves the opening it belongs
        // to wanted (an opening maps again after a file vanished).
        let abandon = Abandon::default();
        let file = std::fs::File::open(&path).unwrap();
        let mut started =
            check_in_background(file, &path, wrong, CheckStart::Asked, &abandon).unwrap();
        let (stop, thread) = (started.stop.clone(), started.thread.take().unwrap());
        assert!(!stop.load(std::sync::atomic::Ordering::Relaxed));
        drop(started);
        assert!(stop.load(std::sync::atomic::Ordering::Relaxed));
        assert!(thread.join().unwrap().is_ok());
        assert!(abandon.check(&path).is_ok());
    }

    /// Rows of the previous files written again (merged, not linked) must
    /// be their files' own: a changed row is found, named by its file.
    #[test]
    fn rows_written_again_are_checked_against_their_files() {
        let dim = 4;
        let rows: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let bytes: Vec<u8> = bytemuck::cast_slice(&rows).to_vec();
        let file = |name: &str, from: usize, to: usize| {
            let sum = FileSum {
                len: ((to - from) * dim * 4) as u64,
                crc32: crc32fast::hash(&bytes[from * dim * 4..to * dim * 4]),
            };
            let f = VectorFile {
                name: name.into(),
                rows: to - from,
            };
            (f, sum)
        };
        let base = VectorBase {
            dir: PathBuf::from("gen-000002"),
            files: vec![file(VECTORS, 0, 8), file("vectors.000002.f32", 8, 10)],
            sums: Default::default(),
        };
        for linked in 0..=2 {
            check_rewritten(&base, linked, &bytes, dim).unwrap();
        }
        let mut changed = bytes.clone();
        changed[8 * dim * 4 + 1] ^= 1;
        for linked in 0..=1 {
            let e = check_rewritten(&base, linked, &changed, dim).unwrap_err();
            assert!(e.to_string().contains("vectors.000002.f32"), "{e}");
        }
        check_rewritten(&base, 2, &changed, dim).unwrap();
        changed[1] ^= 1;
        let e = check_rewritten(&base, 0, &changed, dim).unwrap_err();
        assert!(e.to_string().contains("gen-000002/vectors.f32"), "{e}");
        check_rewritten(&base, 1, &bytes, dim).unwrap();
        assert!(check_rewritten(&base, 0, &bytes[..100], dim).is_err());
    }
}
