//! examples/redis's pub/sub over real sockets: the exact bytes Redis 7.0.15
//! sends (captured from redis-server and hard-coded here) in RESP2 and
//! RESP3, subscribed mode, delivery across loops in one order, the
//! output-buffer limit that closes a subscriber that does not read (hard
//! and soft), unsubscribe on close, redis-cli and redis-py.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use harness::server::OutputLimit;
use harness::{encode, run, run_ok, run_redis_py, serve, serve_with, Client, Config, Reply};
use util::{read_exact_within, read_to_reset, wait_until, IO_TIMEOUT, SETTLE};

/// Sends `line` (words split on spaces) and asserts the bytes that come back.
fn exchange(c: &mut Client, line: &str, expected: &[u8]) {
    c.send(&command(line));
    expect(c, expected);
}

fn command(line: &str) -> Vec<u8> {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    encode(&words)
}

/// Asserts the next bytes from `c` are `expected`.
fn expect(c: &mut Client, expected: &[u8]) {
    let got = c.read_bytes(expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "bytes differ from Redis 7.0.15's"
    );
}

/// PUBSUB NUMSUB of one channel, from `c`.
fn numsub(c: &mut Client, channel: &str) -> i64 {
    match c.cmd(&format!("PUBSUB NUMSUB {channel}")) {
        Reply::Array(a) if a.len() == 2 => match a[1] {
            Reply::Int(n) => n,
            ref other => panic!("NUMSUB count: {other:?}"),
        },
        other => panic!("NUMSUB: {other:?}"),
    }
}

const NOT_ALLOWED: &str = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

#[test]
fn resp2_subscribe_publish_and_unsubscribe_match_redis_bytes() {
    let engine = serve();
    let mut sub = Client::connect(engine.local_addr());
    let mut publisher = Client::connect(engine.local_addr());
    exchange(
        &mut sub,
        "SUBSCRIBE a b",
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    // Subscribing again counts nothing new.
    exchange(&mut sub, "SUBSCRIBE a", b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n");
    exchange(
        &mut sub,
        "PSUBSCRIBE h*llo a*",
        b"*3\r\n$10\r\npsubscribe\r\n$5\r\nh*llo\r\n:3\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:4\r\n",
    );
    exchange(&mut sub, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    exchange(&mut sub, "PING x", b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
    for (line, name) in [
        ("GET k", "get"),
        ("SET k v", "set"),
        ("MULTI", "multi"),
        ("HELLO 3", "hello"),
    ] {
        exchange(
            &mut sub,
            line,
            format!("-ERR Can't execute '{name}': {NOT_ALLOWED}\r\n").as_bytes(),
        );
    }
    exchange(
        &mut sub,
        "CLIENT LIST",
        format!("-ERR Can't execute 'client|list': {NOT_ALLOWED}\r\n").as_bytes(),
    );
    // Unknown commands and wrong arities are refused first, as in Redis.
    exchange(
        &mut sub,
        "FOOBAR",
        b"-ERR unknown command 'FOOBAR', with args beginning with: \r\n",
    );
    exchange(
        &mut sub,
        "PING a b",
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
    exchange(
        &mut sub,
        "SUBSCRIBE",
        b"-ERR wrong number of arguments for 'subscribe' command\r\n",
    );
    exchange(
        &mut sub,
        "UNSUBSCRIBE zz",
        b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:4\r\n",
    );

    // Channel a has a subscriber and a matching pattern: two deliveries.
    exchange(&mut publisher, "PUBLISH a hi", b":2\r\n");
    exchange(&mut publisher, "PUBLISH hello m", b":1\r\n");
    exchange(&mut publisher, "PUBLISH nobody m", b":0\r\n");
    expect(
        &mut sub,
        b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n\
          *4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nhi\r\n\
          *4\r\n$8\r\npmessage\r\n$5\r\nh*llo\r\n$5\r\nhello\r\n$1\r\nm\r\n",
    );

    exchange(
        &mut sub,
        "UNSUBSCRIBE a",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:3\r\n",
    );
    exchange(
        &mut sub,
        "UNSUBSCRIBE",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    exchange(
        &mut sub,
        "PUNSUBSCRIBE a*",
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:1\r\n",
    );
    exchange(
        &mut sub,
        "PUNSUBSCRIBE",
        b"*3\r\n$12\r\npunsubscribe\r\n$5\r\nh*llo\r\n:0\r\n",
    );
    // Nothing left: one reply with a null name.
    exchange(&mut sub, "UNSUBSCRIBE", b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    exchange(&mut sub, "PUNSUBSCRIBE", b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
    // Out of subscribed mode: every command again.
    exchange(&mut sub, "GET k", b"$-1\r\n");
    exchange(&mut sub, "PING", b"+PONG\r\n");
    exchange(
        &mut sub,
        "UNSUBSCRIBE a b",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
    );
}

#[test]
fn odd_names_repeats_and_binary_payloads_match_redis_bytes() {
    let engine = serve();
    let mut sub = Client::connect(engine.local_addr());
    let mut publisher = Client::connect(engine.local_addr());
    sub.send(&encode(&[b"SUBSCRIBE", b"", b"a\r\nb", b"x", b"x"]));
    expect(
        &mut sub,
        b"*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n:1\r\n\
          *3\r\n$9\r\nsubscribe\r\n$4\r\na\r\nb\r\n:2\r\n\
          *3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:3\r\n\
          *3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:3\r\n",
    );
    // An unbalanced bracket is a pattern like any other.
    exchange(
        &mut sub,
        "PSUBSCRIBE [a",
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\n[a\r\n:4\r\n",
    );
    exchange(
        &mut sub,
        "PUNSUBSCRIBE x y",
        b"*3\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n:4\r\n*3\r\n$12\r\npunsubscribe\r\n$1\r\ny\r\n:4\r\n",
    );
    assert_eq!(publisher.call(&[b"PUBLISH", b"", b"e"]), Reply::Int(1));
    assert_eq!(publisher.call(&[b"PUBLISH", b"a\r\nb", b""]), Reply::Int(1));
    assert_eq!(publisher.call(&[b"PUBLISH", b"[a", b"x"]), Reply::Int(0));
    assert_eq!(
        publisher.call(&[b"PUBSUB", b"CHANNELS", b"*\r\n*"]),
        Reply::bulks(&["a\r\nb"])
    );
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(publisher.call(&[b"PUBLISH", b"x", &big]), Reply::Int(1));
    expect(
        &mut sub,
        b"*3\r\n$7\r\nmessage\r\n$0\r\n\r\n$1\r\ne\r\n*3\r\n$7\r\nmessage\r\n$4\r\na\r\nb\r\n$0\r\n\r\n",
    );
    let mut message = b"*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$3145728\r\n".to_vec();
    message.extend_from_slice(&big);
    message.extend_from_slice(b"\r\n");
    assert!(sub.read_bytes(message.len()) == message, "the 3 MiB message differs");
    sub.send(&encode(&[b"UNSUBSCRIBE", b"", b"x", b"x"]));
    expect(
        &mut sub,
        b"*3\r\n$11\r\nunsubscribe\r\n$0\r\n\r\n:3\r\n\
          *3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:2\r\n\
          *3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:2\r\n",
    );
}

#[test]
fn resp3_pushes_interleave_with_replies_and_self_delivery_comes_first() {
    let engine = serve();
    let mut sub = Client::connect(engine.local_addr());
    let mut publisher = Client::connect(engine.local_addr());
    assert!(matches!(sub.cmd("HELLO 3"), Reply::Map(_)));
    exchange(&mut sub, "SUBSCRIBE a", b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    exchange(
        &mut sub,
        "PSUBSCRIBE a*",
        b">3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n",
    );
    // RESP3 has no subscribed mode: any command, ordinary PONG.
    exchange(&mut sub, "PING", b"+PONG\r\n");
    exchange(&mut sub, "GET k", b"_\r\n");
    // Publishing to itself: its messages precede the PUBLISH reply.
    exchange(
        &mut sub,
        "PUBLISH a self",
        b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nself\r\n\
          >4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$4\r\nself\r\n:2\r\n",
    );
    exchange(&mut publisher, "PUBLISH a hi", b":2\r\n");
    expect(
        &mut sub,
        b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n>4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nhi\r\n",
    );
    // Back to RESP2 while subscribed: messages become arrays, and
    // subscribed mode applies.
    assert!(matches!(sub.cmd("HELLO 2"), Reply::Array(_)));
    exchange(&mut publisher, "PUBLISH a hi2", b":2\r\n");
    expect(
        &mut sub,
        b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$3\r\nhi2\r\n*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$3\r\nhi2\r\n",
    );
    exchange(
        &mut sub,
        "GET k",
        format!("-ERR Can't execute 'get': {NOT_ALLOWED}\r\n").as_bytes(),
    );
    exchange(
        &mut sub,
        "HELLO 3",
        format!("-ERR Can't execute 'hello': {NOT_ALLOWED}\r\n").as_bytes(),
    );
    // RESET leaves every subscription and RESP3.
    exchange(&mut sub, "RESET", b"+RESET\r\n");
    exchange(&mut sub, "PING", b"+PONG\r\n");
    exchange(&mut publisher, "PUBSUB NUMSUB a", b"*2\r\n$1\r\na\r\n:0\r\n");
    exchange(&mut publisher, "PUBSUB NUMPAT", b":0\r\n");
    // The RESP3 form of "nothing to unsubscribe from".
    assert!(matches!(sub.cmd("HELLO 3"), Reply::Map(_)));
    exchange(&mut sub, "UNSUBSCRIBE", b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn subscribe_inside_multi_enters_subscribed_mode_at_exec() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    exchange(&mut c, "MULTI", b"+OK\r\n");
    exchange(&mut c, "SUBSCRIBE m", b"+QUEUED\r\n");
    exchange(&mut c, "PING", b"+QUEUED\r\n");
    exchange(
        &mut c,
        "EXEC",
        b"*2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nm\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
    );
    exchange(&mut c, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    exchange(
        &mut c,
        "GET x",
        format!("-ERR Can't execute 'get': {NOT_ALLOWED}\r\n").as_bytes(),
    );
    // QUIT is allowed, and closes.
    exchange(&mut c, "QUIT", b"+OK\r\n");
    c.expect_closed();
}

#[test]
fn pubsub_introspection_matches_redis_bytes() {
    let engine = serve();
    let mut sub = Client::connect(engine.local_addr());
    let mut c = Client::connect(engine.local_addr());
    exchange(&mut c, "PUBSUB CHANNELS", b"*0\r\n");
    exchange(&mut c, "PUBSUB NUMPAT", b":0\r\n");
    exchange(&mut c, "PUBSUB NUMSUB", b"*0\r\n");
    exchange(
        &mut sub,
        "SUBSCRIBE a b",
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    exchange(
        &mut sub,
        "PSUBSCRIBE h*llo a*",
        b"*3\r\n$10\r\npsubscribe\r\n$5\r\nh*llo\r\n:3\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:4\r\n",
    );
    exchange(&mut c, "PUBSUB NUMPAT", b":2\r\n");
    exchange(
        &mut c,
        "PUBSUB NUMSUB a b c",
        b"*6\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:1\r\n$1\r\nc\r\n:0\r\n",
    );
    let Reply::Array(mut all) = c.cmd("PUBSUB CHANNELS") else {
        panic!("PUBSUB CHANNELS")
    };
    all.sort_by_key(|r| r.text());
    assert_eq!(all, vec![Reply::bulk("a"), Reply::bulk("b")]);
    exchange(&mut c, "PUBSUB CHANNELS a*", b"*1\r\n$1\r\na\r\n");
    let stats = c.cmd("INFO stats").text();
    assert!(
        stats.contains("\r\npubsub_channels:2\r\npubsub_patterns:2\r\n"),
        "{stats}"
    );
    exchange(&mut c, "pubsub channels [b]", b"*1\r\n$1\r\nb\r\n");
    exchange(
        &mut c,
        "PUBSUB",
        b"-ERR wrong number of arguments for 'pubsub' command\r\n",
    );
    exchange(
        &mut c,
        "PUBSUB FOO",
        b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n",
    );
    exchange(
        &mut c,
        "PUBSUB channels a b",
        b"-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.\r\n",
    );
    exchange(
        &mut c,
        "PUBSUB NUMPAT x",
        b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
    );
    exchange(
        &mut c,
        "PUBLISH a",
        b"-ERR wrong number of arguments for 'publish' command\r\n",
    );
    // Redis's HELP, less the shard channels this server does not have.
    exchange(
        &mut c,
        "PUBSUB HELP",
        b"*10\r\n+PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
          +CHANNELS [<pattern>]\r\n\
          +    Return the currently active channels matching a <pattern> (default: '*').\r\n\
          +NUMPAT\r\n+    Return number of subscriptions to patterns.\r\n\
          +NUMSUB [<channel> ...]\r\n\
          +    Return the number of subscribers for the specified channels, excluding\r\n\
          +    pattern subscriptions(default: no channels).\r\n\
          +HELP\r\n+    Prints this help.\r\n",
    );
    // Redis's default pub/sub limit, as Redis prints it.
    let normal = Config::default().output_limit;
    assert_eq!(
        c.cmd("CONFIG GET client-output-buffer-limit"),
        Reply::bulks(&[
            "client-output-buffer-limit",
            &format!("normal {normal} 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        ])
    );
    let Reply::Array(info) = c.cmd("COMMAND INFO publish subscribe") else {
        panic!("COMMAND INFO")
    };
    let Reply::Array(publish) = &info[0] else {
        panic!("an entry")
    };
    assert_eq!(
        &publish[..3],
        &[
            Reply::bulk("publish"),
            Reply::Int(3),
            Reply::Array(["pubsub", "loading", "stale", "fast"].map(Reply::status).to_vec())
        ]
    );
}

/// CLIENT LIST shows subscriptions as Redis does (flag P, sub, psub) and
/// TYPE pubsub / normal tell subscribed connections from the others.
#[test]
fn client_list_shows_subscriptions() {
    let engine = serve();
    let mut sub = Client::connect(engine.local_addr());
    let mut c = Client::connect(engine.local_addr());
    exchange(
        &mut sub,
        "SUBSCRIBE a b",
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    exchange(
        &mut sub,
        "PSUBSCRIBE c*",
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n",
    );
    let Reply::Int(me) = c.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    let list = |c: &mut Client, args: &str| c.cmd(&format!("CLIENT LIST{args}")).text();
    let pubsub = list(&mut c, " TYPE pubsub");
    assert_eq!(pubsub.lines().count(), 1, "{pubsub}");
    assert!(
        pubsub.contains(" flags=P db=0 sub=2 psub=1 ssub=0 multi=-1 cmd=psubscribe "),
        "{pubsub}"
    );
    let normal = list(&mut c, " TYPE NORMAL");
    assert_eq!(normal.lines().count(), 1, "{normal}");
    assert!(normal.starts_with(&format!("id={me} ")), "{normal}");
    assert!(normal.contains(" flags=N db=0 sub=0 psub=0 "), "{normal}");
    assert_eq!(list(&mut c, "").lines().count(), 2);
    exchange(
        &mut sub,
        "UNSUBSCRIBE b",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    assert!(list(&mut c, " TYPE pubsub").contains(" sub=1 psub=1 "));
    exchange(&mut sub, "RESET", b"+RESET\r\n");
    assert_eq!(list(&mut c, " TYPE pubsub"), "");
    // Subscribed in RESP3, where any command may run.
    assert!(matches!(sub.cmd("HELLO 3"), Reply::Map(_)));
    exchange(&mut sub, "SUBSCRIBE z", b">3\r\n$9\r\nsubscribe\r\n$1\r\nz\r\n:1\r\n");
    let info = sub.cmd("CLIENT INFO").text();
    assert!(
        info.contains(" flags=P db=0 sub=1 psub=0 ssub=0 multi=-1 cmd=client|info "),
        "{info}"
    );
}

/// Subscribers on both loops of a two-loop server, two publishers on
/// different loops publishing at once: every subscriber receives every
/// message, all in one order (each publisher's in its own order).
#[test]
fn publishers_reach_subscribers_on_every_loop_in_one_order() {
    const SUBSCRIBERS: usize = 6;
    const EACH: usize = 500;
    let engine = serve();
    let addr = engine.local_addr();
    // Round-robin over two loops: consecutive connections alternate, so
    // subscribers sit on both loops and the two publishers on different ones.
    let mut subs: Vec<Client> = (0..SUBSCRIBERS).map(|_| Client::connect(addr)).collect();
    for s in &mut subs {
        exchange(s, "SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    }
    let publishers: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|tag| {
            let mut p = Client::connect(addr);
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                for i in 0..EACH {
                    batch.extend(command(&format!("PUBLISH c {tag}{i}")));
                }
                p.send(&batch);
                for _ in 0..EACH {
                    assert_eq!(p.read(), Reply::Int(SUBSCRIBERS as i64));
                }
            })
        })
        .collect();
    let mut orders = Vec::new();
    for s in &mut subs {
        let order: Vec<String> = (0..2 * EACH)
            .map(|_| match s.read() {
                Reply::Array(m) if m.len() == 3 && m[0] == Reply::bulk("message") => m[2].text(),
                other => panic!("not a message: {other:?}"),
            })
            .collect();
        for tag in ["A", "B"] {
            let mine: Vec<&String> = order.iter().filter(|m| m.starts_with(tag)).collect();
            let want: Vec<String> = (0..EACH).map(|i| format!("{tag}{i}")).collect();
            assert!(mine.iter().copied().eq(want.iter()), "{tag}'s messages out of order");
        }
        orders.push(order);
    }
    for p in publishers {
        p.join().expect("publisher");
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "subscribers saw different orders"
    );
}

/// Subscribers that join while messages flow: after its confirmation each
/// gets an unbroken run of messages, in order, to the last one (nothing
/// lost while its subscription is being set up on its loop, nothing
/// twice).
#[test]
fn late_subscribers_get_every_later_message_in_order() {
    const SUBSCRIBERS: usize = 8;
    let engine = serve();
    let addr = engine.local_addr();
    let published = Arc::new(AtomicUsize::new(0));
    let joined = Arc::new(AtomicUsize::new(0));
    let (progress, all_in) = (published.clone(), joined.clone());
    // Publishes numbered messages until every subscriber has joined and
    // 200 more have gone out, then "end"; returns how many were numbered.
    let publisher = std::thread::spawn(move || {
        let mut p = Client::connect(addr);
        let (mut sent, mut stop_at) = (0, usize::MAX);
        while sent < stop_at {
            let mut batch = Vec::new();
            for i in sent..sent + 10 {
                batch.extend(command(&format!("PUBLISH c {i}")));
            }
            p.send(&batch);
            for _ in 0..10 {
                assert!(matches!(p.read(), Reply::Int(_)));
            }
            sent += 10;
            progress.store(sent, Ordering::Release);
            if stop_at == usize::MAX && all_in.load(Ordering::Acquire) == SUBSCRIBERS {
                stop_at = sent + 200;
            }
        }
        assert_eq!(p.cmd("PUBLISH c end"), Reply::Int(SUBSCRIBERS as i64));
        sent
    });
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|k| {
            // Join at staggered points of the stream (polled, no sleeps).
            wait_until(SETTLE, "the publisher advances", || {
                published.load(Ordering::Acquire) >= k * 100
            });
            let mut s = Client::connect(addr);
            exchange(&mut s, "SUBSCRIBE c", b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
            joined.fetch_add(1, Ordering::AcqRel);
            std::thread::spawn(move || {
                let mut next = None;
                loop {
                    let text = match s.read() {
                        Reply::Array(m) if m.len() == 3 && m[0] == Reply::bulk("message") => m[2].text(),
                        other => panic!("not a message: {other:?}"),
                    };
                    if text == "end" {
                        return next.expect("at least 200 numbered messages");
                    }
                    let seq: usize = text.parse().expect("a number");
                    if let Some(want) = next {
                        assert_eq!(seq, want, "subscriber {k}: a message lost or out of order");
                    }
                    next = Some(seq + 1);
                }
            })
        })
        .collect();
    let sent = publisher.join().expect("publisher");
    for s in subscribers {
        assert_eq!(
            s.join().expect("a subscriber saw a gap"),
            sent,
            "the run stops short of the last message"
        );
    }
}

/// A closed subscriber leaves its channels and patterns: NUMSUB, NUMPAT
/// and PUBLISH's count drop (the close is seen by the server a moment
/// later: polled).
#[test]
fn a_closed_subscriber_is_unsubscribed() {
    let engine = serve();
    let addr = engine.local_addr();
    let mut c = Client::connect(addr);
    let mut stay = Client::connect(addr);
    exchange(
        &mut stay,
        "SUBSCRIBE news",
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    let mut leaving: Vec<Client> = (0..4).map(|_| Client::connect(addr)).collect();
    for (i, l) in leaving.iter_mut().enumerate() {
        exchange(l, "SUBSCRIBE news", b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
        exchange(
            l,
            &format!("PSUBSCRIBE p{i}*"),
            format!("*3\r\n$10\r\npsubscribe\r\n$3\r\np{i}*\r\n:2\r\n").as_bytes(),
        );
    }
    assert_eq!(numsub(&mut c, "news"), 5);
    assert_eq!(c.cmd("PUBSUB NUMPAT"), Reply::Int(4));
    assert_eq!(c.cmd("PUBLISH news x"), Reply::Int(5));
    // One leaves politely (QUIT: the message published before it comes
    // first), three just go away.
    exchange(
        &mut leaving[0],
        "QUIT",
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n+OK\r\n",
    );
    leaving.truncate(1);
    let mut quitter = leaving.pop().expect("the one that quit");
    quitter.expect_closed();
    wait_until(SETTLE, "NUMSUB counts only the one left", || {
        numsub(&mut c, "news") == 1
    });
    assert_eq!(c.cmd("PUBSUB NUMPAT"), Reply::Int(0));
    assert_eq!(c.cmd("PUBSUB CHANNELS"), Reply::bulks(&["news"]));
    assert_eq!(c.cmd("PUBLISH news y"), Reply::Int(1));
    expect(
        &mut stay,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\ny\r\n",
    );
    drop(stay);
    wait_until(SETTLE, "the channel is gone", || {
        c.cmd("PUBSUB CHANNELS") == Reply::Array(vec![])
    });
    assert_eq!(c.cmd("PUBLISH news z"), Reply::Int(0));
}

/// Limits the receive buffer of `s` (after connect: autotuning stops), so
/// the kernel absorbs little of what a non-reading subscriber is sent.
fn small_receive_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let bytes: libc::c_int = 64 * 1024;
    // SAFETY: a valid socket fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_RCVBUF)");
}

/// Bytes the kernel may hold between the server's queue and a subscriber
/// that does not read: the server socket's largest send buffer
/// (tcp_wmem's maximum, autotuned), the subscriber's receive buffer
/// (twice what was asked, as Linux books it), and slack for the windows.
fn kernel_slack() -> usize {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("tcp_wmem");
    let max: usize = wmem
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .expect("tcp_wmem max");
    max + 2 * 64 * 1024 + 1024 * 1024
}

/// A raw subscriber socket (no buffered reader: nothing read ahead).
fn raw_subscriber(addr: std::net::SocketAddr, channel: &str) -> TcpStream {
    let mut s = util::connect(addr);
    small_receive_buffer(&s);
    s.write_all(&command(&format!("SUBSCRIBE {channel}"))).unwrap();
    let want = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:1\r\n", channel.len());
    assert_eq!(read_exact_within(&mut s, want.len(), IO_TIMEOUT), want.as_bytes());
    s
}

/// One PUBLISH's message as a RESP2 subscriber of `channel` receives it.
fn message_bytes(channel: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n",
        channel.len(),
        payload.len()
    )
    .into_bytes();
    m.extend_from_slice(payload);
    m.extend_from_slice(b"\r\n");
    m
}

/// Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`, hard part: a
/// subscriber that never reads is closed once 32 MiB wait for it (its
/// output dropped: it sees a reset), while the publisher and a reading
/// subscriber go on undisturbed.
#[test]
fn a_subscriber_that_does_not_read_is_closed_at_the_hard_limit() {
    const MIB: usize = 1024 * 1024;
    const MESSAGES: usize = 80;
    let engine = serve();
    let addr = engine.local_addr();
    let mut slow = raw_subscriber(addr, "news");
    let mut fast = Client::connect(addr);
    exchange(
        &mut fast,
        "SUBSCRIBE news",
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    let payload = |i: usize| {
        let mut p = vec![b'a' + (i % 26) as u8; MIB];
        p[..8].copy_from_slice(format!("{i:08}").as_bytes());
        p
    };
    // The reading subscriber must keep up (the limit applies to it too):
    // the publisher stays at most a few messages ahead of it.
    let read = Arc::new(AtomicUsize::new(0));
    let progress = read.clone();
    let reader = std::thread::spawn(move || {
        for i in 0..MESSAGES {
            let want = message_bytes("news", &payload(i));
            assert!(fast.read_bytes(want.len()) == want, "message {i} differs");
            progress.store(i + 1, Ordering::Release);
        }
        fast
    });
    let mut publisher = Client::connect(addr);
    let mut receivers = Vec::new();
    for i in 0..MESSAGES {
        wait_until(SETTLE, "the reading subscriber keeps up", || {
            i < read.load(Ordering::Acquire) + 4 || reader.is_finished()
        });
        match publisher.call(&[b"PUBLISH", b"news", &payload(i)]) {
            Reply::Int(n) => receivers.push(n),
            other => panic!("PUBLISH {i}: {other:?}"),
        }
    }
    let _fast = reader.join().expect("the reading subscriber got every message");
    // Counted while subscribed (the publish that passed the limit too, as
    // Redis counts it), then no more.
    let reached = receivers.iter().take_while(|&&n| n == 2).count();
    assert!(receivers[reached..].iter().all(|&n| n == 1), "receivers: {receivers:?}");
    let most = (32 * MIB + kernel_slack()).div_ceil(MIB);
    assert!(
        (31..=most).contains(&reached),
        "closed after {reached} MiB-messages, expected 32 MiB plus at most what the kernel holds ({most})"
    );
    wait_until(SETTLE, "the slow subscriber is unsubscribed", || {
        numsub(&mut publisher, "news") == 1
    });
    // It gets a prefix of the stream, then a reset: what was queued for it
    // was dropped, as Redis drops it.
    let got = read_to_reset(&mut slow, IO_TIMEOUT);
    let mut stream = Vec::new();
    for i in 0..reached {
        stream.extend(message_bytes("news", &payload(i)));
    }
    assert!(
        got.len() < stream.len() && stream.starts_with(&got),
        "the slow subscriber got {} bytes, not a prefix of the {} sent",
        got.len(),
        stream.len()
    );
}

/// The soft part, with a short duration so the test is quick: over the
/// soft limit the subscriber lives on until the limit has held for the
/// whole duration, then it is closed.
#[test]
fn a_subscriber_over_the_soft_limit_for_its_duration_is_closed() {
    const SOFT: usize = 1024 * 1024;
    const DURATION: Duration = Duration::from_millis(1500);
    let config = Config {
        pubsub_output_limit: OutputLimit {
            hard_bytes: 0,
            soft_bytes: SOFT,
            soft_duration: DURATION,
        },
        ..Config::default()
    };
    let engine = serve_with(config, 2);
    let addr = engine.local_addr();
    let mut slow = raw_subscriber(addr, "s");
    let mut publisher = Client::connect(addr);
    let chunk = vec![b'x'; 64 * 1024];
    // Fill past the soft limit, and past what the kernel takes: the
    // publishes go on until the server's queue for the subscriber is over.
    let filled = (SOFT + kernel_slack()).div_ceil(chunk.len()) + 2;
    // The server starts its soft-limit clock during the fill, not before.
    let fill_started = Instant::now();
    for _ in 0..filled {
        assert_eq!(publisher.call(&[b"PUBLISH", b"s", &chunk]), Reply::Int(1));
    }
    let over = Instant::now();
    let mut published = filled;
    // Keep publishing small messages until the subscriber is closed: it
    // must outlive most of the duration, and go within a few seconds more.
    loop {
        assert!(
            over.elapsed() < DURATION + SETTLE,
            "still subscribed long after the soft limit's duration"
        );
        let n = publisher.call(&[b"PUBLISH", b"s", b"tick"]);
        if n == Reply::Int(0) {
            break;
        }
        assert_eq!(n, Reply::Int(1));
        published += 1;
        std::thread::yield_now();
    }
    // The server clock the limit uses ticks every 100 ms: allow that twice.
    assert!(
        fill_started.elapsed() >= DURATION - Duration::from_millis(200),
        "closed {:?} after the queue started to fill, before the soft limit's {DURATION:?}",
        fill_started.elapsed()
    );
    // Its loop closes it (and it unsubscribes) just after.
    wait_until(SETTLE, "the closed subscriber is unsubscribed", || {
        numsub(&mut publisher, "s") == 0
    });
    let got = read_to_reset(&mut slow, IO_TIMEOUT);
    assert!(got.len() < published * chunk.len(), "all {published} messages arrived");
}

/// `redis-cli subscribe` and `redis-cli -3 psubscribe` print what they
/// receive exactly as they do against redis-server 7.0.15;
/// `redis-cli publish` prints the receiver count.
#[test]
fn redis_cli_subscribe_and_publish() {
    let engine = serve();
    let port = engine.local_addr().port().to_string();
    let (sub, sub_lines) = spawn_lines("redis-cli", &["-p", &port, "subscribe", "news", "other ch"]);
    let (psub, psub_lines) = spawn_lines("redis-cli", &["-p", &port, "-3", "psubscribe", "n*"]);
    let _kill = KillOnDrop(vec![sub, psub]);
    assert_eq!(
        take_lines(&sub_lines, 6),
        ["subscribe", "news", "1", "subscribe", "other ch", "2"]
    );
    assert_eq!(take_lines(&psub_lines, 3), ["psubscribe", "n*", "1"]);
    let publish = |channel: &str, message: &str| {
        String::from_utf8(run_ok("redis-cli", &["-p", &port, "publish", channel, message], None).stdout).unwrap()
    };
    assert_eq!(publish("news", "hello world"), "2\n");
    assert_eq!(publish("other ch", "2"), "1\n");
    assert_eq!(
        take_lines(&sub_lines, 6),
        ["message", "news", "hello world", "message", "other ch", "2"]
    );
    assert_eq!(take_lines(&psub_lines, 4), ["pmessage", "n*", "news", "hello world"]);
    let numsub = run(
        "redis-cli",
        &["-p", &port, "pubsub", "numsub", "news", "other ch"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&numsub.stdout), "news\n1\nother ch\n1\n");
}

/// Kills (and reaps) the children it holds when dropped, also when a test fails.
struct KillOnDrop(Vec<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `program`; its stdout's lines arrive on the receiver.
fn spawn_lines(program: &str, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install it (.ci/run: apt-get install -y redis-tools)"));
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next `n` lines, each within the I/O timeout.
fn take_lines(lines: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            lines
                .recv_timeout(IO_TIMEOUT)
                .unwrap_or_else(|e| panic!("line {i} of {n}: {e}"))
        })
        .collect()
}

/// redis-py's `pubsub()`: get_message, listen, pattern subscriptions,
/// handlers with run_in_thread, subscribed mode; RESP3 and RESP2
/// (tests/redis/pubsub_test.py).
#[test]
fn redis_py_pubsub_resp3_and_resp2() {
    let engine = serve();
    run_redis_py("pubsub_test.py", engine.local_addr());
}
