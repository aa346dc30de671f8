//! Pages of a mapped file that vanish under the process read as zeros and
//! are reported, rather than killing it with SIGBUS.
//!
//! An update maps the previous generation's largest vector file instead of
//! reading it ([`super::Matrix`]). Should that file be truncated while the
//! mapping lives (by hand, or by another program: qasearch never changes a
//! generation's files), the next touch of a lost page raises SIGBUS, whose
//! default action kills the process, `serve` and `mcp` included, which
//! update in process. Each mapping registers its range here: a fault inside
//! one gets an anonymous page of zeros where the lost page was, the range is
//! marked faulted, and the update, which asks before it writes anything
//! taken from the mapping ([`super::Matrix::verified`]), fails as a damaged
//! index would. A fault outside every range goes to the handler that was
//! there before (Rust's own, or the default), as if this one did not exist.
//!
//! The handler only loads atomics and calls `mmap` and `sigaction`, system
//! calls that are safe in a signal handler on Linux.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// At most this many ranges at once (one per generation opened for an
/// update; a process rarely has more than one).
const SLOTS: usize = 32;

/// Marks a slot that is being filled or emptied: no address matches it.
const CLAIMED: usize = usize::MAX;

struct Slot {
    /// First byte, 0 when free.
    start: AtomicUsize,
    /// One past the last byte.
    end: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static RANGES: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The action before ours, written once before ours is installed.
struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);
// SAFETY: written once, inside `INSTALL`, before the handler that reads it
// can run; only read after.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new(MaybeUninit::uninit()));

/// A registered range; unregisters it when dropped (before the range is
/// unmapped: drop it first).
#[derive(Debug)]
pub struct Guard {
    slot: usize,
}

impl Guard {
    /// Registers `len` bytes at `start` (rounded out to whole pages). None
    /// where the handler cannot be installed or every slot is taken: the
    /// caller reads the file instead of mapping it.
    pub fn register(start: usize, len: usize) -> Option<Guard> {
        if !install() || len == 0 {
            return None;
        }
        let page = PAGE.load(Ordering::Relaxed);
        let end = start.checked_add(len)?.checked_next_multiple_of(page)?;
        let slot = RANGES.iter().position(|s| {
            s.start
                .compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })?;
        let s = &RANGES[slot];
        s.faulted.store(false, Ordering::Release);
        s.end.store(end, Ordering::Release);
        s.start.store(start & !(page - 1), Ordering::Release);
        Some(Guard { slot })
    }

    /// True once a page of the range was lost (and now reads as zeros).
    pub fn faulted(&self) -> bool {
        RANGES[self.slot].faulted.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let s = &RANGES[self.slot];
        s.start.store(CLAIMED, Ordering::Release);
        s.end.store(0, Ordering::Release);
        s.start.store(0, Ordering::Release);
    }
}

/// Installs the handler once; false where it could not be.
fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: `sysconf` has no preconditions; `sigaction` is given a
        // zeroed action with a handler of the signature SA_SIGINFO asks for,
        // and writes the previous action into memory only this code reads.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_sigbus;
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = (*PREVIOUS.0.get()).as_mut_ptr();
            if libc::sigaction(libc::SIGBUS, &action, previous) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for s in &RANGES {
        let start = s.start.load(Ordering::Acquire);
        if start == 0 || start == CLAIMED || addr < start || addr >= s.end.load(Ordering::Acquire) {
            continue;
        }
        // SAFETY: the page lies in a registered range, which its owner keeps
        // mapped while registered; a private anonymous page replaces the
        // lost one in place (no other mapping is touched), and reads as zeros.
        let zeros = unsafe {
            libc::mmap(
                (addr & !(page - 1)) as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            s.faulted.store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not ours (or no page to put there): the previous action takes the
    // signal when the faulting instruction runs again.
    // SAFETY: PREVIOUS was written before this handler was installed.
    unsafe {
        libc::sigaction(
            libc::SIGBUS,
            (*PREVIOUS.0.get()).as_ptr(),
            std::ptr::null_mut(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_page_lost_under_a_mapping_reads_as_zeros_and_is_reported() {
        let page = {
            install();
            PAGE.load(Ordering::Relaxed)
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..page * 3).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a fresh private mapping of a file this test owns.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.len(),
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(at, libc::MAP_FAILED);
        let guard = Guard::register(at as usize, bytes.len()).unwrap();
        // SAFETY: the mapping lives until the munmap below.
        let mapped = unsafe { std::slice::from_raw_parts(at as *const u8, bytes.len()) };
        assert_eq!(mapped[..page], bytes[..page], "read before the loss");
        assert!(!guard.faulted());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(page as u64)
            .unwrap();
        // The first page stays in the page cache; the other two are gone.
        let sum: u64 = mapped[page..].iter().map(|&b| b as u64).sum();
        assert_eq!(sum, 0, "lost pages read as zeros");
        assert!(guard.faulted(), "and the loss is reported");
        assert_eq!(mapped[..page], bytes[..page]);
        drop(guard);
        // SAFETY: nothing refers to the mapping any more.
        unsafe { libc::munmap(at, bytes.len()) };
    }
}
