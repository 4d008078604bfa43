//! Plain HTTP/1.1 over loopback for the node's endpoints and Anvil's
//! JSON-RPC: a few lines of `TcpStream`, so a test sees exactly what went
//! over the wire and needs no client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// The body of `GET path`, or None while nothing answers.
pub fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// `GET path` parsed as JSON, or None while nothing (or no JSON) answers.
pub fn get_json(port: u16, path: &str) -> Option<Value> {
    get(port, path).and_then(|b| serde_json::from_str(&b).ok())
}

/// One JSON-RPC call (Anvil's), its whole response object.
pub fn rpc(port: u16, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connecting to RPC :{port}: {e}"));
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("writing the RPC request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("reading the RPC response");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Anvil may answer chunked; the JSON object is the part between the outer braces.
    let (Some(start), Some(end)) = (body.find('{'), body.rfind('}')) else { panic!("{method}: no JSON in {text}") };
    serde_json::from_str(&body[start..=end]).unwrap_or_else(|e| panic!("{method}: {e}: {text}"))
}
