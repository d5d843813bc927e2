//! Choosing the loop that serves a new connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::handle::LoopShared;

/// The connection counts of the loops, as a balancer sees them.
///
/// Acceptor thread only: the engine lends it to
/// [`LoadBalancer::pick`] on `nr-accept`.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use netreactor::{Engine, EventHandler, LoadBalancer, LoopLoads};
///
/// /// Fills loop 0 up to two connections, then the least loaded other loop.
/// struct FillFirst;
/// impl LoadBalancer for FillFirst {
///     fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
///         if loads.is_empty() || loads.connections(0) < 2 {
///             return 0;
///         }
///         (1..loads.len()).min_by_key(|&i| loads.connections(i)).unwrap_or(0)
///     }
/// }
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(3)
///     .load_balancer(FillFirst)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _clients = (0..4)
///     .map(|_| std::net::TcpStream::connect(engine.local_addr()))
///     .collect::<Result<Vec<_>, _>>()?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while engine.connection_count() < 4 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert_eq!(engine.loop_connection_counts(), [2, 1, 1]);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoopLoads<'a> {
    loops: &'a [LoopShared],
}

impl<'a> LoopLoads<'a> {
    pub(crate) fn new(loops: &'a [LoopShared]) -> Self {
        LoopLoads { loops }
    }

    /// How many loops there are (at least one).
    ///
    /// Acceptor thread only (inside [`LoadBalancer::pick`]).
    ///
    /// See the example on [`LoopLoads`].
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// Always false: an engine has at least one loop.
    ///
    /// Acceptor thread only (inside [`LoadBalancer::pick`]).
    ///
    /// See the example on [`LoopLoads`].
    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// Connections loop `i` owns or is about to own (the ones picked
    /// before this call included).
    ///
    /// Acceptor thread only (inside [`LoadBalancer::pick`]).
    ///
    /// # Panics
    /// If `i >= self.len()` (in `pick`, the engine catches the panic and
    /// sends that connection to the next loop in turn).
    ///
    /// See the example on [`LoopLoads`].
    pub fn connections(&self, i: usize) -> usize {
        self.loops[i].connections()
    }
}

/// Picks a loop for each accepted connection. Runs on the acceptor thread
/// (`nr-accept`). A panic in `pick` is caught: that connection goes to the
/// next loop in turn and the acceptor goes on. Not used with
/// [`reuse_port`](crate::EngineBuilder::reuse_port), where each loop accepts
/// for itself.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use netreactor::{Engine, EventHandler, LoadBalancer, LoopLoads};
///
/// /// Everything on loop 0.
/// struct First;
///
/// impl LoadBalancer for First {
///     fn pick(&self, _peer: Option<SocketAddr>, _loads: LoopLoads<'_>) -> usize {
///         0
///     }
/// }
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(2)
///     .load_balancer(First)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _a = std::net::TcpStream::connect(engine.local_addr())?;
/// let _b = std::net::TcpStream::connect(engine.local_addr())?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while engine.connection_count() < 2 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert_eq!(engine.loop_connection_counts(), [2, 0]);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait LoadBalancer: Send + Sync + 'static {
    /// The index of the loop, in `0..loads.len()` (taken modulo the count),
    /// for a connection from `peer`.
    ///
    /// Runs on the acceptor thread (`nr-accept`), once per accepted
    /// connection.
    ///
    /// See the example on [`LoadBalancer`].
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize;
}

/// The built-in strategies, or your own.
///
/// Any thread (a plain value, given to
/// [`EngineBuilder::load_balancing`](crate::EngineBuilder::load_balancing)).
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler, LoadBalancing};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(2)
///     .load_balancing(LoadBalancing::SourceAddrHash)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _clients = (0..3)
///     .map(|_| std::net::TcpStream::connect(engine.local_addr()))
///     .collect::<Result<Vec<_>, _>>()?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while engine.connection_count() < 3 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// let mut counts = engine.loop_connection_counts();
/// counts.sort();
/// assert_eq!(counts, [0, 3]); // one host, one loop
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `Custom` takes a [`LoadBalancer`] of your own; see the example there.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum LoadBalancing {
    /// Each loop in turn (the default).
    #[default]
    RoundRobin,
    /// The loop with the fewest connections.
    LeastConnections,
    /// A hash of the peer's IP address (not its port), so all connections
    /// from one host share a loop.
    SourceAddrHash,
    /// A balancer of your own.
    Custom(Arc<dyn LoadBalancer>),
}

impl fmt::Debug for LoadBalancing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadBalancing::RoundRobin => f.write_str("RoundRobin"),
            LoadBalancing::LeastConnections => f.write_str("LeastConnections"),
            LoadBalancing::SourceAddrHash => f.write_str("SourceAddrHash"),
            LoadBalancing::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl LoadBalancing {
    pub(crate) fn into_balancer(self) -> Arc<dyn LoadBalancer> {
        match self {
            LoadBalancing::RoundRobin => Arc::new(RoundRobin::default()),
            LoadBalancing::LeastConnections => Arc::new(LeastConnections),
            LoadBalancing::SourceAddrHash => Arc::new(SourceAddrHash),
            LoadBalancing::Custom(b) => b,
        }
    }
}

/// Each loop in turn.
///
/// Any thread; the engine calls it on its acceptor thread (`nr-accept`).
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler, RoundRobin};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(2)
///     .load_balancer(RoundRobin::default()) // as LoadBalancing::RoundRobin, the default
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _clients = (0..4)
///     .map(|_| std::net::TcpStream::connect(engine.local_addr()))
///     .collect::<Result<Vec<_>, _>>()?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while engine.connection_count() < 4 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert_eq!(engine.loop_connection_counts(), [2, 2]);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl LoadBalancer for RoundRobin {
    fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % loads.len()
    }
}

/// The loop with the fewest connections; ties go to the lowest index.
///
/// Any thread; the engine calls it on its acceptor thread (`nr-accept`).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use netreactor::{Engine, EventHandler, LeastConnections};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(2)
///     .load_balancer(LeastConnections)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let wait_for = |counts: [usize; 2]| {
///     let deadline = Instant::now() + Duration::from_secs(10);
///     while engine.loop_connection_counts() != counts && Instant::now() < deadline {
///         std::thread::yield_now();
///     }
///     engine.loop_connection_counts() == counts
/// };
/// let _a = std::net::TcpStream::connect(engine.local_addr())?; // loop 0 (a tie)
/// assert!(wait_for([1, 0]));
/// let b = std::net::TcpStream::connect(engine.local_addr())?; // loop 1
/// assert!(wait_for([1, 1]));
/// drop(b);
/// assert!(wait_for([1, 0]));
/// let _c = std::net::TcpStream::connect(engine.local_addr())?; // loop 1 again, the emptier
/// assert!(wait_for([1, 1]));
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct LeastConnections;

impl LoadBalancer for LeastConnections {
    fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        (0..loads.len()).min_by_key(|&i| loads.connections(i)).unwrap_or(0)
    }
}

/// FNV-1a of the peer's IP address (IPv4-mapped IPv6 counts as IPv4), so
/// all connections from one host share a loop.
///
/// Any thread; the engine calls it on its acceptor thread (`nr-accept`).
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler, SourceAddrHash};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(4)
///     .load_balancer(SourceAddrHash)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _clients = (0..3)
///     .map(|_| std::net::TcpStream::connect(engine.local_addr()))
///     .collect::<Result<Vec<_>, _>>()?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while engine.connection_count() < 3 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert!(engine.loop_connection_counts().contains(&3)); // all on one loop
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct SourceAddrHash;

impl LoadBalancer for SourceAddrHash {
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        peer.map_or(0, |p| (ip_hash(p.ip()) % loads.len() as u64) as usize)
    }
}

fn ip_hash(ip: IpAddr) -> u64 {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let fnv1a = |bytes: &[u8]| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    match ip {
        IpAddr::V4(v4) => fnv1a(&v4.octets()),
        IpAddr::V6(v6) => fnv1a(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hash_ignores_the_port_and_maps_v4_in_v6() {
        let a: SocketAddr = "10.1.2.3:1000".parse().unwrap();
        let b: SocketAddr = "10.1.2.3:2000".parse().unwrap();
        let c: SocketAddr = "[::ffff:10.1.2.3]:3000".parse().unwrap();
        let d: SocketAddr = "10.1.2.4:1000".parse().unwrap();
        assert_eq!(ip_hash(a.ip()), ip_hash(b.ip()));
        assert_eq!(ip_hash(a.ip()), ip_hash(c.ip()));
        assert_ne!(ip_hash(a.ip()), ip_hash(d.ip()));
    }
}
