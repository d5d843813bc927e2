//! examples/redis against redis-py (tests/redis/client_test.py): every
//! command family with redis-py's default RESP3 and again with
//! protocol=2, pipelines with and without a transaction, and concurrent
//! WATCH/MULTI/EXEC retries. python3 and the `redis` package must be
//! installed (.ci/run installs them): a missing one fails the test.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use harness::{run_redis_py, serve_with, Config};

#[test]
fn redis_py_resp3_and_resp2() {
    let engine = serve_with(Config::default(), 2);
    run_redis_py("client_test.py", engine.local_addr());
}
