//! Shared by the Redis tests: the example's server compiled in (started on
//! 127.0.0.1:0), a RESP client over a blocking socket that parses exactly
//! what the server sent, and helpers to run the real client programs.

#![allow(dead_code)]

#[path = "../../examples/redis/server/mod.rs"]
pub(crate) mod server;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use netreactor::Engine;

pub(crate) use server::Config;

/// Starts the example's server with `loops` event loops; stopped on drop.
pub(crate) fn serve_with(config: Config, loops: usize) -> super::util::Engine {
    let handle = server::start(config, Engine::builder().event_loops(loops), "tcp://127.0.0.1:0")
        .expect("the redis example failed to start on 127.0.0.1:0");
    super::util::Engine(handle)
}

/// The default configuration, two loops.
pub(crate) fn serve() -> super::util::Engine {
    serve_with(Config::default(), 2)
}

/// A reply as received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
    /// RESP3 `%`: pairs in order.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~`.
    Set(Vec<Reply>),
    /// RESP3 `,`, as sent.
    Double(String),
    /// RESP3 `=`: (format, text).
    Verbatim(String, Vec<u8>),
}

impl Reply {
    pub(crate) fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    pub(crate) fn status(s: &str) -> Reply {
        Reply::Status(s.to_owned())
    }

    pub(crate) fn error(s: &str) -> Reply {
        Reply::Error(s.to_owned())
    }

    pub(crate) fn bulks(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| Reply::bulk(s)).collect())
    }

    /// The text of a bulk or verbatim reply.
    pub(crate) fn text(&self) -> String {
        match self {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// A RESP client on a blocking socket.
pub(crate) struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// Encodes one command as a multibulk request.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Sends raw bytes.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends a command (words split on spaces) and reads its reply.
    pub(crate) fn cmd(&mut self, line: &str) -> Reply {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&words)
    }

    /// Sends a command and reads its reply.
    pub(crate) fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.send(&encode(args));
        self.read()
    }

    /// Sends a command (words split on spaces) and reads its reply, or
    /// the error that reading met (a timeout: no reply).
    pub(crate) fn try_call_line(&mut self, line: &str) -> io::Result<Reply> {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.send(&encode(&words));
        self.try_read()
    }

    /// Reads exactly `n` bytes, as sent (for comparing replies byte for
    /// byte with what redis-server sends).
    pub(crate) fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.reader.read_exact(&mut bytes).expect("reading the reply bytes");
        bytes
    }

    /// Sends a command and returns its reply's bytes exactly as sent.
    pub(crate) fn call_raw(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        let mut raw = Vec::new();
        self.read_raw(&mut raw)
            .unwrap_or_else(|e| panic!("reading a reply: {e}"));
        raw
    }

    /// Appends one reply's bytes, as sent, to `raw`.
    fn read_raw(&mut self, raw: &mut Vec<u8>) -> io::Result<()> {
        let start = raw.len();
        self.reader.read_until(b'\n', raw)?;
        let line = &raw[start..];
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-reply",
            ));
        }
        let kind = line[0];
        let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        match kind {
            b'$' | b'=' | b'!' if n >= 0 => {
                let at = raw.len();
                raw.resize(at + n as usize + 2, 0);
                self.reader.read_exact(&mut raw[at..])?;
            }
            b'*' | b'~' | b'>' | b'%' if n > 0 => {
                let items = if kind == b'%' { 2 * n } else { n };
                for _ in 0..items {
                    self.read_raw(raw)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads one reply.
    pub(crate) fn read(&mut self) -> Reply {
        self.try_read().unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    /// Reads exactly `n` bytes, as sent (for replies compared byte for byte).
    pub(crate) fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.reader
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
        buf
    }

    pub(crate) fn try_read(&mut self) -> io::Result<Reply> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        assert!(
            line.ends_with(b"\r\n"),
            "a reply line without CRLF: {:?}",
            String::from_utf8_lossy(&line)
        );
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let n = || text.parse::<i64>().unwrap_or_else(|_| panic!("bad length {text:?}"));
        Ok(match line[0] {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(n()),
            b',' => Reply::Double(text),
            b'_' => Reply::Null,
            b'$' | b'=' if n() < 0 => Reply::Null,
            b'$' | b'=' => {
                let mut body = vec![0; n() as usize + 2];
                self.reader.read_exact(&mut body)?;
                assert_eq!(&body[body.len() - 2..], b"\r\n", "bulk not followed by CRLF");
                body.truncate(body.len() - 2);
                if line[0] == b'=' {
                    let fmt = String::from_utf8_lossy(&body[..3]).into_owned();
                    Reply::Verbatim(fmt, body[4..].to_vec())
                } else {
                    Reply::Bulk(body)
                }
            }
            b'*' if n() < 0 => Reply::Null,
            b'*' => Reply::Array((0..n()).map(|_| self.try_read()).collect::<io::Result<_>>()?),
            b'~' => Reply::Set((0..n()).map(|_| self.try_read()).collect::<io::Result<_>>()?),
            b'%' => Reply::Map(
                (0..n())
                    .map(|_| Ok((self.try_read()?, self.try_read()?)))
                    .collect::<io::Result<_>>()?,
            ),
            other => panic!(
                "unknown reply type {:?} in {:?}",
                other as char,
                String::from_utf8_lossy(&line)
            ),
        })
    }

    /// Asserts the server closes the connection next (after any bytes
    /// already read), within the read timeout.
    pub(crate) fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "bytes before the close: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the server to close the connection: {e}"),
        }
    }

    pub(crate) fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

/// Runs `program` with `args` (and `stdin`); panics if it cannot start,
/// naming the package that .ci/run installs.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): install it (.ci/run: apt-get install -y redis-tools; pip install redis)"
            )
        });
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped");
        let input = input.to_vec();
        // Write from another thread: the child may fill its stdout first.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    child.wait_with_output().expect("wait for the child")
}

/// Runs the redis-py script `tests/redis/<name>` against the server at
/// `addr`; it must exit 0 and say "checks passed".
pub(crate) fn run_redis_py(name: &str, addr: SocketAddr) {
    let script = format!("{}/tests/redis/{name}", env!("CARGO_MANIFEST_DIR"));
    let port = addr.port().to_string();
    let out = run("python3", &[&script, &addr.ip().to_string(), &port], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'redis'"),
        "redis-py is not installed (.ci/run: pip install redis)"
    );
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
}

/// As [`run`], and the program must succeed.
pub(crate) fn run_ok(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
