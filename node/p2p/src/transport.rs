//! The swarm's transports (specs/p2p.md §1, §6): TCP (noise, yamux) and QUIC,
//! and which addresses the node may dial. Peers advertise addresses (identify,
//! the DHT); dialling them blindly would let a stranger point the node at
//! private networks or at hosts by name. So unless private addresses are
//! allowed (a local testnet), every dial to a non-global IP is refused at the
//! transport, whoever asked for it; DNS addresses are never dialled (no DNS
//! transport). Builds transports; never decides which peers to dial.

use std::net::IpAddr;
use std::time::Duration;

use futures::future::Either;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, global_only};
use libp2p::core::upgrade::Version;
use libp2p::core::{Multiaddr, Transport as _};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{PeerId, noise, quic, tcp, yamux};

use crate::error::P2pError;

/// TCP and QUIC; behind `global_only` unless `allow_private`.
pub fn build(key: &Keypair, allow_private: bool) -> Result<Boxed<(PeerId, StreamMuxerBox)>, P2pError> {
    let noise = noise::Config::new(key).map_err(|e| P2pError::setup("noise", e))?;
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .timeout(Duration::from_secs(20));
    let quic = quic::tokio::Transport::new(quic::Config::new(key));
    let both = tcp
        .or_transport(quic)
        .map(|either, _| match either {
            Either::Left((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
            Either::Right((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
        })
        .boxed();
    Ok(if allow_private { both } else { global_only::Transport::new(both).boxed() })
}

/// An address a stranger may point the node at: a global IP (not loopback,
/// private, link-local, CGNAT, documentation or unspecified). DNS names are not.
pub fn is_global(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => is_global_ip(IpAddr::V4(ip)),
        Some(Protocol::Ip6(ip)) => is_global_ip(IpAddr::V6(ip)),
        _ => false,
    }
}

fn is_global_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| !is_global_ip(IpAddr::V4(v4))))
        }
    }
}

/// Whether the operator's own addresses (listen, bootnodes) say this is a
/// private network (a local testnet on 127.0.0.1, a LAN): then peers'
/// private addresses are dialled too. An unspecified listen address
/// (`0.0.0.0`) says nothing either way.
pub fn private_network(listen: &[Multiaddr], bootnodes: &[Multiaddr]) -> bool {
    let specified = |a: &&Multiaddr| {
        !matches!(a.iter().next(), Some(Protocol::Ip4(ip)) if ip.is_unspecified())
            && !matches!(a.iter().next(), Some(Protocol::Ip6(ip)) if ip.is_unspecified())
    };
    listen
        .iter()
        .filter(specified)
        .chain(bootnodes)
        .any(|a| matches!(a.iter().next(), Some(Protocol::Ip4(_) | Protocol::Ip6(_))) && !is_global(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    /// specs/p2p.md §6: only global addresses pass for strangers.
    #[test]
    fn private_and_named_addresses_are_not_global() {
        for s in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.0.1/tcp/1",
            "/ip4/172.16.0.1/tcp/1",
            "/ip4/169.254.1.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/0.0.0.0/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/ip6/::ffff:10.0.0.1/tcp/1",
            "/dns4/localhost/tcp/1",
            "/dns/metadata.google.internal/tcp/80",
        ] {
            assert!(!is_global(&a(s)), "{s}");
        }
        for s in ["/ip4/8.8.8.8/tcp/1", "/ip4/1.1.1.1/udp/1/quic-v1", "/ip6/2001:4860::8888/tcp/1"] {
            assert!(is_global(&a(s)), "{s}");
        }
    }

    /// specs/p2p.md §6: a node on 127.0.0.1 or with a LAN bootnode is on a private network; 0.0.0.0 says nothing.
    #[test]
    fn the_operators_addresses_decide_whether_private_dials_are_allowed() {
        assert!(private_network(&[a("/ip4/127.0.0.1/tcp/9000")], &[]));
        assert!(private_network(&[a("/ip4/0.0.0.0/tcp/9000")], &[a("/ip4/192.168.1.5/tcp/9000")]));
        assert!(!private_network(&[a("/ip4/0.0.0.0/tcp/9000")], &[a("/ip4/8.8.8.8/tcp/9000")]));
        assert!(!private_network(&[a("/ip4/0.0.0.0/tcp/9000")], &[]));
    }

    /// specs/p2p.md §6: with private dials refused, the transport will not dial 127.0.0.1.
    #[tokio::test]
    async fn the_transport_refuses_private_dials() {
        let key = Keypair::generate_ed25519();
        let mut t = build(&key, false).unwrap();
        let opts = libp2p::core::transport::DialOpts {
            role: libp2p::core::Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::New,
        };
        assert!(t.dial(a("/ip4/127.0.0.1/tcp/1"), opts).is_err());
        let mut open = build(&key, true).unwrap();
        assert!(open.dial(a("/ip4/127.0.0.1/tcp/1"), opts).is_ok(), "allowed on a private network");
    }
}
