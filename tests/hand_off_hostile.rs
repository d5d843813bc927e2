//! The listener hand-off against hostile peers: a "sender" that sends
//! garbage, nothing, no descriptors, too many, a descriptor bound elsewhere
//! or a pipe, and peers running as another user (SO_PEERCRED), are refused
//! with an error that names the hand-off socket and says what came, and no
//! descriptor is leaked (counted in /proc/self/fd: the tests of this file
//! run one at a time, nothing else opens descriptors meanwhile).

mod util;

use std::io::{IoSlice, Read};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use util::open_fd_count;

/// A hostile sender: what it is, what it sends, the descriptors attached
/// (one SCM_RIGHTS part per inner list), and what the refusal must say.
type Case = (&'static str, &'static [u8], Vec<Vec<RawFd>>, String);

/// One test at a time: descriptors are counted process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

struct Pong(&'static str);

impl EventHandler for Pong {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.discard(conn.inbound_len());
        conn.write(format!("pong {}\n", self.0).as_bytes());
        Action::Close
    }
}

fn hand_off_in_background(old: &EngineHandle, path: &Path) -> thread::JoinHandle<netreactor::Result<()>> {
    let (old, p) = (old.clone(), path.to_owned());
    let t = thread::spawn(move || old.hand_off_listeners(&p, Duration::from_secs(30)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "the hand-off socket did not appear");
        thread::yield_now();
    }
    t
}

/// A fake old process at `path` that sends `payload` with `fds` (each slice
/// one SCM_RIGHTS message part) to the first peer, then waits for it to hang up.
fn fake_sender(path: &Path, payload: &'static [u8], fds: Vec<Vec<RawFd>>) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let iov = [IoSlice::new(payload)];
        let cmsgs: Vec<ControlMessage<'_>> = fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
        if payload.is_empty() && fds.is_empty() {
            return; // hangs up without a word
        }
        sendmsg::<()>(s.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).unwrap();
        drop(fds);
        let _ = (&s).read_to_end(&mut Vec::new());
    })
}

/// Starts a receiver against `path` and returns its error message.
fn refused_by_receiver(path: &Path, addrs: &[String]) -> String {
    Engine::builder()
        .event_loops(1)
        .inherit_listeners(path)
        .start(Pong("new"), addrs)
        .expect_err("hostile hand-off must be refused")
        .to_string()
}

#[test]
fn hostile_senders_are_refused_and_leak_no_descriptor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = util::scratch_dir("hand-off-hostile");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let l = listener.as_raw_fd();
    let ours = vec![format!("tcp://{}", listener.local_addr().unwrap())];
    let header_one: &'static [u8] =
        Box::leak(format!("netreactor-hand-off 1\n{}\n", ours[0]).into_boxed_str()).as_bytes();

    let cases: Vec<Case> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\n\r\n",
            vec![],
            "not a netreactor hand-off".into(),
        ),
        (
            "garbage with a descriptor",
            b"\xff\xfe",
            vec![vec![l]],
            "not a netreactor hand-off".into(),
        ),
        (
            "closes at once",
            b"",
            vec![],
            "not a netreactor hand-off (sent \"\")".into(),
        ),
        ("no descriptors", header_one, vec![], "carried no descriptors".into()),
        (
            "more descriptors than addresses",
            header_one,
            vec![vec![l, l]],
            "carried 2 descriptors for 1 addresses".into(),
        ),
        (
            "too many descriptors",
            header_one,
            // The kernel's most in one message (SCM_MAX_FD); more fails
            // the sender's sendmsg (EINVAL).
            vec![vec![l; 253]],
            "carried 253 descriptors for 1 addresses".into(),
        ),
        (
            "bound elsewhere",
            header_one,
            vec![vec![other.as_raw_fd()]],
            format!(
                "descriptor 0 is bound to tcp://{}, not {}",
                other.local_addr().unwrap(),
                ours[0]
            ),
        ),
    ];
    for (i, (what, payload, fds, expected)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("fake-{i}.sock"));
        let before = open_fd_count();
        let sender = fake_sender(&path, payload, fds);
        let msg = refused_by_receiver(&path, &ours);
        sender.join().unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(msg.contains(&expected), "{what}: {msg}");
        assert!(
            msg.contains(&path.display().to_string()),
            "{what}: the message names the socket: {msg}"
        );
        assert_eq!(open_fd_count(), before, "{what}: descriptors leaked by the refusal");
    }
    // A pipe is not a socket.
    let (r, _w) = nix::unistd::pipe().unwrap();
    let path = dir.join("fake-pipe.sock");
    let before = open_fd_count();
    let sender = fake_sender(&path, header_one, vec![vec![r.as_raw_fd()]]);
    let msg = refused_by_receiver(&path, &ours);
    sender.join().unwrap();
    assert!(msg.contains("handed-off socket 0"), "{msg}");
    assert_eq!(open_fd_count(), before, "a pipe: descriptors leaked by the refusal");
    // Nobody there (after the 2 s the new process allows an old one to come).
    let msg = refused_by_receiver(&dir.join("nobody.sock"), &ours);
    assert!(msg.contains("cannot connect"), "{msg}");
}

/// SO_PEERCRED: a peer running as another user is refused on both sides.
/// Needs root (to run a process as `nobody`); as another user the test says
/// so and checks nothing.
#[test]
fn a_peer_of_another_user_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("a_peer_of_another_user_is_refused: not root, cannot run a peer as another user; skipped");
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = PathBuf::from("/tmp").join(format!("nr-hand-off-uid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();

    // The old engine's side: `nobody` connects first and is refused (it sees
    // the connection closed, nothing sent); then the real receiver succeeds.
    let old = Engine::builder()
        .event_loops(1)
        .start(Pong("old"), "tcp://127.0.0.1:0")
        .unwrap();
    let path = dir.join("hand-off.sock");
    let handing = hand_off_in_background(&old, &path);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10); print(len(s.recv(100)))",
        ])
        .arg(&path)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "nothing sent to another user"
    );
    let new = Engine::builder()
        .event_loops(1)
        .inherit_listeners(&path)
        .start(Pong("new"), format!("tcp://{}", old.local_addr()))
        .unwrap();
    handing.join().unwrap().unwrap();
    new.stop();

    // The receiver's side: a "sender" run by `nobody` is refused by name.
    let fake = dir.join("fake.sock");
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import socket,sys,os; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1],0o777); s.listen(1); print('ok',flush=True); c,_=s.accept(); c.sendall(b'netreactor-hand-off 1\\n'); c.recv(1)",
        ])
        .arg(&fake)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 3];
    child.stdout.as_mut().unwrap().read_exact(&mut ready).unwrap();
    let msg = refused_by_receiver(&fake, &["tcp://127.0.0.1:0".to_string()]);
    assert!(msg.contains("runs as uid 65534, this process as uid 0"), "{msg}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
