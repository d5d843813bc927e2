//! `EngineHandle::enroll` adopts a connected socket made elsewhere: made
//! non-blocking and close-on-exec, placed by the balancer, served as if
//! accepted (with `Origin::Enrolled`).

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Mutex};

use netreactor::{Action, Conn, Engine, Error, EventHandler, Origin};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use util::*;

/// Echoes; reports each connection's origin and descriptor flags.
struct Report(Mutex<mpsc::Sender<(Origin, bool, bool)>>);

fn flags(fd: RawFd) -> (bool, bool) {
    // SAFETY: the descriptor is the live connection's, for this call only.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let status = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap());
    let descriptor = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
    (
        status.contains(OFlag::O_NONBLOCK),
        descriptor.contains(FdFlag::FD_CLOEXEC),
    )
}

impl EventHandler for Report {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let (nonblocking, cloexec) = flags(conn.fd());
        let _ = self.0.lock().unwrap().send((conn.origin(), nonblocking, cloexec));
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn an_enrolled_tcp_stream_is_served_non_blocking_and_close_on_exec() {
    let (tx, rx) = mpsc::channel();
    let engine = start(Engine::builder().event_loops(2), Report(Mutex::new(tx)));
    // A connection the engine did not accept: made with std, blocking.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    assert!(
        !flags(std::os::fd::AsRawFd::as_raw_fd(&server_side)).0,
        "std made it blocking"
    );
    engine.enroll(server_side).unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), (Origin::Enrolled, true, true));
    round_trip(&mut client, b"served by the engine");
    // Accepted connections say where they came from too.
    let mut accepted = connect(engine.local_addr());
    round_trip(&mut accepted, b"accepted");
    assert_eq!(
        rx.recv_timeout(IO_TIMEOUT).unwrap(),
        (Origin::Accepted { listener: 0 }, true, true)
    );
    assert_eq!(engine.connection_count(), 2);
    engine.stop();
    assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), b"");
}

#[test]
fn an_enrolled_unix_stream_is_served() {
    let (tx, rx) = mpsc::channel();
    let engine = start(Engine::builder().event_loops(1), Report(Mutex::new(tx)));
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    engine.enroll(theirs).unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), (Origin::Enrolled, true, true));
    ours.write_all(b"pair").unwrap();
    let mut buf = [0; 4];
    ours.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pair");
    engine.stop();
}

#[test]
fn enrolling_into_a_stopped_engine_fails_and_closes_the_socket() {
    let (tx, _rx) = mpsc::channel();
    let engine = start(Engine::builder().event_loops(1), Report(Mutex::new(tx)));
    engine.stop();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert!(matches!(engine.enroll(theirs), Err(Error::EngineStopped)));
    // The socket was closed, not leaked: our end sees end of file.
    assert_eq!(ours.read(&mut [0; 1]).unwrap(), 0);
}
