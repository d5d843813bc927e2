//! Parsing "proto://host:port" and "unix:///path" addresses.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// A parsed listen or dial address.
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// use netreactor::Address;
///
/// match Address::parse("tcp6://[::1]:8080")? {
///     Address::Tcp(addr) => assert!(addr.is_ipv6() && addr.port() == 8080),
///     other => unreachable!("{other} is not TCP"),
/// }
/// # Ok::<(), netreactor::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address, resolved.
    Tcp(SocketAddr),
    /// A UDP address, resolved (every loop gets its own socket on it).
    Udp(SocketAddr),
    /// A TCP address whose connections speak TLS (`tls://host:port`),
    /// resolved; the engine's server config is set with
    /// `EngineBuilder::tls` (feature `tls`).
    Tls(SocketAddr),
    /// A Unix stream socket at a path in the file system.
    Unix(PathBuf),
    /// A Unix stream socket with a Linux abstract name (no file; the name
    /// without the leading `@`).
    UnixAbstract(Vec<u8>),
}

impl Address {
    /// Parses `tcp://host:port`, `tcp4://…`, `tcp6://…`, a bare `host:port`
    /// (TCP), `udp://…`, `udp4://…`, `udp6://…`, `unix:///path/to.sock`
    /// (or `unix://relative/path`, or the URI form `unix:/path/to.sock`) and
    /// `unix://@name` (a Linux abstract name). Schemes are case-insensitive.
    /// Host names are resolved; `tcp4`/`tcp6` keep only that family.
    ///
    /// Any thread (resolving a host name blocks it).
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for an unknown scheme, a missing port (the
    /// message says so), an address that does not resolve, or an empty or
    /// over-long Unix path.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::Address;
    /// let a = Address::parse("tcp://127.0.0.1:9000").unwrap();
    /// assert_eq!(a, Address::Tcp("127.0.0.1:9000".parse().unwrap()));
    /// assert_eq!(Address::parse("unix:///run/app.sock").unwrap(), Address::Unix("/run/app.sock".into()));
    /// assert_eq!(Address::parse("unix://@app").unwrap(), Address::UnixAbstract(b"app".to_vec()));
    /// assert_eq!(Address::parse("unix://@app").unwrap().to_string(), "unix://@app");
    /// assert_eq!(Address::parse("unix:/run/app.sock").unwrap(), Address::Unix("/run/app.sock".into()));
    /// assert_eq!(Address::parse("TCP://127.0.0.1:1").unwrap(), Address::parse("tcp://127.0.0.1:1").unwrap());
    /// assert!(Address::parse("sctp://127.0.0.1:1").is_err());
    /// let no_port = Address::parse("tcp://127.0.0.1").unwrap_err().to_string();
    /// assert!(no_port.contains("missing port"), "{no_port}");
    /// ```
    pub fn parse(s: &str) -> Result<Address> {
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            // "unix:/path" and "unix:@name", the URI forms without "//".
            None => match s.get(..5).filter(|p| p.eq_ignore_ascii_case("unix:")) {
                Some(_) => ("unix".to_owned(), &s[5..]),
                None => ("tcp".to_owned(), s),
            },
        };
        if scheme == "unix" {
            return parse_unix(s, rest);
        }
        let (family, udp): (fn(&SocketAddr) -> bool, bool) = match scheme.as_str() {
            "tcp" | "tls" => (|_| true, false),
            "tcp4" => (SocketAddr::is_ipv4, false),
            "tcp6" => (SocketAddr::is_ipv6, false),
            "udp" => (|_| true, true),
            "udp4" => (SocketAddr::is_ipv4, true),
            "udp6" => (SocketAddr::is_ipv6, true),
            other => {
                return Err(Error::InvalidAddress(format!(
                    "unsupported scheme {other:?} in {s:?} (tcp, tcp4, tcp6, tls, udp, udp4, udp6 or unix)"
                )))
            }
        };
        if let Some(why) = missing_port(rest) {
            return Err(Error::InvalidAddress(format!("{s:?}: {why}")));
        }
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| Error::InvalidAddress(format!("{s:?}: {e}")))?
            .find(family)
            .ok_or_else(|| Error::InvalidAddress(format!("{s:?} resolves to no usable address")))?;
        Ok(if udp {
            Address::Udp(addr)
        } else if scheme == "tls" {
            Address::Tls(addr)
        } else {
            Address::Tcp(addr)
        })
    }

    /// The IP address and port of a TCP or UDP address. Any thread.
    ///
    /// ```
    /// use netreactor::Address;
    /// assert!(Address::parse("tcp://127.0.0.1:1").unwrap().socket_addr().is_some());
    /// assert!(Address::parse("unix://@x").unwrap().socket_addr().is_none());
    /// ```
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Address::Tcp(a) | Address::Udp(a) | Address::Tls(a) => Some(*a),
            _ => None,
        }
    }
}

/// Why `host_port` (the part after the scheme) has no port, if it has none:
/// a bare IP address or host name, or an IPv6 address without brackets.
fn missing_port(host_port: &str) -> Option<String> {
    if host_port.parse::<SocketAddr>().is_ok() {
        return None;
    }
    let host = host_port.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(format!(
            "missing port (an IPv6 address takes brackets and a port: [{host}]:9000)"
        ));
    }
    let no_colon = !host_port.contains(':');
    no_colon.then(|| format!("missing port (write host:port, for example {host_port}:9000)"))
}

/// The longest Unix socket name the kernel takes (sun_path, minus the NUL
/// that ends a path).
const MAX_UNIX_PATH_BYTES: usize = 107;

fn parse_unix(s: &str, rest: &str) -> Result<Address> {
    let too_long = |n: usize| n > MAX_UNIX_PATH_BYTES;
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() || too_long(name.len() + 1) {
            return Err(Error::InvalidAddress(format!(
                "{s:?}: an abstract name needs 1 to {} bytes",
                MAX_UNIX_PATH_BYTES - 1
            )));
        }
        return Ok(Address::UnixAbstract(name.as_bytes().to_vec()));
    }
    if rest.is_empty() || too_long(rest.len()) || rest.contains('\0') {
        return Err(Error::InvalidAddress(format!(
            "{s:?}: a Unix socket path needs 1 to {MAX_UNIX_PATH_BYTES} bytes and no NUL"
        )));
    }
    Ok(Address::Unix(PathBuf::from(rest)))
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "tcp://{a}"),
            Address::Udp(a) => write!(f, "udp://{a}"),
            Address::Tls(a) => write!(f, "tls://{a}"),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::UnixAbstract(name) => write!(f, "unix://@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// Where a connection came from: [`Conn::origin`](crate::Conn::origin).
///
/// Any thread (a plain value). See the example on
/// [`Conn::origin`](crate::Conn::origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Accepted on the engine's listener number `listener` (an index into
    /// [`EngineHandle::local_addrs`](crate::EngineHandle::local_addrs)).
    Accepted {
        /// The listener's index.
        listener: usize,
    },
    /// Handed to the engine with
    /// [`EngineHandle::enroll`](crate::EngineHandle::enroll).
    Enrolled,
    /// Opened by the engine with
    /// [`EngineHandle::dial`](crate::EngineHandle::dial).
    Dialed,
}

impl Origin {
    /// Compact form kept in every connection.
    pub(crate) fn to_raw(self) -> u16 {
        match self {
            Origin::Accepted { listener } => listener as u16,
            Origin::Enrolled => ENROLLED,
            Origin::Dialed => DIALED,
        }
    }

    pub(crate) fn from_raw(raw: u16) -> Origin {
        match raw {
            ENROLLED => Origin::Enrolled,
            DIALED => Origin::Dialed,
            listener => Origin::Accepted {
                listener: listener as usize,
            },
        }
    }
}

const ENROLLED: u16 = u16::MAX;
const DIALED: u16 = u16::MAX - 1;

/// One or several listen addresses, as [`EngineBuilder::start`](crate::EngineBuilder::start)
/// and [`run`](crate::EngineBuilder::run) take them: a `&str` or `String`,
/// or an array, slice or `Vec` of them, or of [`Address`]es.
///
/// ```
/// use netreactor::ListenAddrs;
/// let one = "tcp://127.0.0.1:0".listen_addrs().unwrap();
/// let two = ["tcp://127.0.0.1:0", "unix://@admin"].listen_addrs().unwrap();
/// assert_eq!((one.len(), two.len()), (1, 2));
/// ```
pub trait ListenAddrs {
    /// The parsed addresses, in order.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for the first that does not parse, or an
    /// empty list.
    fn listen_addrs(&self) -> Result<Vec<Address>>;
}

impl ListenAddrs for str {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        Ok(vec![Address::parse(self)?])
    }
}

impl ListenAddrs for String {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        self.as_str().listen_addrs()
    }
}

impl ListenAddrs for Address {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        Ok(vec![self.clone()])
    }
}

impl<T: ListenAddrs + ?Sized> ListenAddrs for &T {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        (**self).listen_addrs()
    }
}

impl<T: ListenAddrs> ListenAddrs for [T] {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        let mut all = Vec::with_capacity(self.len());
        for a in self {
            all.extend(a.listen_addrs()?);
        }
        if all.is_empty() {
            return Err(Error::InvalidAddress(
                "no address to listen on (an engine that only dials out starts with EngineBuilder::start_client)"
                    .into(),
            ));
        }
        Ok(all)
    }
}

impl<T: ListenAddrs, const N: usize> ListenAddrs for [T; N] {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        self.as_slice().listen_addrs()
    }
}

impl<T: ListenAddrs> ListenAddrs for Vec<T> {
    fn listen_addrs(&self) -> Result<Vec<Address>> {
        self.as_slice().listen_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_and_bare_addresses() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(Address::parse("127.0.0.1:80").unwrap(), Address::Tcp(v4));
        assert_eq!(Address::parse("tcp4://127.0.0.1:80").unwrap(), Address::Tcp(v4));
        assert!(Address::parse("tcp6://127.0.0.1:80").is_err());
        assert!(Address::parse("tcp://nonsense").is_err());
        assert_eq!(Address::parse("udp://127.0.0.1:80").unwrap(), Address::Udp(v4));
        assert!(Address::parse("udp6://127.0.0.1:80").is_err());
        assert_eq!(Address::parse("TLS://127.0.0.1:80").unwrap(), Address::Tls(v4));
        assert_eq!(Address::Tls(v4).to_string(), "tls://127.0.0.1:80");
    }

    #[test]
    fn parses_unix_paths_and_abstract_names_within_the_kernel_limit() {
        assert_eq!(
            Address::parse("unix:///tmp/a.sock").unwrap(),
            Address::Unix("/tmp/a.sock".into())
        );
        assert_eq!(
            Address::parse("unix://rel.sock").unwrap(),
            Address::Unix("rel.sock".into())
        );
        assert_eq!(
            Address::parse("unix://@n").unwrap(),
            Address::UnixAbstract(b"n".to_vec())
        );
        assert!(Address::parse("unix://").is_err());
        assert!(Address::parse("unix://@").is_err());
        let longest = format!("unix:///{}", "a".repeat(MAX_UNIX_PATH_BYTES - 1));
        assert!(Address::parse(&longest).is_ok());
        let over = format!("unix:///{}", "a".repeat(MAX_UNIX_PATH_BYTES));
        assert!(Address::parse(&over).is_err());
        assert!(Address::parse("unix:///a\0b").is_err());
        assert!(["unix://@x", "tcp://127.0.0.1:0"].listen_addrs().unwrap().len() == 2);
        assert!(Vec::<&str>::new().listen_addrs().is_err());
    }
}
