//! Parsing "proto://host:port" addresses.

use std::net::{SocketAddr, ToSocketAddrs};

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
///     _ => unreachable!("only TCP so far"),
/// }
/// # Ok::<(), netreactor::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address, resolved.
    Tcp(SocketAddr),
}

impl Address {
    /// Parses `tcp://host:port`, `tcp4://…`, `tcp6://…` or a bare `host:port`
    /// (TCP). Host names are resolved; `tcp4`/`tcp6` keep only that family.
    ///
    /// Any thread (resolving a host name blocks it).
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for an unknown scheme or an address that
    /// does not resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::Address;
    /// let a = Address::parse("tcp://127.0.0.1:9000").unwrap();
    /// assert_eq!(a, Address::Tcp("127.0.0.1:9000".parse().unwrap()));
    /// assert!(Address::parse("sctp://127.0.0.1:1").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Address> {
        let (scheme, rest) = s.split_once("://").unwrap_or(("tcp", s));
        let family: fn(&SocketAddr) -> bool = match scheme {
            "tcp" => |_| true,
            "tcp4" => SocketAddr::is_ipv4,
            "tcp6" => SocketAddr::is_ipv6,
            other => return Err(Error::InvalidAddress(format!("unsupported scheme {other:?} in {s:?}"))),
        };
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| Error::InvalidAddress(format!("{s:?}: {e}")))?
            .find(family)
            .ok_or_else(|| Error::InvalidAddress(format!("{s:?} resolves to no usable address")))?;
        Ok(Address::Tcp(addr))
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
        assert!(Address::parse("udp://127.0.0.1:80").is_err());
    }
}
