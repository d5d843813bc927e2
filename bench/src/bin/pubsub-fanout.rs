//! Pub/sub fan-out against a Redis-protocol server (benches/pubsub.sh).
//!
//! Opens `--subscribers` connections that SUBSCRIBE to one channel, read on
//! `--threads` threads each with its own epoll, and one publisher that
//! pipelines PUBLISH commands of `--size` payload bytes, never more than
//! `--window` messages ahead of the subscribers (so no server queues a
//! backlog, and none hits its output-buffer limit). Every PUBLISH reply
//! must count every subscriber, and at the end every subscriber must have
//! received exactly the bytes of every message, no more. Reports deliveries
//! (messages × subscribers) per second and, with `--server-pid`, the
//! server's CPU time per delivery.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netreactor_bench::{parse_addr, proc_cpu_us, proc_user_sys_us, raise_nofile_limit, Flags};

const USAGE: &str = "\
pubsub-fanout: one publisher, many subscribers of one channel

  --addr IP:PORT        server address (127.0.0.1:6379)
  --subscribers N       subscriber connections (1000)
  --size BYTES          payload bytes per message (64)
  --messages M          messages in the measured window (20000)
  --warmup M            messages before the window (2000)
  --pipeline K          PUBLISH commands in flight (16)
  --window W            most messages the publisher may be ahead of the average subscriber (256)
  --threads T           subscriber reader threads (1)
  --server-pid PID      report the server's CPU time per delivery (process CPU clock;
                        user/kernel split from utime/stime in /proc/PID/stat)
  --label NAME          copied into the output
  --json                one line of JSON instead of text";

const CHANNEL: &str = "fanout";

fn main() {
    let flags = Flags::parse(USAGE, &["json"]);
    flags.only(&[
        "addr",
        "subscribers",
        "size",
        "messages",
        "warmup",
        "pipeline",
        "window",
        "threads",
        "server-pid",
        "label",
        "json",
    ]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:6379")).unwrap_or_else(|| flags.fail("bad --addr"));
    let subscribers: usize = flags.or("subscribers", 1000);
    let size: usize = flags.or("size", 64);
    let messages: u64 = flags.or("messages", 20_000);
    let warmup: u64 = flags.or("warmup", 2_000);
    let pipeline: u64 = flags.or::<u64>("pipeline", 16).max(1);
    let window: u64 = flags.or::<u64>("window", 256).max(pipeline);
    let threads: usize = flags.or::<usize>("threads", 1).clamp(1, subscribers.max(1));
    let pid = flags.get("server-pid").map(str::to_owned);
    let label = flags.get("label").unwrap_or("server").to_owned();
    raise_nofile_limit();

    let message_len = message_bytes(size) as u64;
    let subs: Vec<TcpStream> = (0..subscribers).map(|_| subscribe(addr)).collect();
    let mut publisher = TcpStream::connect(addr).expect("connect the publisher");
    publisher.set_nodelay(true).expect("nodelay");
    wait_for_subscribers(&mut publisher, subscribers);

    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut shares: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        shares[i % threads].push(s);
    }
    let readers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || read_all(share, &received, &stop))
        })
        .collect();

    let per_message = message_len * subscribers as u64;
    let delivered = || received.load(Ordering::Relaxed) / per_message.max(1);
    let mut published = 0;
    let reply = format!(":{subscribers}\r\n").into_bytes();
    let mut publish = |count: u64, published: &mut u64| {
        let end = *published + count;
        while *published < end {
            while *published >= delivered() + window {
                std::thread::yield_now();
            }
            let batch = pipeline.min(end - *published);
            let mut out = Vec::new();
            for i in 0..batch {
                out.extend_from_slice(&publish_command(*published + i, size));
            }
            publisher.write_all(&out).expect("send PUBLISH");
            let mut replies = vec![0; reply.len() * batch as usize];
            publisher.read_exact(&mut replies).expect("PUBLISH replies");
            assert!(
                replies.chunks(reply.len()).all(|r| r == reply),
                "a PUBLISH did not reach every subscriber: {:?}",
                String::from_utf8_lossy(&replies[..reply.len().min(replies.len())])
            );
            *published += batch;
        }
    };
    let wait_delivered = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while received.load(Ordering::Relaxed) < n * per_message {
            assert!(Instant::now() < deadline, "deliveries stalled");
            std::thread::yield_now();
        }
    };

    publish(warmup, &mut published);
    wait_delivered(published);
    let cpu0 = pid.as_deref().and_then(proc_cpu_us);
    let split0 = pid.as_deref().and_then(proc_user_sys_us);
    let t0 = Instant::now();
    publish(messages, &mut published);
    wait_delivered(published);
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = pid.as_deref().and_then(proc_cpu_us);
    let split1 = pid.as_deref().and_then(proc_user_sys_us);
    // Nothing more may arrive than was published.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let total = received.load(Ordering::Relaxed);
    assert_eq!(
        total,
        published * per_message,
        "subscribers received more bytes than were published"
    );

    let deliveries = messages * subscribers as u64;
    let rate = deliveries as f64 / secs;
    let cpu_ns = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some((b - a) as f64 * 1000.0 / deliveries as f64),
        _ => None,
    };
    let kernel_share = match (split0, split1) {
        (Some((u0, s0)), Some((u1, s1))) if (u1 - u0) + (s1 - s0) > 0 => {
            Some((s1 - s0) as f64 / ((u1 - u0) + (s1 - s0)) as f64)
        }
        _ => None,
    };
    if flags.on("json") {
        println!(
            "{{\"label\":\"{label}\",\"subscribers\":{subscribers},\"size\":{size},\"messages\":{messages},\
             \"secs\":{secs:.4},\"deliveries_per_sec\":{rate:.0},\"publishes_per_sec\":{:.0},\
             \"server_cpu_ns_per_delivery\":{},\"kernel_share\":{}}}",
            messages as f64 / secs,
            cpu_ns.map_or("null".into(), |v| format!("{v:.1}")),
            kernel_share.map_or("null".into(), |v| format!("{v:.3}")),
        );
    } else {
        println!(
            "{label}: {subscribers} subscribers, {size}-byte payloads: {messages} messages in {secs:.2} s, \
             {rate:.0} deliveries/s, {:.0} publishes/s, server CPU {} ns/delivery (kernel {})",
            messages as f64 / secs,
            cpu_ns.map_or("?".into(), |v| format!("{v:.1}")),
            kernel_share.map_or("?".into(), |v| format!("{:.0}%", v * 100.0)),
        );
    }
}

/// A subscriber connection, subscribed (the confirmation read), non-blocking.
fn subscribe(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect a subscriber");
    s.write_all(&command(&[b"SUBSCRIBE", CHANNEL.as_bytes()]))
        .expect("SUBSCRIBE");
    let want = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{CHANNEL}\r\n:1\r\n", CHANNEL.len());
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).expect("the SUBSCRIBE reply");
    assert_eq!(got, want.as_bytes(), "unexpected SUBSCRIBE reply");
    s.set_nonblocking(true).expect("nonblocking");
    s
}

/// Polls PUBSUB NUMSUB until the server counts every subscriber.
fn wait_for_subscribers(publisher: &mut TcpStream, n: usize) {
    let want = format!("*2\r\n${}\r\n{CHANNEL}\r\n:{n}\r\n", CHANNEL.len());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publisher
            .write_all(&command(&[b"PUBSUB", b"NUMSUB", CHANNEL.as_bytes()]))
            .expect("NUMSUB");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"\r\n") || got.iter().filter(|&&b| b == b'\n').count() < 4 {
            let k = publisher.read(&mut buf).expect("NUMSUB reply");
            assert!(k > 0, "the server closed the publisher");
            got.extend_from_slice(&buf[..k]);
        }
        if got == want.as_bytes() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {:?} subscribed",
            String::from_utf8_lossy(&got)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads every socket of `share` until `stop`, adding the bytes to `received`.
fn read_all(mut share: Vec<TcpStream>, received: &AtomicU64, stop: &AtomicBool) {
    // SAFETY: epoll_create1 has no preconditions.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epfd >= 0, "epoll_create1");
    for (i, s) in share.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: valid epoll and socket fds, a valid event.
        assert_eq!(
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) },
            0
        );
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `events` is a valid buffer of its length.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 50) };
        for ev in &events[..n.max(0) as usize] {
            let s = &mut share[ev.u64 as usize];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("the server closed a subscriber"),
                    Ok(k) => {
                        received.fetch_add(k as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("subscriber read: {e}"),
                }
            }
        }
    }
    // SAFETY: our own epoll fd, closed once.
    unsafe { libc::close(epfd) };
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// PUBLISH of message `seq`: its number, then filler, `size` bytes in all.
fn publish_command(seq: u64, size: usize) -> Vec<u8> {
    let mut payload = format!("{seq:020}").into_bytes();
    payload.resize(size, b'.');
    command(&[b"PUBLISH", CHANNEL.as_bytes(), &payload])
}

/// The length of one message as a RESP2 subscriber receives it.
fn message_bytes(size: usize) -> usize {
    format!("*3\r\n$7\r\nmessage\r\n${}\r\n{CHANNEL}\r\n${size}\r\n", CHANNEL.len()).len() + size + 2
}
