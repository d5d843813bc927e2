//! What a user meets on day one when an address is wrong: the message names
//! what is wrong (issue 17, "Also fix").

use netreactor::{Address, Engine, Error, EventHandler};

struct Nothing;
impl EventHandler for Nothing {}

fn message(addr: &str) -> String {
    match Address::parse(addr) {
        Err(Error::InvalidAddress(m)) => m,
        other => panic!("{addr:?} parsed as {other:?}"),
    }
}

#[test]
fn a_missing_port_is_named() {
    for addr in ["tcp://127.0.0.1", "udp://127.0.0.1", "127.0.0.1", "tcp://localhost"] {
        let m = message(addr);
        assert!(m.contains("missing port"), "{addr:?}: {m}");
        assert!(m.contains(":9000"), "{addr:?}: the message shows the form: {m}");
    }
    let m = message("tcp6://::1");
    assert!(m.contains("missing port") && m.contains("[::1]:9000"), "{m}");
    let m = message("tcp6://[::1]");
    assert!(m.contains("missing port"), "{m}");
}

#[test]
fn unix_with_one_slash_is_a_path() {
    assert_eq!(
        Address::parse("unix:/tmp/x.sock").unwrap(),
        Address::Unix("/tmp/x.sock".into())
    );
    assert_eq!(
        Address::parse("unix:@name").unwrap(),
        Address::UnixAbstract(b"name".to_vec())
    );
    assert_eq!(
        Address::parse("UNIX:/tmp/x.sock").unwrap(),
        Address::Unix("/tmp/x.sock".into())
    );
}

#[test]
fn schemes_are_case_insensitive() {
    let tcp = Address::parse("tcp://127.0.0.1:9000").unwrap();
    assert_eq!(Address::parse("TCP://127.0.0.1:9000").unwrap(), tcp);
    assert_eq!(Address::parse("Tcp4://127.0.0.1:9000").unwrap(), tcp);
    assert_eq!(
        Address::parse("UDP://127.0.0.1:9000").unwrap(),
        Address::Udp("127.0.0.1:9000".parse().unwrap())
    );
    assert_eq!(
        Address::parse("unix:///tmp/a").unwrap(),
        Address::parse("Unix:///tmp/a").unwrap()
    );
}

#[test]
fn an_unknown_scheme_lists_the_known_ones() {
    let m = message("sctp://127.0.0.1:1");
    assert!(
        m.contains("\"sctp\"") && m.contains("tcp") && m.contains("udp") && m.contains("unix"),
        "{m}"
    );
}

#[test]
fn a_unix_path_in_a_missing_directory_names_the_directory() {
    let dir = std::env::temp_dir().join(format!("nr-no-such-dir-{}", std::process::id()));
    let path = dir.join("x.sock");
    let err = Engine::builder()
        .event_loops(1)
        .start(Nothing, format!("unix://{}", path.display()))
        .unwrap_err();
    let Error::Io(e) = &err else { panic!("{err:?}") };
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let m = err.to_string();
    assert!(
        m.contains("does not exist") && m.contains(&dir.display().to_string()),
        "{m}"
    );
}
