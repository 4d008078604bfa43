//! The adversary's flags: where the network is, how long to attack, how
//! many identities to burn.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use slotproof_p2p::Multiaddr;

/// A hostile node for the chaos testnet: joins over libp2p and attacks.
#[derive(Parser, Debug, Clone)]
#[command(name = "slotproof-adversary", version)]
pub struct Args {
    /// An honest node to join through (repeat for several).
    #[arg(long = "bootnode", required = true)]
    pub bootnodes: Vec<Multiaddr>,
    /// Where to listen (a fresh identity listens on the same address).
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: Multiaddr,
    /// The network id the honest nodes use (`slotproof node --network`).
    #[arg(long, default_value = "devnet")]
    pub network: String,
    /// How many identities (fresh keypairs) to use over the run, in turn.
    #[arg(long, default_value_t = 4)]
    pub identities: u32,
    /// Run this long, then exit 0; without it, run until SIGTERM or Ctrl-C.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// How long one identity lives when --minutes is not given.
    #[arg(long, default_value_t = 60)]
    pub rotate_every_secs: u64,
    /// Append each peer id used, one per line (chaos.sh counts which were graylisted).
    #[arg(long)]
    pub identities_file: Option<PathBuf>,
    /// Bytes of each unverifiable proof it serves (disk fill; EIP-8025's cap is 4 MiB).
    #[arg(long, default_value_t = 4 * 1024 * 1024 - 4096)]
    pub junk_proof_bytes: usize,
    /// Concurrent by-range requests per honest peer in one flood.
    #[arg(long, default_value_t = 32)]
    pub range_streams: usize,
    /// Seconds between floods (by-range requests and announcements).
    #[arg(long, default_value_t = 15)]
    pub flood_every_secs: u64,
}

impl Args {
    /// The whole run, when bounded.
    pub fn run_for(&self) -> Option<Duration> {
        self.minutes.filter(|m| m.is_finite() && *m > 0.0).map(|m| Duration::from_secs_f64(m * 60.0))
    }

    /// How long each identity lives: the run split evenly, else the rotation period.
    pub fn identity_lifetime(&self) -> Duration {
        let n = self.identities.max(1);
        match self.run_for() {
            Some(total) => total / n,
            None => Duration::from_secs(self.rotate_every_secs.max(1)),
        }
    }
}
