//! The dashboard as an operator sees it (specs/dashboard.md), in a real
//! headless Chromium driven over WebDriver: two nodes on the dev chain and
//! libp2p, the first one's page opened; its block rows carry a bar per zkVM
//! against the slot's deadline line, the peer, queue and outbox panels show
//! what `/status` says, a block's detail serves its proof's bytes, the
//! console stays clean, and the page fits a phone. The screenshot it takes
//! is `docs/dashboard.png` (written there with `SLOTPROOF_DOCS_SCREENSHOT=1`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use slotproof_tests::http::{EventStream, get, get_json, request};
use slotproof_tests::paths::workspace_root;
use slotproof_tests::webdriver::Browser;
use slotproof_tests::{Node, free_port, json_of, serial, slotproof, wait_for};

const SLOT: &str = "3s";
const SLOT_MS: f64 = 3000.0;
const WAIT: Duration = Duration::from_secs(120);

fn node_id(data: &Path) -> String {
    let out = slotproof(&["p2p", "id", "--json", "--data-dir", data.to_str().unwrap()]);
    json_of(&out)["node_id"].as_str().unwrap().to_string()
}

/// `slotproof node` on the dev chain at `rpc`, serving HTTP on `http`.
fn start_node(rpc: &str, data: &Path, http: u16, extra: &[&str]) -> Node {
    let http = format!("127.0.0.1:{http}");
    let mut args = vec!["node", "--rpc-url", rpc, "--slot-time", SLOT, "--data-dir", data.to_str().unwrap()];
    args.extend(["--http", &http]);
    args.extend(extra);
    Node::start(&args)
}

/// Closed blocks on `/status` whose own proofs are all in (number, hash, zkVMs).
fn settled_blocks(status: &Value) -> Vec<(u64, String, BTreeSet<String>)> {
    status["recent_blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| {
            b["closed"] == true && b["proofs"].as_array().is_some_and(|p| p.iter().all(|p| p["status"] != "pending"))
        })
        .map(|b| {
            let zkvms =
                b["proofs"].as_array().unwrap().iter().map(|p| p["zkvm"].as_str().unwrap().to_string()).collect();
            (b["block_number"].as_u64().unwrap(), b["block_hash"].as_str().unwrap().to_string(), zkvms)
        })
        .collect()
}

/// What the page shows, read from its DOM (text, not pixels).
const READ_PAGE: &str = r#"
const rows = [...document.querySelectorAll('.block-row')].map((r) => ({
  number: r.querySelector('.block-number').textContent,
  hash: r.dataset.hash,
  zkvms: [...r.querySelectorAll('.bar-row .zkvm-name')].map((e) => e.textContent),
  bars: r.querySelectorAll('.track .bar').length,
  lines: [...r.querySelectorAll('.track .deadline-line')].map((e) => parseFloat(e.style.left)),
}));
return {
  rows,
  network_bars: document.querySelectorAll('.bar.network').length,
  peers: document.getElementById('peers').textContent,
  queues: [...document.querySelectorAll('#queues td:first-child')].map((e) => e.textContent),
  outbox: document.getElementById('outbox').textContent,
  latency: [...document.querySelectorAll('#latency .zkvm-latency')].map((e) => e.dataset.zkvm),
  deadline: document.getElementById('deadline-text').textContent,
  conn: document.getElementById('conn').textContent,
  head: document.getElementById('head').textContent,
};
"#;

#[test]
fn the_dashboard_shows_live_blocks_and_panels_in_a_real_browser() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_chain, rpc) = Node::devchain(SLOT, 10, "4s");
    let (data0, data1) = (dir.path().join("node0"), dir.path().join("node1"));
    let (id0, id1) = (node_id(&data0), node_id(&data1));
    let (p2p0, http0, http1) = (free_port(), free_port(), free_port());
    let listen0 = format!("/ip4/127.0.0.1/tcp/{p2p0}");
    let boot = format!("{listen0}/p2p/{id0}");
    let _node0 =
        start_node(&rpc, &data0, http0, &["--p2p-listen", &listen0, "--zkvm", "stark", "--zkvm", "sim:pico-prism"]);
    let listen1 = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let _node1 = start_node(
        &rpc,
        &data1,
        http1,
        &["--p2p-listen", &listen1, "--bootnode", &boot, "--zkvm", "sim:sp1-hypercube"],
    );

    // Two settled blocks and the peer, as /status says, before the page is opened.
    let status = wait_for("four settled blocks and a peer on node 0", WAIT, || {
        let Some(s) = get_json(http0, "/status") else { return ControlFlow::Continue("no /status yet".into()) };
        let peers = s["network"]["peers"].as_array().map_or(0, Vec::len);
        let settled = settled_blocks(&s).len();
        if settled >= 4 && peers >= 1 {
            ControlFlow::Break(s)
        } else {
            ControlFlow::Continue(format!("{settled} settled blocks, {peers} peers"))
        }
    });
    let settled = settled_blocks(&status);

    // The first load carries the blocks in the page itself: nothing to wait for.
    let page = get(http0, "/").unwrap();
    for (number, _, _) in &settled {
        assert!(page.contains(&format!("\"block_number\":{number}")), "block {number} not in the first page load");
    }

    let browser = Browser::start(1280, 1700);
    browser.goto(&format!("http://127.0.0.1:{http0}/"));
    let at_load = browser.exec("return document.querySelectorAll('.block-row').length").as_u64().unwrap();
    assert!(at_load >= 2, "the page showed {at_load} block rows when it loaded");

    let shown = wait_for("the page to show the settled blocks, a network proof and the live feed", WAIT, || {
        let v = browser.exec(READ_PAGE);
        let rows = v["rows"].as_array().unwrap();
        let missing: Vec<u64> = settled
            .iter()
            .filter(|(n, h, zkvms)| {
                !rows.iter().any(|r| {
                    let names: BTreeSet<String> =
                        r["zkvms"].as_array().unwrap().iter().map(|z| z.as_str().unwrap().to_string()).collect();
                    r["number"].as_str() == Some(n.to_string().as_str())
                        && r["hash"] == h.as_str()
                        && zkvms.iter().all(|z| names.contains(z))
                })
            })
            .map(|(n, _, _)| *n)
            .collect();
        if missing.is_empty() && v["network_bars"].as_u64().unwrap() >= 1 && v["conn"] == "live" {
            ControlFlow::Break(v)
        } else {
            ControlFlow::Continue(format!("blocks not shown with every zkVM: {missing:?}; page: {v}"))
        }
    });
    for r in shown["rows"].as_array().unwrap() {
        let lines = r["lines"].as_array().unwrap();
        assert_eq!(lines.len() as u64, r["bars"].as_u64().unwrap(), "a deadline line on every bar's track: {r}");
        for left in lines {
            // The track spans 1.5 slots: the deadline sits at two thirds.
            assert!((left.as_f64().unwrap() - 100.0 / 1.5).abs() < 0.1, "deadline line at {left}%: {r}");
        }
    }
    assert_eq!(shown["deadline"], format!("slot deadline ({:.2} s)", SLOT_MS / 1000.0));
    assert!(shown["peers"].as_str().unwrap().contains(&id1), "peer panel lacks node 1 ({id1}): {shown}");
    let queues: Vec<&str> = shown["queues"].as_array().unwrap().iter().map(|q| q.as_str().unwrap()).collect();
    for q in status["queues"].as_object().unwrap().keys() {
        assert!(queues.contains(&q.as_str()), "queue panel lacks {q}: {queues:?}");
    }
    assert!(shown["outbox"].as_str().unwrap().contains("not configured"), "{shown}");
    assert_eq!(shown["latency"], serde_json::json!(["stark", "sim:pico-prism"]), "{shown}");

    // A block's detail links its proofs; the link serves the proof's bytes.
    browser.exec("document.querySelector('.block-row').click(); return null");
    let href = wait_for("the block detail's download link", Duration::from_secs(20), || {
        match browser
            .exec("const a = document.querySelector('#detail a[download]'); return a ? a.getAttribute('href') : null")
        {
            Value::String(h) => ControlFlow::Break(h),
            _ => ControlFlow::Continue("no download link yet".into()),
        }
    });
    let proof = request(http0, "GET", &href, b"");
    assert_eq!(proof.status, 200, "{href}: {}", String::from_utf8_lossy(&proof.body));
    let parts: Vec<&str> = href.split('/').collect();
    let (number, zkvm) = (parts[2], parts[4].replace("%3A", ":"));
    let block = get_json(http0, &format!("/api/blocks/{number}")).unwrap();
    let size = block["blocks"][0]["proofs"].as_array().unwrap().iter().find(|p| p["zkvm"] == zkvm.as_str()).unwrap()
        ["proof_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(proof.body.len() as u64, size, "{href} served a different proof");

    let errors: Vec<(String, String)> = browser.console().into_iter().filter(|(level, _)| level == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&out, &png).unwrap();
    if std::env::var_os("SLOTPROOF_DOCS_SCREENSHOT").is_some() {
        std::fs::write(workspace_root().unwrap().join("docs/dashboard.png"), &png).unwrap();
    }
    eprintln!("screenshot: {}", out.display());

    // A phone's width: nothing wider than the screen.
    browser.set_window(390, 844);
    let wider = browser.exec(
        "return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.panel')).map((e) => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)",
    );
    let fits = browser.exec("return document.documentElement.scrollWidth <= window.innerWidth + 1");
    assert_eq!(fits, Value::Bool(true), "the page is wider than a phone: {wider}");
    std::fs::write(out.with_file_name("dashboard-phone.png"), browser.screenshot()).unwrap();
}

/// specs/dashboard.md §2–§3: alone, the snapshot says there is no network,
/// no submission and no workers; streams past the bound are refused; and a
/// dashboard left open ends its stream when the node stops, so it never holds
/// up the shutdown.
#[test]
fn streams_are_bounded_and_end_when_the_node_stops() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_chain, rpc) = Node::devchain(SLOT, 3, "1s");
    let http = free_port();
    let mut node = start_node(&rpc, &dir.path().join("node"), http, &[]);
    let snapshot = wait_for("a block on the dashboard", WAIT, || match get_json(http, "/api/dashboard") {
        Some(s) if s["blocks"].as_array().is_some_and(|b| !b.is_empty()) => ControlFlow::Break(s),
        other => ControlFlow::Continue(format!("{other:?}")),
    });
    for part in ["network", "outbox", "workers"] {
        assert_eq!(snapshot[part], Value::Null, "{part} when proving alone: {snapshot}");
    }
    // A page of another site rebinding its name to the node gets nothing (specs/dashboard.md §1).
    let rebound = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
        write!(s, "GET /api/dashboard HTTP/1.1\r\nHost: attacker.example:{http}\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");

    let streams: Vec<EventStream> = (0..64).map(|_| EventStream::open(http, "/events")).collect();
    wait_for("a snapshot on every stream", Duration::from_secs(30), || {
        let waiting = streams.iter().filter(|s| !s.events().iter().any(|(name, _)| name == "snapshot")).count();
        if waiting == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(format!("{waiting} streams without one"))
        }
    });
    let refused = request(http, "GET", "/events", b"");
    assert_eq!(refused.status, 503, "the 65th stream: {}", String::from_utf8_lossy(&refused.body));

    node.signal("-TERM");
    let status = node.wait_exit(Duration::from_secs(30)).expect("the node stops with 64 dashboards open");
    assert!(status.success(), "{status:?}");
    let log = node.log();
    assert!(!log.contains("did not stop in time"), "an open stream held up the shutdown:\n{log}");
}
