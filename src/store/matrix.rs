//! The vectors of a generation in memory: `rows × dimension` floats that an
//! update takes over from the generation it extends and grows in place,
//! rather than copying every previous vector into a new matrix (0.6 s of a
//! one-pair update at 300,000 pairs). An opened generation's matrix is an
//! anonymous mapping with a sixteenth more address space after its rows
//! (`segments::read_vectors`), so an update's rows are written where they
//! lie; past that room it is grown with `mremap` (Linux: the kernel moves
//! page tables, no float is copied, though a moved mapping loses its huge
//! pages), elsewhere copied.
//!
//! A generation opened for an update, or for a process that asks and exits,
//! maps its first vector file, the bulk of its rows, rather than reading it
//! (`segments::map_vectors`): the file is checked on a thread of its own
//! meanwhile (an update's from when it asks, [`Matrix::start_check`]), and
//! [`Matrix::verified`] says whether it was intact, and stayed so, before
//! anything taken from it is written or answered.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::SystemTime;

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// Row-major vectors, owned by one generation at a time; reads as a slice.
#[derive(Debug)]
pub struct Matrix {
    backing: Backing,
    /// Floats in use; a mapping may hold more (room to grow, or rows handed
    /// back by [`Matrix::truncate`]).
    len: usize,
    /// The check of a mapped file's bytes, when its first rows are one (a
    /// lock: it is asked through shared references, by every question).
    check: Option<Box<Mutex<FileCheck>>>,
}

/// A mapped file's check: its CRC, computed on a thread of its own, and
/// whether a page of it was lost under the mapping.
#[derive(Debug)]
pub(super) struct FileCheck {
    pub(super) path: PathBuf,
    /// The mapped file, to ask its length and time, and the length and
    /// modification time it had once mapped.
    pub(super) file: std::fs::File,
    pub(super) len: u64,
    pub(super) mtime: Option<SystemTime>,
    /// Starts a check that waits to be asked for (`segments::CheckStart`).
    pub(super) go: Option<Sender<()>>,
    /// Set when the check is dropped unasked: its thread stops reading.
    pub(super) stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(super) thread: Option<JoinHandle<Result<()>>>,
    /// A page was lost before the matrix left the mapping.
    pub(super) lost: bool,
    /// Why the check failed, once it has: every later ask is refused too.
    pub(super) failed: Option<String>,
}

impl Drop for FileCheck {
    /// Nobody can ask for the check any more: its thread, if it is still
    /// reading, stops (a one-shot engine's opening begun beside the plan
    /// and not wanted, `Engine::open_with`).
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Debug)]
enum Backing {
    Owned(Vec<f32>),
    /// A file's bytes copied into an anonymous mapping (writable, so that
    /// the next generation can grow it).
    Mapped(MmapMut),
    /// An anonymous mapping whose first pages are a file's private mapping
    /// (copy on write: nothing written reaches the file), its range guarded
    /// against the file's truncation. The guard is dropped, and the range
    /// unregistered, before the mapping is unmapped.
    FileMapped(super::sigbus::Guard, MmapMut),
}

impl Default for Matrix {
    fn default() -> Self {
        Matrix::from(Vec::new())
    }
}

impl From<Vec<f32>> for Matrix {
    fn from(v: Vec<f32>) -> Self {
        Matrix {
            len: v.len(),
            backing: Backing::Owned(v),
            check: None,
        }
    }
}

impl std::ops::Deref for Matrix {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        self.as_slice()
    }
}

impl Matrix {
    /// The first `floats` floats of an anonymous mapping (page aligned, at
    /// least that long).
    pub(super) fn mapped(m: MmapMut, floats: usize) -> Matrix {
        assert!(m.len() >= floats * 4, "a mapping shorter than its floats");
        Matrix {
            len: floats,
            backing: Backing::Mapped(m),
            check: None,
        }
    }

    /// The first `floats` floats of `m`, whose first pages are the private
    /// mapping of the file `check` reads.
    pub(super) fn file_mapped(
        m: MmapMut,
        guard: super::sigbus::Guard,
        floats: usize,
        check: FileCheck,
    ) -> Matrix {
        assert!(m.len() >= floats * 4, "a mapping shorter than its floats");
        Matrix {
            len: floats,
            backing: Backing::FileMapped(guard, m),
            check: Some(Box::new(Mutex::new(check))),
        }
    }

    /// Starts the check of the mapped file this matrix began as, where it
    /// waits to be asked for (an update's: after the walk of the data
    /// folder, so that the two do not share the cores).
    pub fn start_check(&self) {
        if let Some(check) = self.check.as_deref() {
            let mut check = check.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(go) = check.go.take() {
                // The thread has ended only if it could not start.
                let _ = go.send(());
            }
        }
    }

    /// Whether the mapped file this matrix began as (if any) was intact, and
    /// still is: waits for its check, then asks whether a page of it was
    /// lost since, or the file was shortened or written to (its length and
    /// modification time as when it was mapped). An error names the file.
    /// Asked before the rows are written anywhere and after, and before an
    /// answer read from them is given.
    pub fn verified(&self) -> Result<()> {
        let lost = matches!(&self.backing, Backing::FileMapped(guard, _) if guard.faulted());
        let Some(check) = self.check.as_deref() else {
            return Ok(());
        };
        let mut check = check.lock().unwrap_or_else(|p| p.into_inner());
        // Shortened, it lost pages, whether or not they were read since;
        // written to, its rows may differ from those its sum was taken of.
        let md = check
            .file
            .metadata()
            .map_err(|e| Error::io("reading", &check.path, e))?;
        check.lost |= lost || md.len() != check.len || md.modified().ok() != check.mtime;
        if let Some(go) = check.go.take() {
            let _ = go.send(());
        }
        if let Some(thread) = check.thread.take() {
            let checked = thread
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            if let Err(e) = checked {
                check.failed = Some(match &e {
                    Error::IndexCorrupt { reason, .. } => reason.clone(),
                    other => other.to_string(),
                });
                return Err(e);
            }
        }
        if let Some(reason) = &check.failed {
            return Err(Error::corrupt(&check.path, reason.clone()));
        }
        if check.lost {
            return Err(Error::corrupt(
                &check.path,
                "changed while it was read (truncated or written to)",
            ));
        }
        Ok(())
    }

    /// The floats in use.
    pub fn as_slice(&self) -> &[f32] {
        match &self.backing {
            Backing::Owned(v) => v,
            Backing::Mapped(m) | Backing::FileMapped(_, m) => {
                bytemuck::cast_slice(&m[..self.len * 4])
            }
        }
    }

    /// Appends `rows` (whole rows, row-major).
    pub fn extend_from_slice(&mut self, rows: &[f32]) {
        self.reserve(rows.len());
        let (at, end) = (self.len, self.len + rows.len());
        match &mut self.backing {
            Backing::Owned(v) => v.extend_from_slice(rows),
            Backing::Mapped(m) | Backing::FileMapped(_, m) => {
                bytemuck::cast_slice_mut(&mut m[at * 4..end * 4]).copy_from_slice(rows)
            }
        }
        self.len = end;
    }

    /// Makes room for `more` floats after those in use. A mapping is grown
    /// where it lies or moved by the kernel (on Linux), or copied into
    /// memory of its own where that fails.
    pub fn reserve(&mut self, more: usize) {
        let want = self.len + more;
        match &mut self.backing {
            Backing::Owned(v) => v.reserve(more),
            Backing::Mapped(m) => {
                if m.len() < want * 4 && !grow(m, want * 4) {
                    let v = copied(bytemuck::cast_slice(&m[..self.len * 4]), more);
                    self.backing = Backing::Owned(v);
                }
            }
            // Two mappings (the file's, then anonymous memory) cannot be
            // moved as one: past its room the matrix is copied, and whether
            // the file lost a page is remembered.
            Backing::FileMapped(guard, m) if m.len() < want * 4 => {
                let v = copied(bytemuck::cast_slice(&m[..self.len * 4]), more);
                if let Some(check) = self.check.as_deref_mut() {
                    check.get_mut().unwrap_or_else(|p| p.into_inner()).lost |= guard.faulted();
                }
                self.backing = Backing::Owned(v);
            }
            Backing::FileMapped(..) => {}
        }
    }

    /// Keeps the first `floats` floats (the rows handed back to the
    /// generation a failed extension took them from).
    pub fn truncate(&mut self, floats: usize) {
        if let Backing::Owned(v) = &mut self.backing {
            v.truncate(floats);
        }
        self.len = self.len.min(floats);
    }
}

/// `floats` in a new vector with room for `more`.
fn copied(floats: &[f32], more: usize) -> Vec<f32> {
    let mut v = matrix_with_capacity(floats.len() + more);
    v.extend_from_slice(floats);
    v
}

/// Grows the mapping to `bytes` where it lies or elsewhere (the kernel moves
/// its pages, copying none); false where it cannot.
#[cfg(target_os = "linux")]
fn grow(m: &mut MmapMut, bytes: usize) -> bool {
    // SAFETY: `m` is an anonymous mapping borrowed mutably here, so no
    // reference into it lives while it moves; the pages it gains read as
    // zeros (anonymous memory), and only `len` floats are ever read.
    let grown = unsafe { m.remap(bytes, memmap2::RemapOptions::new().may_move(true)) };
    if let Err(e) = &grown {
        log::debug!("the vectors' mapping cannot grow ({e}): copying them");
    }
    grown.is_ok()
}

#[cfg(not(target_os = "linux"))]
fn grow(_: &mut MmapMut, _: usize) -> bool {
    false
}

/// An empty matrix with room for `floats` floats, whose memory the kernel
/// is asked to back with huge pages where it can, as [`super::read_verified`]'s
/// copies are: an update fills a matrix as large as the index, and faulting
/// it in 4 KiB pages costs about as much as the copy itself.
pub fn matrix_with_capacity(floats: usize) -> Vec<f32> {
    let matrix: Vec<f32> = Vec::with_capacity(floats);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (matrix.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (matrix.as_ptr() as usize + floats * 4) & !(HUGE - 1);
        if end > start {
            // SAFETY: a hint about memory the vector owns (allocated, not yet
            // written): it changes how the kernel backs the range, never its
            // contents or who owns it.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(floats: &[f32]) -> Matrix {
        let mut m = memmap2::MmapOptions::new()
            .len(floats.len() * 4)
            .map_anon()
            .unwrap();
        m.copy_from_slice(bytemuck::cast_slice(floats));
        Matrix::mapped(m, floats.len())
    }

    #[test]
    fn a_taken_over_mapping_grows_keeping_its_rows() {
        let rows: Vec<f32> = (0..3000).map(|i| i as f32 * 0.5).collect();
        let mut m = mapping(&rows);
        // Past a page, then past many: the first rows stay as they were.
        m.extend_from_slice(&[1.0, 2.0, 3.0]);
        m.extend_from_slice(&vec![7.0; 100_000]);
        assert_eq!(m.len(), 103_003);
        assert_eq!(&m.as_slice()[..3000], &rows[..]);
        assert_eq!(&m.as_slice()[3000..3003], &[1.0, 2.0, 3.0]);
        assert!(m.as_slice()[3003..].iter().all(|&x| x == 7.0));
        #[cfg(target_os = "linux")]
        assert!(matches!(m.backing, Backing::Mapped(_)), "grown, not copied");
        // Handed back: the first rows only.
        m.truncate(3000);
        assert_eq!(m.as_slice(), &rows[..]);
        m.extend_from_slice(&[9.0]);
        assert_eq!(m.as_slice()[3000], 9.0);
        assert_eq!(m.len(), 3001);
    }

    #[test]
    fn an_owned_matrix_is_a_vector() {
        let mut m = Matrix::from(vec![1.0, 2.0]);
        m.extend_from_slice(&[3.0]);
        m.truncate(2);
        assert_eq!(m.as_slice(), &[1.0, 2.0]);
        assert!(!m.is_empty());
        assert!(Matrix::default().is_empty());
    }
}
