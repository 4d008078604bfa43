//! A real headless Chromium driven over WebDriver (W3C, through Debian's
//! `chromedriver`): enough of the protocol to open a page, run a script in
//! it, read the browser's console log and take a screenshot. Plain HTTP
//! through `http.rs`; the driver process and the session go on drop.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Reply, request, request_json};
use crate::{free_port, spawn_listening};

/// Where Debian installs them (`.ci/run` installs `chromium` and `chromium-driver`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

fn value(reply: &Reply, what: &str) -> Value {
    let v = reply.json();
    assert!(reply.status == 200, "WebDriver {what}: HTTP {}: {v}", reply.status);
    v["value"].clone()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at `width`×`height`, logging the console.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = spawn_listening(
            Command::new(CHROMEDRIVER).arg(format!("--port={port}")),
            port,
            "chromedriver (Debian's chromium-driver; .ci/run installs it)",
        );
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // No sandbox: CI runs as root in a container; the page is our own, on loopback.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars", format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser { driver, port, session: String::new() };
        let reply = request_json(port, "POST", "/session", &caps);
        let v = value(&reply, "new session");
        browser.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {v}")).to_string();
        browser
    }

    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        let path_in_session = format!("/session/{}{path}", self.session);
        // A GET carries no body (chromedriver refuses one).
        let reply = match body {
            Value::Null => request(self.port, method, &path_in_session, b""),
            body => request_json(self.port, method, &path_in_session, body),
        };
        value(&reply, path)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", &json!({"url": url}));
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub fn exec(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", &json!({"script": script, "args": []}))
    }

    pub fn set_window(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", &json!({"width": width, "height": height}));
        // Layout settles on the next frame.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The page as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self.command("GET", "/screenshot", &Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"))
    }

    /// The browser console's entries since the last call: (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let v = self.command("POST", "/se/log", &json!({"type": "browser"}));
        v.as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["level"].as_str().unwrap_or("?").to_string(), e["message"].as_str().unwrap_or("").to_string()))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request_json(self.port, "DELETE", &format!("/session/{}", self.session), &json!({}));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
