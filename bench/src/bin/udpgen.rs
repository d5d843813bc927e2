//! UDP load generator, closed loop: `--conns C` connected client sockets,
//! each keeping `--pipeline P` datagrams of `--size S` bytes in flight
//! against an echo server, for `--warmup W` then `--duration D` seconds.
//! A socket that hears nothing for 100 ms refills its window (UDP may drop),
//! counted as `refilled` (datagrams sent again). Lost is counted, not
//! guessed: after the measured window the sockets stop sending and take
//! what is still coming until 200 ms pass without a reply, and `lost` is
//! every datagram sent (refills included) less every reply received, so a
//! window refilled after a stall that dropped nothing is not a loss. Every
//! reply is checked: each socket sends its own byte pattern, and a reply of
//! another length or other bytes is counted as `bad`, not as an echo. With
//! `--pid PID` it reads the server's CPU time from /proc before and after
//! the measured window. Prints one line:
//! `datagrams=N secs=T rate=R lost=L refilled=F bad=B server_user_us=U server_sys_us=K cpu_per_datagram_us=X`.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netreactor_bench::{parse_addr, proc_user_sys_us, Flags};

const USAGE: &str =
    "udpgen --addr IP:PORT [--conns 16] [--pipeline 1] [--size 64] [--duration 5] [--warmup 1] [--pid PID]";

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "conns", "pipeline", "size", "duration", "warmup", "pid"]);
    let addr = flags.get("addr").unwrap_or_else(|| flags.fail("--addr is required"));
    let addr = parse_addr(addr.trim_start_matches("udp://")).unwrap_or_else(|| flags.fail("bad --addr"));
    let conns: usize = flags.or("conns", 16usize).max(1);
    let pipeline: usize = flags.or("pipeline", 1usize).max(1);
    let size: usize = flags.or("size", 64usize).clamp(1, 65_000);
    let duration = Duration::from_secs_f64(flags.or("duration", 5.0f64));
    let warmup = Duration::from_secs_f64(flags.or("warmup", 1.0f64));
    let pid = flags.get("pid").map(str::to_owned);

    // One pattern per socket, so a reply sent to the wrong sender shows.
    let payloads: Vec<Vec<u8>> = (0..conns)
        .map(|i| vec![(i as u8).wrapping_mul(7) ^ 0x5a; size])
        .collect();
    let sockets: Vec<UdpSocket> = (0..conns)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.connect(addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    // SAFETY: plain epoll syscalls on descriptors owned by `sockets`.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    for (i, s) in sockets.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is valid for the call.
        unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let mut last_heard = vec![Instant::now(); conns];
    let mut sent = 0u64;
    let mut send = |s: &UdpSocket, payload: &[u8]| sent += u64::from(s.send(payload).is_ok());
    for (s, payload) in sockets.iter().zip(&payloads) {
        for _ in 0..pipeline {
            send(s, payload);
        }
    }
    let mut buf = vec![0u8; 65_536];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.max(1)];
    let start = Instant::now();
    let (mut measuring, mut counted, mut refilled, mut bad, mut received) = (false, 0u64, 0u64, 0u64, 0u64);
    let (mut window_start, mut cpu_start) = (start, None);
    loop {
        let now = Instant::now();
        if !measuring && now >= start + warmup {
            measuring = true;
            window_start = now;
            cpu_start = pid.as_deref().and_then(proc_user_sys_us);
        }
        if measuring && now >= window_start + duration {
            break;
        }
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 20) };
        for ev in &events[..n.max(0) as usize] {
            let i = ev.u64 as usize;
            while let Ok(k) = sockets[i].recv(&mut buf) {
                if buf[..k] == payloads[i][..] {
                    if measuring {
                        counted += 1;
                    }
                    received += 1;
                    send(&sockets[i], &payloads[i]);
                } else {
                    bad += 1;
                }
                last_heard[i] = Instant::now();
            }
        }
        let now = Instant::now();
        for (i, heard) in last_heard.iter_mut().enumerate() {
            if now.duration_since(*heard) > Duration::from_millis(100) {
                for _ in 0..pipeline {
                    send(&sockets[i], &payloads[i]);
                }
                refilled += pipeline as u64;
                *heard = now;
            }
        }
    }
    let secs = window_start.elapsed().as_secs_f64();
    let cpu_end = pid.as_deref().and_then(proc_user_sys_us);
    // Drain: nothing more is sent; what is still on its way is taken.
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(200) {
        // SAFETY: as above.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 20) };
        for ev in &events[..n.max(0) as usize] {
            let i = ev.u64 as usize;
            while let Ok(k) = sockets[i].recv(&mut buf) {
                if buf[..k] == payloads[i][..] {
                    received += 1;
                } else {
                    bad += 1;
                }
                quiet_since = Instant::now();
            }
        }
    }
    let lost = sent.saturating_sub(received);
    let (user, sys) = match (cpu_start, cpu_end) {
        (Some((u0, s0)), Some((u1, s1))) => (u1 - u0, s1 - s0),
        _ => (0, 0),
    };
    let per = if counted > 0 {
        (user + sys) as f64 / counted as f64
    } else {
        0.0
    };
    println!(
        "datagrams={counted} secs={secs:.3} rate={:.0} lost={lost} refilled={refilled} bad={bad} server_user_us={user} server_sys_us={sys} cpu_per_datagram_us={per:.3}",
        counted as f64 / secs
    );
}
