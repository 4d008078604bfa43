//! The `slotproof` binary: argument parsing, logging and dispatch to commands.
//! Logs go to stderr; with `--json` a command prints one JSON object as the last
//! line of stdout.

mod bench;
mod logging;
mod node_cmd;
mod output;
mod p2p_cmd;
mod pipeline_cmd;
mod queue_cmd;
mod zkvm_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "slotproof", version, about = "Peer-to-peer node for Ethereum real-time proving")]
struct Cli {
    #[command(flatten)]
    log: logging::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and repair a node's task queue.
    Queue(queue_cmd::QueueArgs),
    /// Check pipeline definitions.
    Pipeline(pipeline_cmd::PipelineArgs),
    /// List the provers this node can run.
    Zkvms(zkvm_cmd::ZkvmsArgs),
    /// Prove a block with one zkVM and write a proof file.
    Prove(zkvm_cmd::ProveArgs),
    /// Verify a proof file against a block.
    Verify(zkvm_cmd::VerifyArgs),
    /// GPU inventory (nvidia-smi).
    Devices(zkvm_cmd::DevicesArgs),
    /// Benchmarks that print numbers.
    Bench(bench::BenchArgs),
    /// Act as an external prover through the file contract (specs/provers.md §3).
    External(zkvm_cmd::ExternalArgs),
    /// Run the proving node: follow the chain, prove every block with every zkVM.
    Node(Box<node_cmd::NodeArgs>),
    /// Run the embedded dev chain alone (real mainnet blocks at slot cadence).
    Devchain(node_cmd::DevchainArgs),
    /// The recent-blocks table of a running node.
    Status(node_cmd::StatusArgs),
    /// Node configuration files.
    Config(node_cmd::ConfigArgs),
    /// Every block record of a stopped node.
    Results(node_cmd::ResultsArgs),
    /// An Ethproofs-compatible API server for testnets.
    EthproofsServer(node_cmd::EthproofsServerArgs),
    /// The proving network: node ids, coverage reports.
    P2p(p2p_cmd::P2pArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log);
    let result = match cli.command {
        Command::Queue(args) => queue_cmd::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Pipeline(args) => pipeline_cmd::run(args),
        Command::Zkvms(args) => zkvm_cmd::zkvms(args),
        Command::Prove(args) => zkvm_cmd::prove(args),
        Command::Verify(args) => zkvm_cmd::verify(args),
        Command::Devices(args) => zkvm_cmd::devices(args),
        Command::Node(args) => node_cmd::node(*args),
        Command::Devchain(args) => node_cmd::devchain(args),
        Command::Status(args) => node_cmd::status(args),
        Command::Config(args) => node_cmd::config(args),
        Command::Results(args) => node_cmd::results(args),
        Command::EthproofsServer(args) => node_cmd::ethproofs_server(args),
        Command::P2p(args) => p2p_cmd::run(args),
        Command::External(args) => match zkvm_cmd::external(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, every cause joined: operators grep logs.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
