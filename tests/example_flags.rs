//! Every example's command line, run as the built binaries: `--help` (and
//! `-h`) lists exactly the example's flags and exits 0; an unknown flag, a
//! missing or bad value, or a stray argument exits 2 with a message naming
//! it, and nothing is served.

mod util;

use std::collections::BTreeSet;
use std::process::{Command, Output};

/// Each example and its flags (`--help` aside).
const EXAMPLES: &[(&str, &[&str])] = &[
    ("echo", &["--addr", "--loops", "--tls-cert", "--tls-key", "--reuseport"]),
    (
        "length_field",
        &["--addr", "--loops", "--mode", "--frames", "--max-size"],
    ),
    ("udp_echo", &["--addr", "--loops"]),
    ("unix_echo", &["--addr", "--loops"]),
    (
        "proxy",
        &[
            "--addr",
            "--loops",
            "--tls-cert",
            "--tls-key",
            "--upstream",
            "--upstream-ca",
            "--upstream-name",
        ],
    ),
    (
        "http",
        &[
            "--addr",
            "--loops",
            "--tls-cert",
            "--tls-key",
            "--idle-timeout",
            "--request-timeout",
            "--max-body",
            "--pid-file",
            "--drain-timeout",
        ],
    ),
    (
        "supervisor",
        &["--addr", "--loops", "--workers", "--pid-file", "--drain-timeout"],
    ),
    (
        "redis",
        &[
            "--addr",
            "--loops",
            "--proto-max-bulk-len",
            "--max-args",
            "--client-query-buffer-limit",
            "--tls-port",
            "--tls-cert-file",
            "--tls-key-file",
            "--client-output-buffer-limit-pubsub",
            "--pid-file",
            "--drain-timeout",
        ],
    ),
];

fn run(example: &str, args: &[&str]) -> Output {
    let exe = util::examples::binary(example);
    // A parser that let a bad flag through would start serving: the
    // timeout turns that into a failure instead of a hang.
    Command::new("timeout")
        .arg("10")
        .arg(exe)
        .args(args)
        .output()
        .expect("run the example")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_list_here_names_every_example() {
    let built: BTreeSet<&str> = util::examples::binaries().keys().map(String::as_str).collect();
    let listed: BTreeSet<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(built, listed, "examples built by cargo vs. listed in this test");
}

#[test]
fn help_lists_every_flag_of_every_example_and_exits_0() {
    for (example, flags) in EXAMPLES {
        for help in ["--help", "-h"] {
            let out = run(example, &[help]);
            let stdout = text(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{example} {help}: {stdout}{}",
                text(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "{example} {help} wrote to stderr: {}",
                text(&out.stderr)
            );
            assert!(
                stdout.contains(&format!("Usage: {example} [OPTIONS]")),
                "{example}: {stdout}"
            );
            // Exactly the example's flags: none missing, none unknown here.
            let listed: BTreeSet<&str> = stdout
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|w| w.starts_with("--") && *w != "--help")
                .collect();
            let expected: BTreeSet<&str> = flags.iter().copied().collect();
            assert_eq!(listed, expected, "{example} {help}:\n{stdout}");
        }
    }
}

/// Runs `example` with `args`, expects exit 2, no output on stdout and an
/// error on stderr that contains `names`.
fn refused(example: &str, args: &[&str], names: &str) {
    let out = run(example, args);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{example} {args:?}: {stderr}{}",
        text(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{example} {args:?} wrote {}", text(&out.stdout));
    assert!(stderr.starts_with("error: "), "{example} {args:?}: {stderr}");
    assert!(
        stderr.contains(names),
        "{example} {args:?}: {stderr:?} does not name {names:?}"
    );
}

#[test]
fn a_bad_flag_exits_2_with_a_message_naming_it() {
    for (example, _) in EXAMPLES {
        refused(example, &["--no-such-flag"], "unexpected argument '--no-such-flag'");
        refused(
            example,
            &["--no-such-flag", "1"],
            "unexpected argument '--no-such-flag'",
        );
        refused(example, &["stray"], "unexpected argument 'stray'");
        refused(example, &["--loops"], "a value is required for '--loops <N>'");
        refused(example, &["--loops", "many"], "invalid value 'many' for '--loops <N>'");
        refused(example, &["--loops", "0"], "at least one loop is needed");
        refused(example, &["--loops", "-1"], "unexpected argument '-1'");
        refused(example, &["--addr"], "a value is required for '--addr <ADDR>'");
        refused(
            example,
            &["--loops", "2", "--loops", "3"],
            "'--loops <N>' cannot be used multiple times",
        );
    }
}

#[test]
fn a_bad_value_of_an_examples_own_flag_exits_2_with_a_message_naming_it() {
    refused(
        "echo",
        &["--reuseport", "yes"],
        "invalid value 'yes' for '--reuseport <0|1>'",
    );
    refused(
        "length_field",
        &["--mode", "both"],
        "invalid value 'both' for '--mode <server|client>'",
    );
    refused(
        "length_field",
        &["--frames", "1k"],
        "invalid value '1k' for '--frames <N>'",
    );
    refused(
        "length_field",
        &["--max-size", "huge"],
        "invalid value 'huge' for '--max-size <BYTES>'",
    );
    refused(
        "proxy",
        &["--upstream", "nowhere"],
        "invalid value 'nowhere' for '--upstream <ADDR>'",
    );
    refused("proxy", &["--upstream", "sctp://127.0.0.1:1"], "unsupported scheme");
    refused(
        "proxy",
        &["--upstream", "udp://127.0.0.1:1"],
        "the upstream is tcp://host:port or tls://host:port",
    );
    refused(
        "proxy",
        &["--upstream", "tls://127.0.0.1:1"],
        "--upstream tls://… needs --upstream-ca FILE",
    );
    refused(
        "proxy",
        &["--upstream", "tcp://127.0.0.1:1", "--upstream-ca", "ca.pem"],
        "--upstream-ca is for a tls:// upstream",
    );
    refused(
        "proxy",
        &["--upstream", "tls://127.0.0.1:1", "--upstream-name", "localhost"],
        "--upstream-ca <FILE>",
    );
    refused("proxy", &["--tls-cert", "cert.pem"], "--tls-key <FILE>");
    refused(
        "http",
        &["--idle-timeout", "soon"],
        "invalid value 'soon' for '--idle-timeout <SECS>'",
    );
    refused("http", &["--request-timeout", "-1"], "value is negative");
    refused(
        "http",
        &["--max-body", "1MiB"],
        "invalid value '1MiB' for '--max-body <BYTES>'",
    );
    refused(
        "redis",
        &["--max-args", "many"],
        "invalid value 'many' for '--max-args <N>'",
    );
    refused("redis", &["--proto-max-bulk-len", "-5"], "unexpected argument '-5'");
    refused(
        "redis",
        &["--client-query-buffer-limit", "99999999999999999999999"],
        "invalid value '99999999999999999999999' for '--client-query-buffer-limit <BYTES>'",
    );
    refused(
        "redis",
        &["--client-output-buffer-limit-pubsub", "32mb"],
        "invalid value '32mb' for '--client-output-buffer-limit-pubsub <LIMITS>'",
    );
}
