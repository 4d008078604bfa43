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
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
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
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

/// A whole response: status, header block (lowercased names) and body.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// `METHOD path` with `body`, the response read to the end (the server closes).
pub fn request(port: u16, method: &str, path: &str, body: &[u8]) -> Reply {
    request_typed(port, method, path, "application/octet-stream", body)
}

/// `METHOD path` with a JSON body (a WebDriver command).
pub fn request_json(port: u16, method: &str, path: &str, body: &Value) -> Reply {
    request_typed(port, method, path, "application/json", body.to_string().as_bytes())
}

fn request_typed(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connecting to :{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("a read timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("writing the request head");
    // A server may refuse (and close) before the whole body is sent: not an error here.
    let _ = s.write_all(body);
    let raw = read_response(&mut s);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP response: {}", String::from_utf8_lossy(&raw)));
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut reply = Reply { status, headers, body: raw[split + 4..].to_vec() };
    if reply.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        reply.body = dechunk(&reply.body);
    }
    reply
}

/// A response's bytes: up to its `Content-Length` when it has one (a
/// server such as chromedriver keeps the connection open regardless of
/// `Connection: close`), else to the end.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")?.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= split + 4 + n) {
                return raw;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// The payload of a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = raw.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// A Server-Sent Events stream read raw from the socket on a thread: the
/// text as it arrives (chunked transfer decoded), for a test to inspect.
pub struct EventStream {
    pub text: std::sync::Arc<std::sync::Mutex<String>>,
    pub headers: String,
    _socket: TcpStream,
}

impl EventStream {
    pub fn open(port: u16, path: &str) -> EventStream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connecting to :{port}: {e}"));
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").expect("writing");
        let mut reader = std::io::BufReader::new(s.try_clone().expect("cloning the socket"));
        let mut headers = String::new();
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            headers.push_str(&line);
        }
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = text.clone();
        let chunked = headers.to_ascii_lowercase().contains("transfer-encoding: chunked");
        std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                    return;
                }
                let piece = if chunked {
                    let Ok(size) = usize::from_str_radix(line.trim(), 16) else { return };
                    if size == 0 {
                        return;
                    }
                    let mut buf = vec![0u8; size + 2];
                    if std::io::Read::read_exact(&mut reader, &mut buf).is_err() {
                        return;
                    }
                    String::from_utf8_lossy(&buf[..size]).to_string()
                } else {
                    line
                };
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&piece);
            }
        });
        EventStream { text, headers, _socket: s }
    }

    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Each complete event so far: (event name, data), in order; comments skipped.
    pub fn events(&self) -> Vec<(String, String)> {
        let text = self.text();
        let mut out = Vec::new();
        let complete = text.rfind("\n\n").map_or("", |end| &text[..end]);
        for block in complete.split("\n\n") {
            let (mut name, mut data) = (String::from("message"), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                out.push((name, data));
            }
        }
        out
    }
}
