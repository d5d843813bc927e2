//! A zero-downtime upgrade (SIGUSR2, the listener hand-off) of the HTTPS
//! example keeps its `tls://` listener TLS in the new process: a client
//! connected before finishes its exchange with the old process, clients
//! connecting throughout are all served over TLS (none refused, none
//! answered in plaintext), and one connecting after handshakes with the
//! new process. (The new process took the old one's `tls://` line for the
//! TCP socket it is; it was refused as "bound to tcp://…, not tls://…".)
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use netreactor::tls::rustls::pki_types::ServerName;
use netreactor::tls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use nix::sys::signal::Signal;
use util::process::{is_gone, read_pid, signal, Server, PROCESS_WAIT};
use util::tls::{client_config, pki};
use util::{examples, wait_until, IO_TIMEOUT};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr`, handshaken (any failure is an error).
fn tls_connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<Tls, String> {
    let tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(config.clone(), name).unwrap();
    let mut tcp = tcp;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| format!("handshake: {e}"))?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Sends one request and reads one whole response (headers and the
/// 13-byte body), returning it.
fn exchange(s: &mut Tls) -> Result<String, String> {
    s.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"Hello, World!") {
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&got)));
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(got).map_err(|e| e.to_string())?;
    if text.starts_with("HTTP/1.1 200 OK\r\n") {
        Ok(text)
    } else {
        Err(format!("not a 200: {text:?}"))
    }
}

#[test]
fn an_https_upgrade_keeps_the_listener_tls_and_refuses_no_client() {
    let pki = pki("upgrade_tls");
    let config = client_config(&pki, &[b"http/1.1"]);
    let mut server = Server::start(
        examples::binary("http"),
        &[
            "--addr",
            "tcp://127.0.0.1:0",
            "--loops",
            "1",
            "--drain-timeout",
            "20",
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
        &pki.dir,
        "https",
    );
    let addr = server.listening("Tls");
    let old = server.pid();

    let mut before = tls_connect(addr, &config).unwrap();
    exchange(&mut before).unwrap();

    // New TLS clients, one after another, throughout the upgrade.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let load = {
        let (stop, served, failures, config) = (stop.clone(), served.clone(), failures.clone(), config.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match tls_connect(addr, &config).and_then(|mut s| exchange(&mut s)) {
                    Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        0
                    }
                };
            }
        })
    };
    wait_until(PROCESS_WAIT, "the load is served", || {
        served.load(Ordering::Relaxed) >= 20
    });

    signal(old, Signal::SIGUSR2);
    wait_until(PROCESS_WAIT, "the new process rewrites the pid file", || {
        read_pid(&server.pid_file).is_some_and(|p| p != old)
    });
    let new = server.pid();
    server.pids.push(new);
    let at_upgrade = served.load(Ordering::Relaxed);
    wait_until(PROCESS_WAIT, "clients are served after the upgrade", || {
        served.load(Ordering::Relaxed) >= at_upgrade + 20
    });

    // The client from before finishes with the old process, which is
    // draining: the answer says so, and the connection ends with a
    // close_notify (read_to_end fails on a bare FIN).
    let answer = exchange(&mut before).unwrap();
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    let mut rest = Vec::new();
    before
        .read_to_end(&mut rest)
        .expect("close_notify from the old process");
    server.wait_gone(old);

    // After the old one has gone: the new process handshakes and serves.
    let mut after = tls_connect(addr, &config).expect("the new process speaks TLS");
    exchange(&mut after).unwrap();
    assert_eq!(after.conn.alpn_protocol(), Some(&b"http/1.1"[..]));

    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} clients failed: {:?}\n{}",
        failures.len(),
        served.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)],
        server.log_text()
    );
    assert!(!is_gone(new));
    drop(after); // else the drain waits for it until its deadline
    server.terminate();
}

#[test]
fn under_systemd_socket_activation_the_https_example_serves_tls_on_systemds_socket() {
    let pki = pki("activated_https");
    let pid_file = pki.dir.join("https.pid");
    let systemd = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(systemd.to_string())
        .arg(examples::binary("http"))
        .args(["--loops", "1", "--addr", &format!("tcp://{systemd}")])
        .args([
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ])
        .arg("--pid-file")
        .arg(&pid_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(pki.dir.join("https.log")).unwrap())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package; .ci/run installs it)");
    let mut server = Server {
        pids: vec![child.id()],
        child,
        log: pki.dir.join("https.log"),
        pid_file,
    };
    // The first connection starts the server (it was refused with
    // "inherited sockets match none of the listen addresses": the socket
    // is TCP, the address tls://).
    let config = client_config(&pki, &[b"http/1.1"]);
    wait_until(PROCESS_WAIT, "systemd-socket-activate listens", || {
        TcpStream::connect(systemd).is_ok()
    });
    let mut client = tls_connect(systemd, &config).unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    exchange(&mut client).unwrap();
    wait_until(PROCESS_WAIT, "the pid file", || server.pid_file.exists());
    assert!(
        server.log_text().contains(&format!("Tls({systemd})")),
        "{}",
        server.log_text()
    );
    drop(client);
    server.terminate();
}
