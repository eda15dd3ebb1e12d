//! A throwaway OCI registry for tests: Debian's `docker-registry` (the CNCF Distribution
//! registry) serving a temporary directory on a free port of 127.0.0.1, plain HTTP.
//! It can be stopped and started again on the same port and storage, to test what an
//! outage does. The binary is `$REGISTRY_BIN`, else `docker-registry` on the PATH.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far above what a start takes on a busy two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The registry binary, or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("REGISTRY_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("docker-registry"))
        .find(|bin| bin.is_file())
        .ok_or_else(|| "docker-registry is not on the PATH (install Debian's docker-registry package, or set REGISTRY_BIN)".to_owned())
}

/// A registry for `suite`, or None after printing why the suite is skipped.
pub fn start_or_skip(suite: &str) -> Option<Registry> {
    match Registry::start() {
        Ok(registry) => Some(registry),
        Err(reason) => {
            println!("{suite}: SKIPPED: {reason}");
            None
        }
    }
}

/// A running registry, killed on drop.
pub struct Registry {
    bin: PathBuf,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    pub fn start() -> Result<Registry, String> {
        let bin = binary()?;
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("picking a free port: {e}"))?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).map_err(|e| format!("registry config: {e}"))?;
        let mut registry = Registry { bin, addr, dir, child: None };
        registry.resume()?;
        Ok(registry)
    }

    /// "127.0.0.1:PORT", the registry part of a reference.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the server (as an outage would); the stored artifacts stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and storage, and waits until it listens.
    pub fn resume(&mut self) -> Result<(), String> {
        self.stop();
        let log = std::fs::File::create(self.dir.path().join("registry.log")).map_err(|e| format!("registry log: {e}"))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err() {
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("the registry did not listen on {} within {START_TIMEOUT:?}: {}", self.addr, self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
