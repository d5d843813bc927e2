//! Giving freed memory back to the system.
//!
//! A buffer that grew for a huge message is freed into the allocator, which
//! keeps it: glibc raises its mmap threshold after the first big free (up
//! to 32 MiB), so later big buffers come from the loop threads' arenas,
//! whose tops it does not shrink below its trim threshold, and whose free
//! chunks stay resident until `malloc_trim`. A flood of huge partial frames
//! would leave its peak RSS behind. So a big buffer's pages are handed back
//! (`MADV_DONTNEED`) just before it is freed, and a loop that freed one
//! calls `malloc_trim` when it next goes idle. A buffer growing for one
//! moves rather than `realloc`s, its old pages handed back the same way.
//! None of this changes how the allocator serves the rest of the program.

use bytes::BytesMut;

/// Buffers at least this big give their pages back when released, and grow
/// by moving (see [`reserve`]). A huge message passes through every size
/// on its way up: with 1 MiB here, the chunks left behind at 128 KiB to
/// 1 MiB, merged into an arena's top, kept 4 to 6 MiB resident after a
/// flood in one run of `tests/memory_after_flood.rs` in six.
const RELEASE_PAGES_BYTES: usize = 128 * 1024;

/// A loop that released a buffer at least this big calls `malloc_trim` when
/// it next goes idle (for what the allocator freed around it unreturned).
pub(crate) const TRIM_AFTER_BYTES: usize = 1024 * 1024;

/// Bytes at each end of a buffer left alone: the allocator keeps its own
/// bookkeeping next to (and, once the chunk is free, in the first bytes of)
/// the memory it handed out.
const ALLOCATOR_MARGIN: usize = 64;

/// Makes room for `additional` more bytes in `buf`. A big buffer first
/// takes back the front it has consumed, in place, as `BytesMut::reserve`
/// would; failing that, it grows by moving to a new one twice its size, its
/// old pages handed back before the old one is freed: `realloc` would free it as it is, and glibc merges a
/// freed chunk that ends up next to the top of a loop thread's arena into
/// that top, which `malloc_trim` never shrinks there (only the main arena's),
/// so its pages would stay resident after the connection went.
#[inline]
pub(crate) fn reserve(buf: &mut BytesMut, additional: usize) {
    if buf.capacity() - buf.len() >= additional {
        return;
    }
    if buf.capacity() < RELEASE_PAGES_BYTES {
        buf.reserve(additional);
    } else if !buf.try_reclaim(additional) {
        // Not even with the consumed front taken back in place: move.
        grow(buf, additional);
    }
}

/// [`reserve`] for a buffer already big enough to move when it grows, and
/// nothing for a smaller one: what a decoder will reserve in it, made first.
#[inline]
pub(crate) fn reserve_if_big(buf: &mut BytesMut, additional: usize) {
    if buf.capacity() >= RELEASE_PAGES_BYTES {
        reserve(buf, additional);
    }
}

#[cold]
fn grow(buf: &mut BytesMut, additional: usize) {
    let wanted = buf.len().checked_add(additional).expect("buffer size overflows usize");
    let mut grown = BytesMut::with_capacity(wanted.max(buf.capacity().saturating_mul(2)));
    grown.extend_from_slice(buf);
    release_pages(&mut std::mem::replace(buf, grown));
}

/// Frees `buf`; if it is big, first hands the whole pages inside it back to
/// the system, so its memory leaves the process's RSS at once whatever the
/// allocator then does with the address range (it reads as zeros if reused).
pub(crate) fn release_buffer(mut buf: BytesMut) {
    if buf.capacity() >= RELEASE_PAGES_BYTES {
        release_pages(&mut buf);
    }
    drop(buf);
}

/// Hands the whole pages inside `buf`'s capacity back to the system; `buf`
/// must be dropped right after.
fn release_pages(buf: &mut BytesMut) {
    let page = page_size();
    let start = buf.as_mut_ptr() as usize;
    let first = (start + ALLOCATOR_MARGIN).next_multiple_of(page);
    let end = (start + buf.capacity() - ALLOCATOR_MARGIN) / page * page;
    if end > first {
        // SAFETY: [first, end) lies inside [start, start + capacity), which
        // a BytesMut owns exclusively whatever else shares its allocation
        // (`split_to`, `Frame::into_bytes` and the like hand out only the
        // front, before `start`). The caller drops this handle right after,
        // so nothing reads these bytes through it again; if other handles
        // keep the allocation alive, the range is spare capacity to them.
        // MADV_DONTNEED on private anonymous memory only drops the pages
        // (they read as zeros if touched again), which the allocator
        // tolerates.
        unsafe {
            nix::libc::madvise(first as *mut nix::libc::c_void, end - first, nix::libc::MADV_DONTNEED);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_buffer_moves_with_its_bytes_and_a_small_one_reallocates() {
        for cap in [
            0,
            1,
            4096,
            RELEASE_PAGES_BYTES - 1,
            RELEASE_PAGES_BYTES,
            3 * RELEASE_PAGES_BYTES,
        ] {
            let mut buf = BytesMut::with_capacity(cap);
            let data: Vec<u8> = (0..cap).map(|i| (i % 251) as u8).collect();
            buf.extend_from_slice(&data);
            let before = buf.as_ptr();
            reserve(&mut buf, 0);
            assert_eq!(buf.as_ptr(), before, "room enough: nothing moves ({cap})");
            reserve(&mut buf, 1);
            assert!(buf.capacity() > cap, "grew ({cap})");
            if cap >= RELEASE_PAGES_BYTES {
                assert_eq!(buf.capacity(), 2 * cap, "doubled ({cap})");
            }
            assert_eq!(&buf[..], &data[..], "bytes kept ({cap})");
            // The old pages are gone, the new ones writable.
            buf.extend_from_slice(b"!");
            assert_eq!(buf.last(), Some(&b'!'));
        }
    }

    #[test]
    fn reserve_if_big_leaves_a_small_buffer_alone() {
        let mut small = BytesMut::with_capacity(64);
        small.extend_from_slice(&[7; 64]);
        reserve_if_big(&mut small, 64 * 1024);
        assert_eq!(small.capacity(), 64);
        let mut big = BytesMut::with_capacity(RELEASE_PAGES_BYTES);
        big.extend_from_slice(&vec![7; RELEASE_PAGES_BYTES]);
        reserve_if_big(&mut big, 64 * 1024);
        assert!(big.capacity() - big.len() >= 64 * 1024);
        assert!(big.iter().all(|&b| b == 7));
    }
}
