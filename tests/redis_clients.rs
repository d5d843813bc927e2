//! examples/redis against redis-py (tests/redis/client_test.py): every
//! command family with redis-py's default RESP3 and again with
//! protocol=2, pipelines with and without a transaction, and concurrent
//! WATCH/MULTI/EXEC retries. python3 and the `redis` package must be
//! installed (.ci/run installs them): a missing one fails the test.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use harness::{run, serve_with, Config};

#[test]
fn redis_py_resp3_and_resp2() {
    let engine = serve_with(Config::default(), 2);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redis/client_test.py");
    let port = engine.local_addr().port().to_string();
    let out = run("python3", &[script, "127.0.0.1", &port], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'redis'"),
        "redis-py is not installed (.ci/run: pip install redis)"
    );
    assert!(out.status.success(), "client_test.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
}
