//! The outbound policy: where a check may connect when a repository's map names the place.
//!
//! Maps are written by whoever can push to a repository, and the sweep runs inside the
//! operator's network, with its cloud credentials one link-local hop away. So every address
//! a map names (HTTP checks, PostgreSQL and Redis URLs) is resolved first and each answer
//! judged; the connection then goes to an address that was judged, never to a second DNS
//! answer. Judging resolved addresses covers every spelling of one (decimal `2130706433`,
//! octal `0177.0.0.1`, IPv4-mapped `::ffff:127.0.0.1`): they all resolve to the same address.
//!
//! By default loopback, link-local, unspecified, broadcast and multicast addresses are
//! refused, and private ranges allowed (lower environments live there).
//! `FIXPOINT_SWEEP_ALLOW` (comma-separated CIDRs) replaces the default with an allowlist.
//! Cloud metadata endpoints are refused whatever the allowlist says: they hand out the
//! credentials of the machine Fixpoint runs on. The setting is read in `config::sweep`;
//! this module depends on nothing else of Fixpoint, so every layer can use it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Instance and task metadata endpoints (EC2 IMDS, ECS task credentials, EKS pod identity,
/// Alibaba Cloud): credentials for whoever asks from inside the machine.
const METADATA: [IpAddr; 6] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
];

/// An address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address range"))?;
        let net = canonical(net);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length outside 0..={max}"))?,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let host_bits = width - u32::from(prefix);
    host_bits >= width || (a >> host_bits) == (b >> host_bits)
}

/// `::ffff:127.0.0.1` is 127.0.0.1 to the kernel: judge it as one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an address is refused; `None` when it may be connected to.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// `None`: the default rules. `Some`: only these ranges (metadata still refused).
    allow: Option<Arc<[Cidr]>>,
}

/// Why no address came out of [`OutboundPolicy::resolve`].
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The name does not resolve: the dependency's problem, reported as the skill reports
    /// a DNS failure, not a refusal.
    #[error("DNS lookup failed for {host}: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
}

/// A check refused before it connected: the node is `unknown`, with this as the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} resolves to {addr}, {why}; Fixpoint does not connect there for a map. {fix}")]
pub struct Refused {
    host: String,
    addr: IpAddr,
    why: &'static str,
    fix: &'static str,
}

impl OutboundPolicy {
    pub fn allow_only(cidrs: impl IntoIterator<Item = Cidr>) -> Self {
        Self {
            allow: Some(cidrs.into_iter().collect()),
        }
    }

    /// Why `ip` is refused, with what the operator could do about it.
    fn judge(&self, ip: IpAddr) -> Option<(&'static str, &'static str)> {
        let ip = canonical(ip);
        if METADATA.contains(&ip) {
            return Some((
                "a cloud metadata endpoint",
                "It hands out the server's own credentials; no setting allows it.",
            ));
        }
        if let Some(allow) = &self.allow {
            if allow.iter().any(|c| c.contains(ip)) {
                return None;
            }
            return Some((
                "outside FIXPOINT_SWEEP_ALLOW",
                "Add its range to FIXPOINT_SWEEP_ALLOW if the sweep should reach it.",
            ));
        }
        let fix = "Set FIXPOINT_SWEEP_ALLOW to the ranges the sweep may reach to allow it.";
        let why = match ip {
            IpAddr::V4(v4) if v4.is_loopback() => "a loopback address",
            IpAddr::V4(v4) if v4.is_link_local() => "a link-local address",
            IpAddr::V4(v4) if v4.is_unspecified() || v4.octets()[0] == 0 => {
                "an unspecified address"
            }
            IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => {
                "a multicast or broadcast address"
            }
            IpAddr::V6(v6) if v6.is_loopback() => "a loopback address",
            IpAddr::V6(v6) if v6.is_unicast_link_local() => "a link-local address",
            IpAddr::V6(v6) if v6.is_unspecified() => "an unspecified address",
            IpAddr::V6(v6) if v6.is_multicast() => "a multicast address",
            _ => return None,
        };
        Some((why, fix))
    }

    /// `Ok` when `ip` may be connected to; the error names the host and why not.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        match self.judge(ip) {
            None => Ok(()),
            Some((why, fix)) => Err(Refused {
                host: host.to_string(),
                addr: ip,
                why,
                fix,
            }),
        }
    }

    /// Resolves `host` and keeps the answers that may be connected to; refused when none
    /// may. Connect to what this returns, not to `host` again.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        // `[::1]` in a URL is `::1` to the resolver.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let lookup = |source| ResolveError::Lookup {
            host: host.to_string(),
            source,
        };
        let answers: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(lookup)?
            .collect();
        let mut refused = None;
        let mut permitted = Vec::new();
        for addr in answers {
            match self.check(host, addr.ip()) {
                Ok(()) => permitted.push(addr),
                Err(e) => refused = refused.or(Some(e)),
            }
        }
        match (permitted.is_empty(), refused) {
            (false, _) => Ok(permitted),
            (true, Some(refused)) => Err(refused.into()),
            (true, None) => Err(lookup(std::io::Error::other("no address returned"))),
        }
    }
}

/// The resolver of the HTTP skill's client: every name it connects to is judged here, so
/// a second DNS answer (rebinding) is judged too. IP literals never reach a resolver:
/// the skill checks those itself.
pub struct PolicyResolver(pub OutboundPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The refusal somewhere in an error's chain, if that is why it failed.
pub fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_refuses_local_and_metadata_addresses_and_allows_private_ranges() {
        let policy = OutboundPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
        ] {
            assert!(policy.check("h", ip(refused)).is_err(), "{refused}");
        }
        for allowed in [
            "10.1.2.3",
            "192.168.0.10",
            "172.16.5.4",
            "fd12::1",
            "8.8.8.8",
        ] {
            assert!(policy.check("h", ip(allowed)).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn an_allowlist_replaces_the_default_but_never_allows_metadata() {
        let policy = OutboundPolicy::allow_only([Cidr::parse("127.0.0.0/8").unwrap()]);
        assert!(policy.check("h", ip("127.0.0.1")).is_ok());
        assert!(policy.check("h", ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check("h", ip("10.0.0.1")).is_err());
        let all = OutboundPolicy::allow_only([
            Cidr::parse("0.0.0.0/0").unwrap(),
            Cidr::parse("::/0").unwrap(),
        ]);
        assert!(all.check("h", ip("169.254.169.254")).is_err());
        assert!(all.check("h", ip("fd00:ec2::254")).is_err());
    }

    #[test]
    fn ranges_parse_or_say_what_is_wrong() {
        assert!(
            Cidr::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("10.255.0.1"))
        );
        assert!(!Cidr::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(Cidr::parse("10.0.0.5").unwrap().contains(ip("10.0.0.5")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten/8").is_err());
    }
}
