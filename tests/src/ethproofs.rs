//! `slotproof ethproofs-server` in its own process, as the end-to-end tests
//! run it: started on a free port with an API key, read back over real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;

use serde_json::Value;

use crate::process::{free_port, slotproof_command, spawn_listening};

pub const KEYS_ENV: &str = "SLOTPROOF_ETHPROOFS_API_KEYS";

/// A running `slotproof ethproofs-server`, stopped on drop.
pub struct EthproofsServer {
    pub child: Child,
    pub port: u16,
}

impl EthproofsServer {
    pub fn start(dir: &Path, extra: &[&str]) -> EthproofsServer {
        let mut args = vec!["--api-key", "team-key"];
        args.extend_from_slice(extra);
        EthproofsServer::start_with(dir, &args, None)
    }

    /// With `args` after the listen address and data dir, and
    /// `SLOTPROOF_ETHPROOFS_API_KEYS` set to `env_keys` (unset without).
    pub fn start_with(dir: &Path, args: &[&str], env_keys: Option<&str>) -> EthproofsServer {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = slotproof_command();
        cmd.args(["ethproofs-server", "--listen", &listen, "--data-dir", dir.to_str().expect("test paths are UTF-8")])
            .args(args);
        match env_keys {
            Some(keys) => cmd.env(KEYS_ENV, keys),
            None => cmd.env_remove(KEYS_ENV),
        };
        let child = spawn_listening(&mut cmd, port, "ethproofs-server");
        EthproofsServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v0", self.port)
    }

    pub fn get(&self, path: &str) -> (String, Vec<u8>) {
        self.get_as(path, "team-key")
    }

    /// `GET /api/v0{path}` with `key`: the response head and body.
    pub fn get_as(&self, path: &str, key: &str) -> (String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to ethproofs-server");
        write!(s, "GET /api/v0{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
            .expect("sending the request");
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).expect("reading the response");
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response head");
        (String::from_utf8_lossy(&bytes[..split]).into_owned(), bytes[split + 4..].to_vec())
    }

    pub fn proofs(&self) -> Vec<Value> {
        let (_, body) = self.get("/proofs?limit=1000");
        let v: Value = serde_json::from_slice(&body).expect("GET /proofs answers JSON");
        v["proofs"].as_array().cloned().unwrap_or_else(|| panic!("no proofs array: {v}"))
    }
}

impl Drop for EthproofsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
