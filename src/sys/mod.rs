//! Operating-system glue: every `unsafe` block and every `cfg(target_os)` of
//! the framework lives here (and in `buffer/`).

#[cfg(not(target_os = "linux"))]
compile_error!("netreactor drives epoll and eventfd directly and builds on Linux only");

pub(crate) mod epoll;
pub(crate) mod fdpass;
pub(crate) mod inspect;
pub(crate) mod io;
pub(crate) mod listen_fds;
pub(crate) mod memory;
pub(crate) mod prefetch;
pub(crate) mod recv_batch;
pub(crate) mod send_batch;
pub(crate) mod signal;
pub(crate) mod sockaddr;
pub(crate) mod socket;
pub(crate) mod waker;
