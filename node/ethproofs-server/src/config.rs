//! What the server is started with (specs/submission.md §4), and where its
//! API keys come from: `--api-key`, a keys file, the environment. It never
//! logs or prints a key: errors name where a key came from, not the key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ServerError;

/// API keys, comma-separated, for a server that should not show them in `ps`.
pub const API_KEYS_ENV: &str = "SLOTPROOF_ETHPROOFS_API_KEYS";

/// The published limit: 60 requests per 60 s per key, shared by the three
/// status calls and `GET /proofs`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub requests: usize,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { requests: 60, window: Duration::from_secs(60) }
    }
}

pub struct ServerConfig {
    /// The database lives in `<data_dir>/ethproofs`.
    pub data_dir: PathBuf,
    /// API keys; each is one team.
    pub api_keys: Vec<String>,
    pub rate_limit: RateLimit,
    /// Where block facts come from (`eth_getBlockByNumber`); without it `/blocks` knows none.
    pub rpc_url: Option<String>,
}

/// The places API keys are given; every source is used, none is required
/// on its own.
#[derive(Default)]
pub struct KeySources<'a> {
    /// `--api-key`, as given.
    pub args: &'a [String],
    /// `--api-keys-file`: one key per line; blank lines and lines starting
    /// with `#` are skipped.
    pub file: Option<&'a Path>,
    /// The value of [`API_KEYS_ENV`]: keys separated by commas.
    pub env: Option<&'a str>,
}

/// Every key of every source, each once, in the order given; an error when
/// a file cannot be read, a key could never be sent as a bearer token, or
/// there is no key at all.
pub fn api_keys(sources: &KeySources<'_>) -> Result<Vec<String>, ServerError> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (i, k) in sources.args.iter().enumerate() {
        found.push((k.clone(), format!("--api-key number {}", i + 1)));
    }
    if let Some(path) = sources.file {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ServerError::ApiKeysFile { path: path.to_path_buf(), source })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                found.push((line.to_string(), format!("on line {} of {}", i + 1, path.display())));
            }
        }
    }
    if let Some(env) = sources.env {
        let entries = env.split(',').map(str::trim).filter(|k| !k.is_empty());
        for (i, k) in entries.enumerate() {
            found.push((k.to_string(), format!("number {} in {API_KEYS_ENV}", i + 1)));
        }
    }
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for (key, origin) in found {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ServerError::BadApiKey { origin });
        }
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(ServerError::NoApiKeys);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_arguments_file_and_environment_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# team keys\n\n  file-a  \nfile-b\n# file-c\narg-a\n").unwrap();
        let args = vec!["arg-a".to_string()];
        let sources = KeySources { args: &args, file: Some(&file), env: Some(" env-a, ,env-b,file-a,") };
        assert_eq!(api_keys(&sources).unwrap(), ["arg-a", "file-a", "file-b", "env-a", "env-b"]);
    }

    #[test]
    fn each_source_is_enough_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "only\n").unwrap();
        assert_eq!(api_keys(&KeySources { file: Some(&file), ..Default::default() }).unwrap(), ["only"]);
        assert_eq!(api_keys(&KeySources { env: Some("e"), ..Default::default() }).unwrap(), ["e"]);
        let args = vec!["a".to_string()];
        assert_eq!(api_keys(&KeySources { args: &args, ..Default::default() }).unwrap(), ["a"]);
    }

    #[test]
    fn no_key_from_any_source_is_an_error_naming_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# nothing yet\n\n").unwrap();
        let err = api_keys(&KeySources { file: Some(&file), env: Some(" , "), ..Default::default() }).unwrap_err();
        assert!(matches!(err, ServerError::NoApiKeys), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("--api-key") && msg.contains("--api-keys-file") && msg.contains(API_KEYS_ENV), "{msg}");
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/slotproof/keys");
        let err = api_keys(&KeySources { file: Some(missing), ..Default::default() }).unwrap_err();
        assert!(matches!(&err, ServerError::ApiKeysFile { path, .. } if path == missing), "{err}");
    }

    #[test]
    fn a_key_that_cannot_be_a_bearer_token_is_refused_without_printing_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "good\nsecret with-space\n").unwrap();
        let err = api_keys(&KeySources { file: Some(&file), ..Default::default() }).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ServerError::BadApiKey { .. }) && msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("secret"), "the key is never printed: {msg}");
    }
}
