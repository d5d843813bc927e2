//! Giving freed memory back to the system.
//!
//! A buffer that grew for a huge message is freed into the allocator, which
//! keeps it: glibc raises its mmap threshold after the first big free (up
//! to 32 MiB), so later big buffers come from the loop threads' arenas,
//! whose tops it does not shrink below its trim threshold, and whose free
//! chunks stay resident until `malloc_trim`. A flood of huge partial frames
//! would leave its peak RSS behind. So a big buffer's pages are handed back
//! (`MADV_DONTNEED`) just before it is freed, and a loop that freed one
//! calls `malloc_trim` when it next goes idle. Neither changes how the
//! allocator serves the rest of the program.

use bytes::BytesMut;

/// Buffers at least this big give their pages back when released.
pub(crate) const RELEASE_PAGES_BYTES: usize = 1024 * 1024;

/// Bytes at each end of a buffer left alone: the allocator keeps its own
/// bookkeeping next to (and, once the chunk is free, in the first bytes of)
/// the memory it handed out.
const ALLOCATOR_MARGIN: usize = 64;

/// Frees `buf`; if it is big, first hands the whole pages inside it back to
/// the system, so its memory leaves the process's RSS at once whatever the
/// allocator then does with the address range (it reads as zeros if reused).
pub(crate) fn release_buffer(mut buf: BytesMut) {
    let cap = buf.capacity();
    if cap >= RELEASE_PAGES_BYTES {
        let page = page_size();
        let start = buf.as_mut_ptr() as usize;
        let first = (start + ALLOCATOR_MARGIN).next_multiple_of(page);
        let end = (start + cap - ALLOCATOR_MARGIN) / page * page;
        if end > first {
            // SAFETY: [first, end) lies inside [start, start + cap), the
            // memory this BytesMut alone owns from its read position on (the
            // loop never splits the back of an inbound buffer off), and it
            // is freed right below: nothing reads it again. MADV_DONTNEED on
            // private anonymous memory only drops the pages (they read as
            // zeros if touched again), which the allocator tolerates.
            unsafe {
                nix::libc::madvise(first as *mut nix::libc::c_void, end - first, nix::libc::MADV_DONTNEED);
            }
        }
    }
    drop(buf);
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// Returns the allocator's free memory to the system (glibc's
/// `malloc_trim(0)`: free pages at the top of the main arena, and whole
/// free pages inside every arena). A no-op on other C libraries.
pub(crate) fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes a padding size and touches only the
    // allocator's own state, under its locks; any thread may call it.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
