//! Giving freed memory back to the system.

/// Returns the allocator's free memory to the system (glibc's
/// `malloc_trim(0)`: free pages at the top of every arena, and whole free
/// pages inside them, are released). glibc keeps what large frees leave
/// behind once its dynamic mmap threshold has grown past them, so after a
/// burst of huge messages a process would otherwise hold its peak RSS. A
/// no-op on other C libraries.
pub(crate) fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes a padding size and touches only the
    // allocator's own state, under its locks; any thread may call it.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Makes every allocation of `threshold` bytes or more a mapping of its
/// own, returned to the system when freed (glibc's `M_MMAP_THRESHOLD`,
/// which also stops glibc raising the threshold by itself). Process-wide.
pub(crate) fn map_large_allocations(threshold: usize) {
    #[cfg(target_env = "gnu")]
    {
        let threshold = nix::libc::c_int::try_from(threshold).unwrap_or(nix::libc::c_int::MAX);
        // SAFETY: mallopt takes an option and a value and changes only the
        // allocator's parameters, under its lock; any thread may call it.
        if unsafe { nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, threshold) } != 1 {
            log::debug!("netreactor: mallopt(M_MMAP_THRESHOLD) refused");
        }
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = threshold;
}
