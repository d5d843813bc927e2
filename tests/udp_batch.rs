//! The UDP batch path: datagrams taken many per `recvmmsg`, one
//! `on_traffic` each with its own sender, and the batch's replies sent
//! together with `sendmmsg` (runs of equal-sized replies to one sender as one
//! GSO message). Each test holds the loop inside a "gate" datagram's
//! callback while it queues a burst, so the burst is waiting in the socket
//! when the loop next reads, and is served as (partial) batches.

mod util;

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::RawFd;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use netreactor::{Action, Conn, Engine, EventHandler};
use util::*;

/// Holds the loop in the callback of a datagram reading `gate` until the
/// test has queued its burst, then answers `gate`.
struct Gate {
    entered: Mutex<Sender<RawFd>>,
    release: Mutex<Receiver<()>>,
}

struct Burst {
    entered: Receiver<RawFd>,
    release: Sender<()>,
}

fn gate() -> (Gate, Burst) {
    let (entered_tx, entered) = channel();
    let (release, release_rx) = channel();
    (
        Gate {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        },
        Burst { entered, release },
    )
}

impl Gate {
    /// In a callback: true (after the test released the loop) for the
    /// gate datagram.
    fn pass(&self, conn: &mut Conn) -> bool {
        if conn.peek_all() != b"gate" {
            return false;
        }
        lock(&self.entered).send(conn.fd()).unwrap();
        lock(&self.release).recv_timeout(IO_TIMEOUT).unwrap();
        conn.echo_all();
        true
    }
}

impl Burst {
    /// Holds the loop in the gate, runs `queue` (which sends the burst),
    /// then lets the loop go and reads the gate's answer on `s`.
    fn send(&self, s: &UdpSocket, server: SocketAddr, queue: impl FnOnce(RawFd)) {
        s.send_to(b"gate", server).unwrap();
        let fd = self
            .entered
            .recv_timeout(IO_TIMEOUT)
            .expect("the loop never reached the gate");
        queue(fd);
        self.release.send(()).unwrap();
        assert_eq!(recv_datagram(s, server), b"gate");
    }
}

/// Echoes, and does what a datagram names: panic, close (after writing),
/// close_now (after writing), pause reading.
struct Moody(Gate);

impl EventHandler for Moody {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if self.0.pass(conn) {
            return Action::Continue;
        }
        let verb = conn.peek_all().to_vec();
        conn.echo_all();
        match &verb[..] {
            b"panic" => panic!("a bad datagram mid-batch"),
            b"close" => Action::Close,
            b"close_now" => {
                conn.close_now();
                Action::Continue
            }
            b"pause" => {
                conn.pause_reading();
                Action::Continue
            }
            _ => Action::Continue,
        }
    }
}

fn start(handler: Moody, read_buffer: usize) -> netreactor::EngineHandle {
    Engine::builder()
        .event_loops(1)
        .read_buffer_size(read_buffer)
        .start(handler, "udp://127.0.0.1:0")
        .unwrap()
}

#[test]
fn a_burst_from_three_senders_gets_one_reply_per_datagram_to_its_sender_in_order() {
    let (g, burst) = gate();
    let engine = start(Moody(g), 64 * 1024);
    let server = udp_addr(&engine);
    let clients: Vec<UdpSocket> = (0..3).map(|_| udp_client()).collect();
    // 70 datagrams: two full batches of 32 and a partial one of 6, the
    // senders interleaved and the sizes varied (1 byte up to 3,000, and an
    // empty one, served but answered by nothing: an empty echo is no reply).
    let msg = |c: usize, i: usize| -> Vec<u8> {
        let len = if i == 5 { 0 } else { (i * 41 + c * 7) % 3000 + 1 };
        (0..len).map(|k| (k + i + c) as u8).collect()
    };
    burst.send(&clients[0], server, |_| {
        for i in 0..70 {
            let c = i % 3;
            clients[c].send_to(&msg(c, i), server).unwrap();
        }
    });
    for i in (0..70).filter(|&i| i != 5) {
        let c = i % 3;
        assert_eq!(
            recv_datagram(&clients[c], server),
            msg(c, i),
            "datagram {i} of client {c}"
        );
    }
    wait_until(SETTLE, "every datagram and reply counted", || {
        let s = engine.stats();
        (s.datagrams_in, s.datagrams_out, s.datagrams_dropped) == (71, 70, 0)
    });
    engine.stop();
}

#[test]
fn an_oversize_datagram_mid_batch_is_dropped_and_the_rest_of_the_batch_is_served() {
    let (g, burst) = gate();
    let engine = start(Moody(g), 1024);
    let server = udp_addr(&engine);
    let s = udp_client();
    burst.send(&s, server, |_| {
        s.send_to(b"before", server).unwrap();
        s.send_to(&[b'x'; 1025], server).unwrap();
        s.send_to(b"after", server).unwrap();
        s.send_to(&[b'y'; 1024], server).unwrap();
    });
    assert_eq!(recv_datagram(&s, server), b"before");
    assert_eq!(recv_datagram(&s, server), b"after");
    assert_eq!(
        recv_datagram(&s, server),
        [b'y'; 1024],
        "exactly the buffer's size fits"
    );
    assert_eq!(engine.stats().datagrams_truncated, 1);
    engine.stop();
}

#[test]
fn a_panic_close_close_now_or_pause_mid_batch_ends_only_that_datagrams_turn() {
    let (g, burst) = gate();
    let engine = start(Moody(g), 64 * 1024);
    let server = udp_addr(&engine);
    let s = udp_client();
    let sent: [&[u8]; 9] = [b"a", b"panic", b"b", b"close", b"c", b"close_now", b"d", b"pause", b"e"];
    burst.send(&s, server, |_| {
        for m in sent {
            s.send_to(m, server).unwrap();
        }
    });
    // The panic's reply is dropped, close sends what came before it,
    // close_now drops its reply; pause ends with its turn.
    for want in [&b"a"[..], b"b", b"close", b"c", b"d", b"pause", b"e"] {
        assert_eq!(recv_datagram(&s, server), want);
    }
    // The socket reads on: the pause lasted one turn.
    assert_eq!(udp_round_trip(&s, server, b"next"), b"next");
    engine.stop();
}

#[test]
fn runs_of_equal_replies_to_one_sender_arrive_as_the_datagrams_they_were() {
    let (g, burst) = gate();
    let engine = start(Moody(g), 64 * 1024);
    let server = udp_addr(&engine);
    let s = udp_client();
    // A run of 20 × 100 bytes ended by a shorter one, a longer one (which
    // cannot join the run), a run of 1,400-byte replies (one GSO message
    // may not exceed 64 KiB: 46 of them would), and single bytes.
    let mut sent: Vec<Vec<u8>> = Vec::new();
    sent.extend((0..20u8).map(|i| vec![i; 100]));
    sent.push(vec![b's'; 37]);
    sent.push(vec![b'l'; 200]);
    sent.extend((0..8u8).map(|i| vec![i; 1400]));
    sent.extend((0..3u8).map(|i| vec![i]));
    burst.send(&s, server, |_| {
        for m in &sent {
            s.send_to(m, server).unwrap();
        }
    });
    for (i, want) in sent.iter().enumerate() {
        assert_eq!(&recv_datagram(&s, server), want, "reply {i}");
    }
    // 100 × 1,400 bytes: more than one GSO message may carry.
    let big: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 1400]).collect();
    for chunk in big.chunks(30) {
        burst.send(&s, server, |_| {
            for m in chunk {
                s.send_to(m, server).unwrap();
            }
        });
        for want in chunk {
            assert_eq!(&recv_datagram(&s, server), want);
        }
    }
    engine.stop();
}

/// Sets SO_NO_CHECK on `fd`: UDP then refuses GSO (`EINVAL`), as a device
/// without checksum offload does (`EIO`).
fn refuse_gso(fd: RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt on a live socket with a c_int value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_NO_CHECK: {}", std::io::Error::last_os_error());
}

/// Sends `data` from `s` to `to` as GSO segments of `segment` bytes.
fn send_gso(s: &UdpSocket, to: SocketAddr, data: &[u8], segment: u16) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(to) = to else { unreachable!() };
    // SAFETY: sockaddr_in is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = to.port().to_be();
    addr.sin_addr.s_addr = u32::from_ne_bytes(to.ip().octets());
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut control = [0u64; 3];
    // SAFETY: the header points at live locals for the call; the control
    // buffer is CMSG_SPACE(2) bytes, aligned for cmsghdr.
    let r = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(2) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(2) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
        libc::sendmsg(s.as_raw_fd(), &msg, 0)
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[test]
fn gso_refused_by_the_kernel_falls_back_to_single_datagrams_and_loses_none() {
    // The premise: this kernel takes a GSO send, and refuses it with
    // SO_NO_CHECK set (otherwise this test would prove nothing).
    let sink = udp_client();
    let probe = udp_client();
    send_gso(&probe, sink.local_addr().unwrap(), &[1; 300], 100).expect("this kernel supports UDP GSO");
    for _ in 0..3 {
        assert_eq!(recv_datagram(&sink, probe.local_addr().unwrap()), [1; 100]);
    }
    {
        use std::os::fd::AsRawFd;
        refuse_gso(probe.as_raw_fd());
    }
    let refused = send_gso(&probe, sink.local_addr().unwrap(), &[1; 300], 100).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EINVAL));

    let (g, burst) = gate();
    let engine = start(Moody(g), 64 * 1024);
    let server = udp_addr(&engine);
    let s = udp_client();
    for round in 0..3u8 {
        let sent: Vec<Vec<u8>> = (0..25u8).map(|i| vec![i ^ round; 500]).collect();
        burst.send(&s, server, |fd| {
            if round == 0 {
                refuse_gso(fd); // on the engine's own socket
            }
            for m in &sent {
                s.send_to(m, server).unwrap();
            }
        });
        for (i, want) in sent.iter().enumerate() {
            assert_eq!(&recv_datagram(&s, server), want, "round {round} reply {i}");
        }
    }
    wait_until(SETTLE, "every reply counted as sent", || {
        let st = engine.stats();
        (st.datagrams_out, st.datagrams_dropped) == (78, 0)
    });
    engine.stop();
}

/// Answers each datagram with the socket's SO_RCVBUF, in decimal.
struct RecvBuffer;

impl EventHandler for RecvBuffer {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let size = conn.recv_buffer_size().unwrap();
        conn.write(size.to_string().as_bytes());
        Action::Continue
    }
}

#[test]
fn udp_sockets_get_a_4_mib_receive_buffer_unless_the_builder_sets_one() {
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The kernel caps a request at rmem_max and reports twice what it
    // keeps (its bookkeeping overhead).
    let reported = |asked: usize| (asked.min(rmem_max) * 2).to_string().into_bytes();
    for (set, asked) in [(None, 4 * 1024 * 1024), (Some(64 * 1024), 64 * 1024)] {
        let mut builder = Engine::builder().event_loops(2);
        if let Some(bytes) = set {
            builder = builder.recv_buffer_size(bytes);
        }
        let engine = builder.start(RecvBuffer, "udp://127.0.0.1:0").unwrap();
        let server = udp_addr(&engine);
        // Several senders, so both loops' sockets are likely asked.
        for _ in 0..4 {
            assert_eq!(
                udp_round_trip(&udp_client(), server, b"?"),
                reported(asked),
                "set {set:?}"
            );
        }
        engine.stop();
    }
}
