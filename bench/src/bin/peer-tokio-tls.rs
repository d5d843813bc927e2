//! Peer for benches/tls.sh: a TLS echo server, tokio-rustls (ring) on one
//! tokio current-thread runtime (one core, as netreactor's examples/echo
//! with `--loops 1`), with the server config netreactor's examples use.
//! Echoes every decrypted byte back; a 32 KiB read buffer holds two full
//! TLS records of plaintext. Prints `pid=PID addr=IP:PORT` when listening;
//! stops on SIGTERM.

use netreactor_bench::{announce, listener, raise_nofile_limit, tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "peer-tokio-tls --addr IP:PORT --tls-cert FILE --tls-key FILE";

async fn echo(acceptor: TlsAcceptor, s: TcpStream) {
    let _ = s.set_nodelay(true);
    let Ok(mut s) = acceptor.accept(s).await else {
        return;
    };
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() || s.flush().await.is_err() {
                    return;
                }
            }
        }
    }
    // Answer the client's close_notify with ours, as netreactor does.
    let _ = s.shutdown().await;
}

fn main() {
    let (addr, config) = tls::peer_flags(USAGE);
    let acceptor = TlsAcceptor::from(config);
    raise_nofile_limit();
    let std_listener = listener(addr, false).expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let bound = std_listener.local_addr().expect("local addr");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let l = TcpListener::from_std(std_listener).expect("listener");
        announce("peer-tokio-tls", bound);
        loop {
            match l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(echo(acceptor.clone(), s));
                }
                Err(e) => eprintln!("peer-tokio-tls: accept: {e}"),
            }
        }
    });
}
