//! Secrets in RPC URLs, kept out of logs, errors and `/status`: providers put
//! API keys in the userinfo (`https://user:key@host`), in a path segment
//! (`/v3/<key>`, `/v2/<key>`) or in the query (`?apikey=<key>`). What an
//! operator needs to tell endpoints apart (scheme, host, port, short path
//! segments) stays; every such part becomes `***`.

const HIDDEN: &str = "***";

/// A path segment long and random-looking enough to be a key: 16+ characters
/// of letters, digits, `-` or `_`, with both letters and digits.
fn looks_like_key(segment: &str) -> bool {
    segment.len() >= 16
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && segment.bytes().any(|b| b.is_ascii_digit())
        && segment.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A query value worth hiding: named like a credential, or long enough to be one.
fn secret_value(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let named = ["key", "token", "secret", "auth", "pass", "sig"].iter().any(|k| name.contains(k));
    !value.is_empty() && (named || value.len() >= 8)
}

/// The URL's secret parts, in the order they appear.
fn secrets(url: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (rest, fragment) = rest.split_once('#').map_or((rest, None), |(a, b)| (a, Some(b)));
    let (rest, query) = rest.split_once('?').map_or((rest, None), |(a, b)| (a, Some(b)));
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if let Some((userinfo, _host)) = authority.rsplit_once('@') {
        out.push(userinfo);
    }
    out.extend(path.split('/').filter(|s| looks_like_key(s)));
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (name, value) = pair.split_once('=').unwrap_or(("", pair));
        if secret_value(name, value) {
            out.push(value);
        }
    }
    out.extend(fragment.filter(|f| !f.is_empty()));
    out
}

/// The URL as it may be shown.
pub fn redact_url(url: &str) -> String {
    redact_in(url, url)
}

/// `text` (a log line, an error message) with every secret part of `url` hidden.
pub fn redact_in(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    let mut parts = secrets(url);
    // Longest first, so a part that contains another is hidden whole.
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in parts {
        out = out.replace(p, HIDDEN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_userinfo_path_and_query_are_hidden() {
        let cases = [
            ("https://user:s3cretpass@rpc.example:8545/", "https://***@rpc.example:8545/"),
            ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io/v3/***"),
            ("wss://eth-mainnet.g.alchemy.com/v2/Ab3dEf6hIj9kLm2nOp5q", "wss://eth-mainnet.g.alchemy.com/v2/***"),
            ("https://rpc.example/eth?apikey=XYZ123&chain=1", "https://rpc.example/eth?apikey=***&chain=1"),
            ("https://rpc.example/?x=0123456789abcdef", "https://rpc.example/?x=***"),
            ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
            ("ws://127.0.0.1:41234/", "ws://127.0.0.1:41234/"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_message_quoting_the_url_loses_the_key_too() {
        let url = "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef";
        let msg = format!("error sending request for url ({url}/): connection refused");
        let shown = redact_in(&msg, url);
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("mainnet.infura.io/v3/***"), "{shown}");
    }

    #[test]
    fn ordinary_path_segments_stay() {
        assert_eq!(redact_url("https://node.example/eth/mainnet"), "https://node.example/eth/mainnet");
        assert_eq!(
            redact_url("https://node.example/averylongwordwithoutdigits"),
            "https://node.example/averylongwordwithoutdigits"
        );
    }
}
