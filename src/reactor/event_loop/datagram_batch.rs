//! The UDP batch: a loop takes up to `BATCH_DATAGRAMS` datagrams from a
//! socket with one `recvmmsg`, serves them one `on_traffic` at a time (each
//! in a buffer of its own, lent to the handler as the read buffer is), keeps
//! each turn's reply, and sends the batch's replies with one `sendmmsg`,
//! runs of equal-sized replies to one sender as one GSO message.

use std::net::SocketAddr;

use crate::buffer::outbound::Outbound;
use crate::sys::recv_batch::RecvBatch;
use crate::sys::send_batch::SendBatch;

/// Datagrams taken with one `recvmmsg` (and replies sent with one
/// `sendmmsg`).
pub(super) const BATCH_DATAGRAMS: usize = 32;

/// A loop's buffers for the batch path, allocated with its first UDP socket.
#[derive(Debug)]
pub(super) struct UdpBatch {
    /// The headers and one buffer per datagram of a batch; each buffer is
    /// lent to the handler as the socket's inbound buffer for its
    /// datagram's turn.
    pub(super) recv: RecvBatch,
    pub(super) send: SendBatch,
    /// The replies kept from this batch's turns: a turn's outbound queue is
    /// swapped in whole (no copy), an emptied one swapped back out.
    pub(super) replies: Vec<(SocketAddr, Outbound)>,
    pub(super) queued: usize,
    /// Set while a batch is being served: the end of a turn keeps its reply.
    pub(super) open: bool,
    /// Runs of replies to one sender go as GSO messages; off for good once
    /// the kernel refuses one.
    pub(super) gso: bool,
}

impl UdpBatch {
    pub(super) fn new() -> UdpBatch {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        UdpBatch {
            recv: RecvBatch::new(BATCH_DATAGRAMS),
            send: SendBatch::new(BATCH_DATAGRAMS),
            replies: (0..BATCH_DATAGRAMS)
                .map(|_| (unspecified, Outbound::default()))
                .collect(),
            queued: 0,
            open: false,
            gso: true,
        }
    }
}
