//! `deploy/grafana/` and `deploy/prometheus/`, checked by the tools that read
//! them and against a real node: `promtool` accepts the alert rules, their
//! unit tests pass and the example config loads; and a real Prometheus
//! (Debian's `prometheus`) scraping a real node on the dev chain, with
//! Ethproofs submission to a real `slotproof ethproofs-server`, answers every
//! PromQL expression of the Grafana dashboard and the value side of every
//! alert with at least one series, and loads every alert. A panel or an
//! alert over a metric the node does not export (a renamed metric, a typo, a
//! wrong label) fails here, naming the expression.
//!
//! No YAML parser is in the workspace, so alert rules are read line by line
//! (see [`alert_rules`] for the format this assumes of `alerts.yml`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use slotproof_tests::http::{get, request};
use slotproof_tests::paths::workspace_root;
use slotproof_tests::{EthproofsServer, Node, free_port, serial, wait_for};

const DASHBOARD: &str = "deploy/grafana/slotproof.json";
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
const EXAMPLE_CONFIG: &str = "deploy/prometheus/prometheus.yml";

/// Grafana's variables as the dashboard uses them, given values that suit a
/// Prometheus scraping every second: `$__rate_interval` needs several samples.
const GRAFANA_VARIABLES: [(&str, &str); 5] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "5m"),
    ("${instance}", ".*"),
    ("$instance", ".*"),
];

fn root() -> PathBuf {
    workspace_root().unwrap()
}

fn tool(env: &str, name: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| name.to_string())
}

/// Runs a tool to completion in the workspace root; panics with its output unless it exits 0.
fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).current_dir(root()).output().unwrap_or_else(|e| {
        panic!("{program} (Debian's prometheus package; .ci/run installs it, or set PROMTOOL/PROMETHEUS): {e}")
    });
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed ({}):\n{said}", out.status);
    said
}

#[test]
fn promtool_accepts_the_rules_their_unit_tests_and_the_example_config() {
    let promtool = tool("PROMTOOL", "promtool");
    let said = run_tool(&promtool, &["check", "rules", ALERTS]);
    let rules = alert_rules(&read(ALERTS)).len();
    assert!(said.contains(&format!("SUCCESS: {rules} rules found")), "{said}");
    let said = run_tool(&promtool, &["test", "rules", ALERT_TESTS]);
    assert!(said.contains("SUCCESS"), "{said}");
    run_tool(&promtool, &["check", "config", EXAMPLE_CONFIG]);
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One alert rule: its name and its expression.
#[derive(Debug)]
struct AlertRule {
    name: String,
    expr: String,
}

/// The alerts of a rule file, read line by line. Assumes the layout of
/// `alerts.yml`: each rule starts with `- alert: NAME` (a plain scalar) and
/// has one `expr:` key after it, whose value is either on the same line (plain,
/// or in single or double quotes without escapes inside) or a block scalar
/// (`|`, `|-`, `>`, `>-`) whose lines are indented deeper than the key.
fn alert_rules(text: &str) -> Vec<AlertRule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = Vec::new();
    let mut name: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(n) = trimmed.strip_prefix("- alert:") {
            name = Some(n.trim().to_string());
        } else if let Some(value) = trimmed.strip_prefix("expr:") {
            let indent = line.len() - trimmed.len();
            let expr = scalar(value.trim(), &lines[i + 1..], indent);
            let name = name.take().unwrap_or_else(|| panic!("line {}: an expr: with no `- alert:` before it", i + 1));
            rules.push(AlertRule { name, expr });
        }
    }
    rules
}

/// A YAML scalar as [`alert_rules`] accepts it: `value` after the key, `rest` the lines below.
fn scalar(value: &str, rest: &[&str], key_indent: usize) -> String {
    if value.starts_with('|') || value.starts_with('>') {
        let block: Vec<&str> = rest
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
            .map(|l| l.trim())
            .collect();
        return block.join("\n").trim().to_string();
    }
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner.to_string();
        }
    }
    value.to_string()
}

/// Splits `<value> <comparison> <threshold>` at its one comparison outside
/// parentheses, brackets, braces and strings; None unless there is exactly one.
fn split_comparison(expr: &str) -> Option<(String, String)> {
    let bytes = expr.as_bytes();
    let (mut depth, mut quote, mut found) = (0i32, None::<u8>, Vec::new());
    let mut i = 0;
    while i < bytes.len() {
        let (c, next) = (bytes[i], bytes.get(i + 1).copied());
        match (quote, c) {
            (Some(q), b'\\') if q != b'`' => i += 1,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'' | b'`') => quote = Some(c),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => depth -= 1,
            (None, b'=' | b'!' | b'<' | b'>') if depth == 0 => {
                let two = next == Some(b'=');
                if two || matches!(c, b'<' | b'>') {
                    found.push((i, if two { 2 } else { 1 }));
                }
                i += usize::from(two);
            }
            _ => {}
        }
        i += 1;
    }
    match found[..] {
        [(at, len)] => Some((expr[..at].trim().to_string(), expr[at + len..].trim().to_string())),
        _ => None,
    }
}

/// Every `targets[].expr` of the dashboard with the title of its panel, rows' panels included.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, title: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                let title = map.get("title").and_then(Value::as_str).unwrap_or(title);
                if let Some(targets) = map.get("targets").and_then(Value::as_array) {
                    for expr in targets.iter().filter_map(|t| t["expr"].as_str()) {
                        out.push((title.to_string(), expr.to_string()));
                    }
                }
                map.iter().filter(|(k, _)| *k != "targets").for_each(|(_, v)| walk(v, title, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, title, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, "", &mut out);
    out
}

/// A Grafana expression made a plain PromQL one ([`GRAFANA_VARIABLES`]).
fn substitute(expr: &str) -> String {
    let expr = GRAFANA_VARIABLES.iter().fold(expr.to_string(), |e, (var, value)| e.replace(var, value));
    assert!(!expr.contains('$'), "a Grafana variable this test does not know: {expr}");
    expr
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// What Grafana's import needs: a schema version, a uid, every panel with a
/// unique id, a title, a description (the question it answers) and the
/// dashboard's datasource variable; the alerts' file has an expression that
/// splits into value and threshold for each rule.
#[test]
fn the_dashboard_and_the_alerts_have_the_shape_their_readers_expect() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty() && u.len() <= 40), "uid");
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"));
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel id {} twice", p["id"]);
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "a panel without a title: {p}");
        if p["type"] == "row" {
            continue;
        }
        assert!(p["description"].as_str().is_some_and(|t| t.len() > 20), "{}: no description", p["title"]);
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    assert!(dashboard_exprs(&d).len() >= 10);
    let rules = alert_rules(&read(ALERTS));
    assert!(rules.len() >= 7, "{rules:?}");
    for r in &rules {
        assert!(split_comparison(&r.expr).is_some(), "{}: not `<value> <comparison> <threshold>`: {}", r.name, r.expr);
    }
}

#[test]
fn the_expression_reader_splits_at_the_one_top_level_comparison() {
    let (lhs, rhs) = split_comparison(r#"sum(x{a=~"b|c", d!="e>f"}) / sum(y[5m]) > 0.1"#).unwrap();
    assert_eq!((lhs.as_str(), rhs.as_str()), (r#"sum(x{a=~"b|c", d!="e>f"}) / sum(y[5m])"#, "0.1"));
    assert_eq!(split_comparison("up == 0").unwrap(), ("up".into(), "0".into()));
    assert_eq!(split_comparison("a < on (i) b").unwrap(), ("a".into(), "on (i) b".into()));
    assert!(split_comparison("rate(x[1m])").is_none(), "no comparison");
    assert!(split_comparison("a > 1 and b < 2").is_none(), "two comparisons");
    let rules = alert_rules(
        "groups:\n  - rules:\n      - alert: A\n        expr: |\n          x\n          > 1\n        for: 1m\n      - alert: B\n        expr: 'y == 0'\n",
    );
    assert_eq!(rules.len(), 2);
    assert_eq!((rules[0].name.as_str(), rules[0].expr.as_str()), ("A", "x\n> 1"));
    assert_eq!((rules[1].name.as_str(), rules[1].expr.as_str()), ("B", "y == 0"));
    assert_eq!(percent_encode("a{b=\"c\"}[1m] / 2"), "a%7Bb%3D%22c%22%7D%5B1m%5D%20%2F%202");
}

/// A running `prometheus`, its log in a file; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    /// Scraping the node's `/metrics` at `target` every second, evaluating `rules` every second.
    fn start(dir: &Path, target: &str, rules: &Path) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules:?}\n\
                 scrape_configs:\n  - job_name: slotproof\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let program = tool("PROMETHEUS", "prometheus");
        let child = Command::new(&program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} (Debian's prometheus package; .ci/run installs it): {e}"));
        let p = Prometheus { child, port, log };
        wait_for("Prometheus to be ready", Duration::from_secs(30), || match get(port, "/-/ready") {
            Some(body) if body.contains("Ready") => ControlFlow::Break(()),
            other => ControlFlow::Continue(format!("{other:?}\n{}", p.log())),
        });
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` answered with `"status": "success"`: its `data`.
    fn api(&self, path: &str) -> Value {
        let reply = request(self.port, "GET", path, b"");
        let v = reply.json();
        assert!(reply.status == 200 && v["status"] == "success", "{path}: HTTP {}: {v}", reply.status);
        v["data"].clone()
    }

    /// An instant query's result vector, or why there is none (refused, not a vector).
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let reply = request(self.port, "GET", &format!("/api/v1/query?query={}", percent_encode(expr)), b"");
        let v = reply.json();
        if v["status"] != "success" {
            return Err(format!("refused: {}", v["error"]));
        }
        match v["data"]["resultType"].as_str() {
            Some("vector") => Ok(v["data"]["result"].as_array().cloned().unwrap_or_default()),
            other => Err(format!("a {other:?}, not an instant vector")),
        }
    }

    /// The first sample's value of `expr`, if it has one.
    fn value(&self, expr: &str) -> Option<f64> {
        self.query(expr).ok()?.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dev chain, a node submitting to an ethproofs-server, and its HTTP port.
fn node_on_the_devchain(dir: &Path, server: &EthproofsServer) -> (Node, Node, u16) {
    let (chain, ws) = Node::devchain("1500ms", 1000, "1s");
    let http = free_port();
    let token = dir.join("ethproofs-token");
    std::fs::write(&token, "team-key\n").unwrap();
    let node = Node::start(&[
        "node",
        "--rpc-url",
        &ws,
        "--slot-time",
        "1500ms",
        "--data-dir",
        dir.join("data").to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{http}"),
        "--ethproofs-url",
        &server.url(),
        "--ethproofs-token-file",
        token.to_str().unwrap(),
    ]);
    (chain, node, http)
}

/// The value of an unlabelled series in the node's own `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Each expression that returned no series (or an error), with where it came from.
fn unanswered(prom: &Prometheus, exprs: &[(String, String)]) -> Vec<String> {
    let mut missing = Vec::new();
    for (from, expr) in exprs {
        match prom.query(expr) {
            Ok(series) if !series.is_empty() => {
                let values: Vec<&Value> = series.iter().map(|s| &s["value"][1]).take(4).collect();
                eprintln!("ok  {from}: {expr} -> {} series {values:?}", series.len());
            }
            Ok(_) => missing.push(format!("{from}: no series: {expr}")),
            Err(e) => missing.push(format!("{from}: {e}: {expr}")),
        }
    }
    missing
}

/// A real Prometheus scrapes a real node (dev chain, Ethproofs submission on,
/// so the outbox series exist): every dashboard expression and every alert's
/// value side returns a series, and every alert of `alerts.yml` is loaded and
/// evaluates without an error.
#[test]
fn a_real_prometheus_scraping_a_node_answers_every_panel_and_alert() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = EthproofsServer::start(&dir.path().join("server"), &[]);
    let (_chain, node, http) = node_on_the_devchain(dir.path(), &server);
    wait_for("the node to close 2 blocks and queue Ethproofs calls", Duration::from_secs(60), || {
        let text = get(http, "/metrics").unwrap_or_default();
        let closed = metric(&text, "slotproof_blocks_closed_total").unwrap_or(0.0);
        if closed >= 2.0 && text.contains("slotproof_queue_tasks{queue=\"ethproofs\"") {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(format!("{text}\n{}", node.log()))
        }
    });
    let prom = Prometheus::start(dir.path(), &format!("127.0.0.1:{http}"), &root().join(ALERTS));
    wait_for("Prometheus to scrape the node 8 times", Duration::from_secs(60), || {
        let scrapes = prom.value(r#"count_over_time(up{job="slotproof"}[1m])"#).unwrap_or(0.0);
        let up = prom.value(r#"up{job="slotproof"}"#);
        if scrapes >= 8.0 && up == Some(1.0) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(format!("{scrapes} scrapes, up {up:?}\n{}", prom.log()))
        }
    });

    let panels: Vec<(String, String)> = dashboard_exprs(&dashboard())
        .into_iter()
        .map(|(title, e)| (format!("panel {title:?}"), substitute(&e)))
        .collect();
    let rules = alert_rules(&read(ALERTS));
    let alerts: Vec<(String, String)> = rules
        .iter()
        .map(|r| {
            let (lhs, _) = split_comparison(&r.expr).unwrap_or_else(|| panic!("{}: no single comparison", r.name));
            (format!("alert {}", r.name), lhs)
        })
        .collect();
    let missing = unanswered(&prom, &[panels, alerts].concat());
    assert!(missing.is_empty(), "expressions with no data from a running node:\n{}", missing.join("\n"));

    let wanted: BTreeSet<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    let loaded = wait_for("every alert evaluated", Duration::from_secs(20), || {
        let groups = prom.api("/api/v1/rules?type=alert")["groups"].clone();
        let loaded: Vec<Value> = groups
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if loaded.iter().all(|r| r["health"] != "unknown") && loaded.len() >= wanted.len() {
            ControlFlow::Break(loaded)
        } else {
            ControlFlow::Continue(format!("{loaded:?}"))
        }
    });
    let names: BTreeSet<&str> = loaded.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, wanted, "the alerts Prometheus loaded from {ALERTS}");
    for r in &loaded {
        assert_eq!(r["health"], "ok", "{}: {}", r["name"], r["lastError"]);
    }
}
