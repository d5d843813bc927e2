//! examples/redis driven by redis-cli (Debian's redis-tools), as a user
//! would: a session of every command with its exact output, RESP3 mode,
//! the interactive help built from COMMAND DOCS, and `--pipe` with 100,000
//! commands. redis-cli must be installed (.ci/run installs it): a missing
//! one fails these tests, it does not skip them.
//!
//! tests/redis/cli_session.expected is what Redis 7.0.15 prints for
//! tests/redis/cli_session.txt, except one line: COMMAND COUNT (the
//! commands implemented here, not Redis's 240).

mod util;

#[path = "redis/harness.rs"]
mod harness;

use harness::{encode, run, run_ok, serve, Client, Reply};

fn port_of(engine: &util::Engine) -> String {
    engine.local_addr().port().to_string()
}

/// redis-cli's output without colour codes.
fn plain(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_session_of_every_command_prints_what_redis_prints() {
    let engine = serve();
    let port = port_of(&engine);
    let session = include_bytes!("redis/cli_session.txt");
    let expected = include_str!("redis/cli_session.expected");
    let out = run_ok("redis-cli", &["-p", &port, "--no-raw"], Some(session));
    let got = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = std::str::from_utf8(session).unwrap().lines().collect();
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(
            g,
            e,
            "output line {} differs (the session's commands: {commands:?})",
            i + 1
        );
    }
    assert_eq!(got.lines().count(), expected.lines().count(), "{got}");
}

#[test]
fn single_commands_and_their_exit_status() {
    let engine = serve();
    let port = port_of(&engine);
    let cli = |args: &[&str]| {
        let mut all = vec!["-p", port.as_str(), "--no-raw"];
        all.extend_from_slice(args);
        plain(&run_ok("redis-cli", &all, None).stdout)
    };
    assert_eq!(cli(&["set", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli(&["get", "greeting"]), "\"hello world\"\n");
    assert_eq!(cli(&["quit"]), "OK\n");
    assert_eq!(cli(&["reset"]), "RESET\n");
    assert_eq!(
        cli(&["nosuch", "a"]),
        "(error) ERR unknown command 'nosuch', with args beginning with: 'a' \n"
    );
    assert_eq!(cli(&["select", "16"]), "(error) ERR DB index is out of range\n");
    let Reply::Int(count) = Client::connect(engine.local_addr()).cmd("COMMAND COUNT") else {
        panic!("COMMAND COUNT")
    };
    assert_eq!(cli(&["command", "count"]), format!("(integer) {count}\n"));
    let commands = cli(&["command"]);
    assert!(
        commands.contains("\"get\"") && commands.contains("\"client\""),
        "{commands}"
    );
    let docs = cli(&["command", "docs", "get"]);
    assert!(docs.contains("\"Get the value of a key\""), "{docs}");
    let info = cli(&["info", "keyspace"]);
    assert_eq!(info, "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n");
    let id = cli(&["client", "id"]);
    assert!(id.starts_with("(integer) "), "{id}");
    let list = cli(&["client", "list"]);
    assert!(list.starts_with("id=") && list.contains("cmd=client|list"), "{list}");
    let time = cli(&["time"]);
    assert_eq!(time.lines().count(), 2, "{time}");
    // Scan from the command line: every key comes back.
    let scanned = plain(&run_ok("redis-cli", &["-p", &port, "--scan", "--pattern", "gree*"], None).stdout);
    assert_eq!(scanned, "greeting\n");
}

#[test]
fn resp3_mode() {
    let engine = serve();
    let port = port_of(&engine);
    let session = b"hset h f v\nhgetall h\nzadd z 1.5 m\nzscore z m\nget nothing\nsadd s x\nsmembers s\n";
    let out = run_ok("redis-cli", &["-p", &port, "-3", "--no-raw"], Some(session));
    assert_eq!(
        plain(&out.stdout),
        "(integer) 1\n1# \"f\" => \"v\"\n(integer) 1\n(double) 1.5\n(nil)\n(integer) 1\n1~ \"x\"\n"
    );
}

#[test]
fn interactive_help_comes_from_command_docs() {
    let engine = serve();
    let port = port_of(&engine);
    // Without a command redis-cli runs its REPL (reading stdin), which
    // first asks COMMAND DOCS for its help. Its help for a group then
    // lists exactly the commands this server documents: ZADD but not
    // ZUNIONSTORE, which Redis has and this server does not.
    let out = run_ok("redis-cli", &["-p", &port], Some(b"help @sorted-set\nhelp get\n"));
    let text = plain(&out.stdout);
    for want in [
        "ZADD",
        "ZINCRBY",
        "ZPOPMIN",
        "ZSCORE",
        "Get the value of a key",
        "group: string",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert!(!text.contains("ZUNIONSTORE"), "{text}");
}

#[test]
fn pipe_mode_with_100k_commands() {
    let engine = serve();
    let port = port_of(&engine);
    let mut input = Vec::new();
    for i in 0..100_000 {
        let n = i.to_string();
        input.extend(match i % 4 {
            0 => encode(&[
                b"SET",
                format!("key:{i}").as_bytes(),
                format!("v{:04}", i % 10_000).as_bytes(),
            ]),
            1 => encode(&[b"INCR", b"counter"]),
            2 => encode(&[b"RPUSH", b"list", n.as_bytes()]),
            _ => encode(&[b"HSET", b"hash", n.as_bytes(), b"x"]),
        });
    }
    let out = run_ok("redis-cli", &["-p", &port, "--pipe"], Some(&input));
    let text = plain(&out.stdout);
    assert!(text.contains("errors: 0, replies: 100000"), "{text}");
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("GET counter"), Reply::bulk("25000"));
    assert_eq!(c.cmd("LLEN list"), Reply::Int(25_000));
    assert_eq!(c.cmd("HLEN hash"), Reply::Int(25_000));
    assert_eq!(c.cmd("GET key:99996"), Reply::bulk("v9996"));
    assert_eq!(c.cmd("DBSIZE"), Reply::Int(25_000 + 3));
}

#[test]
fn a_missing_redis_cli_fails_loudly() {
    // The harness turns a missing program into a panic naming the package.
    let result = std::panic::catch_unwind(|| run("redis-cli-that-does-not-exist", &[], None));
    assert!(result.is_err());
}
