//! Software prefetch: start loading the next event's connection while the
//! current one is handled (with thousands of connections, the first touch of
//! each one is otherwise a cache miss).

/// Hints the CPU to bring `*value` into cache. A no-op where unsupported.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (value as *const T).cast::<i8>();
        let mut offset = 0;
        while offset < std::mem::size_of::<T>() {
            // SAFETY: prefetch never faults and does not dereference in the
            // language's sense; the address lies inside `value`, a live reference.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(start.add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
