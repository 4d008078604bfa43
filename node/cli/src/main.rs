//! The `slotproof` binary: argument parsing, logging and dispatch to commands.
//! Logs go to stderr; with `--json` a command prints one JSON object as the last
//! line of stdout.

mod bench;
mod duration_arg;
mod ere_server_cmd;
mod external_cmd;
mod logging;
mod node_args;
mod node_cmd;
mod output;
mod p2p_cmd;
mod payload_cmd;
mod pipeline_cmd;
mod queue_cmd;
mod worker_cmd;
mod zkvm_args;
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
    External(external_cmd::ExternalArgs),
    /// Run the proving node: follow the chain, prove every block with every zkVM.
    Node(Box<node_args::NodeArgs>),
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
    /// A block's EIP-8025 NewPayloadRequest: its root and SSZ bytes, or the block an SSZ request stands for.
    Payload(payload_cmd::PayloadArgs),
    /// Serve one of this node's zkVMs as an ere-server (Twirp api.ZkvmService).
    EreServer(ere_server_cmd::EreServerArgs),
    /// A remote prover worker: proves a node's tasks leased over NATS (`node --queue nats://…`).
    Worker(worker_cmd::WorkerArgs),
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
        Command::Payload(args) => payload_cmd::run(args),
        Command::EreServer(args) => ere_server_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(args),
        Command::External(args) => match external_cmd::external(args) {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand, depth first, with its path from the root.
    fn all_commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            all_commands(sub, format!("{path} {}", sub.get_name()), out);
        }
        out.push((path, cmd.clone()));
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_of_every_command_has_help() {
        let mut commands = Vec::new();
        all_commands(&Cli::command(), "slotproof".into(), &mut commands);
        let mut missing = Vec::new();
        for (path, cmd) in &commands {
            if cmd.get_about().is_none() && path != "slotproof help" && !path.starts_with("slotproof help ") {
                missing.push(format!("{path} (the command)"));
            }
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version") {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "flags without help text: {missing:#?}");
    }

    #[test]
    fn node_flags_are_grouped_by_concern() {
        let cli = Cli::command();
        let node = cli.find_subcommand("node").expect("node command");
        let heading = |id: &str| {
            let arg = node.get_arguments().find(|a| a.get_id() == id).unwrap_or_else(|| panic!("no flag {id}"));
            arg.get_help_heading().map(str::to_string)
        };
        assert_eq!(heading("rpc_url").as_deref(), Some("Chain"));
        assert_eq!(heading("zkvm").as_deref(), Some("zkVMs"));
        assert!(heading("k").is_some_and(|h| h.starts_with("Network")));
        assert_eq!(heading("ethproofs_url").as_deref(), Some("Submission"));
        assert_eq!(heading("http_listen").as_deref(), Some("HTTP"));
        assert_eq!(heading("sim_seed").as_deref(), Some("Simulation"));
        assert_eq!(heading("summary_json").as_deref(), Some("Run control and output"));
        assert_eq!(heading("config"), None, "the config file is the node's own, under Options");
    }
}
