//! The system calls of the hot path: read into a `BytesMut`, send a gather
//! list without raising SIGPIPE, and wait on epoll.
//!
//! They enter the kernel through `syscall(2)` rather than glibc's `read`,
//! `send`, `sendmsg` and `epoll_wait` wrappers. Those four are thread
//! cancellation points: in a process with more than one thread (an engine
//! always has its acceptor and its loops) glibc brackets each call with
//! `__pthread_enable_asynccancel` / `__pthread_disable_asynccancel`, which
//! the echo profile put at 0.6-0.7% of the server's CPU, a fifth of all the
//! user-space time netreactor adds. netreactor never cancels threads, so the
//! brackets buy nothing; `syscall(2)` is not a cancellation point. On
//! x86-64 and AArch64 [`raw_syscall`] goes further and is the instruction
//! itself, inline (about 20 instructions less per call than libc's
//! `syscall`, three calls per echoed message).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::BytesMut;
use nix::libc::{self, c_long};

/// A system call with up to six arguments: `-1` with `errno` set on
/// failure, as `syscall(2)` returns.
///
/// On x86-64 and AArch64 this is the `syscall`/`svc` instruction itself,
/// inline: no call into libc, no argument shuffling for its variadic
/// signature, and `errno` written only on failure. Elsewhere it is libc's
/// `syscall(2)`.
///
/// # Safety
/// The arguments must be what the kernel expects for `nr` (pointers valid
/// for the lengths given, for the duration of the call).
#[inline(always)]
pub(crate) unsafe fn raw_syscall(nr: c_long, args: [c_long; 6]) -> c_long {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // SAFETY: forwarded to the caller.
        let ret = unsafe { kernel_syscall(nr, args) };
        if (-4095..0).contains(&ret) {
            // SAFETY: errno is this thread's; -ret is the kernel's error code.
            unsafe { *libc::__errno_location() = -ret as libc::c_int };
            return -1;
        }
        ret
    }
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    {
        // SAFETY: forwarded to the caller; the variadic arguments are all
        // c_long, which is how the kernel ABI takes them.
        unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) }
    }
}

/// The kernel's system call entry: returns the result, or `-errno`.
///
/// # Safety
/// As [`raw_syscall`].
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn kernel_syscall(nr: c_long, args: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the x86-64 Linux convention: number in rax, arguments in rdi,
    // rsi, rdx, r10, r8, r9; the result in rax; the instruction overwrites
    // rcx and r11. The kernel may read and write memory the arguments point
    // to (no `nomem`/`readonly`), and does not touch the user stack.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// The kernel's system call entry: returns the result, or `-errno`.
///
/// # Safety
/// As [`raw_syscall`].
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn kernel_syscall(nr: c_long, args: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the AArch64 Linux convention: number in x8, arguments in
    // x0-x5, the result in x0; nothing else is clobbered. The kernel may
    // read and write memory the arguments point to.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    Data(usize),
    Eof,
    WouldBlock,
}

/// One `read(2)` of at most `max` bytes appended to `buf` (reserving first).
#[inline(always)]
pub(crate) fn read_into(fd: BorrowedFd<'_>, buf: &mut BytesMut, max: usize) -> io::Result<ReadOutcome> {
    super::memory::reserve(buf, max);
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    let fd = fd.as_raw_fd() as c_long;
    loop {
        // SAFETY: `spare` is writable, uninitialised memory of at least `want`
        // bytes owned by `buf`; read(2) initialises the first `n` of them.
        let n = unsafe {
            raw_syscall(
                libc::SYS_read,
                [fd, spare.as_mut_ptr() as c_long, want as c_long, 0, 0, 0],
            )
        };
        if n > 0 {
            let n = n as usize;
            // SAFETY: the kernel initialised `n <= want` bytes past `len`.
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(ReadOutcome::Data(n));
        }
        if n == 0 {
            return Ok(ReadOutcome::Eof);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            _ => return Err(err),
        }
    }
}

/// Calls `f` with a gather list of the first `N` non-empty `pieces`;
/// returns what `f` returned and the bytes the list holds.
///
/// The list is built on the stack and left uninitialised past the pieces it
/// holds: zeroing all 64 entries of an initialised array cost 176
/// instructions per send, more than the rest of the send; a `Vec` would
/// allocate.
#[inline]
pub(crate) fn with_gather_list<'a, const N: usize, R>(
    pieces: impl Iterator<Item = &'a [u8]>,
    f: impl FnOnce(&[IoSlice<'a>]) -> R,
) -> (R, usize) {
    let mut list = [const { MaybeUninit::<IoSlice<'a>>::uninit() }; N];
    let (mut count, mut offered) = (0, 0);
    for (slot, piece) in list.iter_mut().zip(pieces.filter(|p| !p.is_empty())) {
        slot.write(IoSlice::new(piece));
        offered += piece.len();
        count += 1;
    }
    // SAFETY: the first `count` entries were written just above, and
    // MaybeUninit<T> has T's layout.
    let slices = unsafe { std::slice::from_raw_parts(list.as_ptr().cast::<IoSlice<'a>>(), count) };
    (f(slices), offered)
}

/// One `send`/`sendmsg` with MSG_NOSIGNAL: a peer that reset the connection
/// yields EPIPE instead of killing the process. Returns bytes written;
/// `Ok(0)` for EAGAIN when `slices` is non-empty.
#[inline]
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let fd = fd.as_raw_fd() as c_long;
    let flags = (libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) as c_long;
    loop {
        let n = if slices.len() == 1 {
            let (ptr, len) = (slices[0].as_ptr() as c_long, slices[0].len() as c_long);
            // SAFETY: the pointer and length describe one live, initialised
            // slice; sendto with no address is send(2).
            unsafe { raw_syscall(libc::SYS_sendto, [fd, ptr, len, flags, 0, 0]) }
        } else {
            // SAFETY: IoSlice is ABI-compatible with iovec; the array lives for
            // the call and msghdr is zeroed except for the gather list.
            unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = slices.len() as _;
                let msg = &msg as *const libc::msghdr as c_long;
                raw_syscall(libc::SYS_sendmsg, [fd, msg, flags, 0, 0, 0])
            }
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(err),
        }
    }
}
