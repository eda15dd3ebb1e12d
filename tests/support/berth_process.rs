//! `berth run` as a child process for the end-to-end suites that need what only a
//! process has: its own identity in a Lease, SIGTERM, being killed. Each process acts as
//! deploy/rbac.yaml's ServiceAccount (impersonation), logs to a file, serves /metrics on
//! a port of its own, and is killed if the test ends first (a panic included).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::control_plane::ControlPlane;
use crate::operator::{PATIENCE, fail};

/// The `berth` binary beside the test binary (`make e2e` builds it).
pub fn berth_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(fail("locating the test binary"))?;
    let binary = exe.parent().and_then(Path::parent).map(|dir| dir.join("berth")).ok_or("no target directory")?;
    binary
        .is_file()
        .then_some(binary.clone())
        .ok_or_else(|| format!("{} is missing: run `make e2e`, or `cargo build --workspace --bins` first", binary.display()))
}

/// A kubeconfig in `dir` that acts as deploy/rbac.yaml's ServiceAccount.
pub fn service_account_kubeconfig(plane: &ControlPlane, dir: &Path) -> Result<PathBuf, String> {
    let kubeconfig = plane.kubeconfig_yaml().replace(
        "    token: ",
        "    as: system:serviceaccount:berth-system:berth\n    as-groups: [system:serviceaccounts, system:authenticated]\n    token: ",
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).map_err(fail("kubeconfig"))?;
    Ok(path)
}

/// What a test's `berth run` processes share: the binary, a directory for their logs and
/// plugin cache, and a kubeconfig acting as deploy/rbac.yaml's ServiceAccount.
pub struct Launcher {
    binary: PathBuf,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Launcher {
    pub fn new(plane: &ControlPlane) -> Result<Launcher, String> {
        let binary = berth_binary()?;
        let dir = tempfile::tempdir().map_err(fail("temporary directory"))?;
        let kubeconfig = service_account_kubeconfig(plane, dir.path())?;
        Ok(Launcher { binary, dir, kubeconfig })
    }

    /// `berth run <args>` as `identity`.
    pub fn start(&self, identity: &str, args: &[&str]) -> Result<BerthProcess, String> {
        BerthProcess::start(&self.binary, self.dir.path(), &self.kubeconfig, identity, args)
    }
}

pub struct BerthProcess {
    child: Child,
    port: u16,
    pub identity: String,
    log: PathBuf,
}

impl BerthProcess {
    /// `berth run <args>` as POD_NAME `identity`, its log in `<dir>/<identity>.log`. The
    /// processes of a test share `<dir>/cache` and `<dir>/cache.key`, so only the first
    /// compiles the plugins.
    pub fn start(binary: &Path, dir: &Path, kubeconfig: &Path, identity: &str, args: &[&str]) -> Result<BerthProcess, String> {
        let key = dir.join("cache.key");
        if !key.exists() {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(fail("random bytes"))?;
            std::fs::write(&key, bytes).map_err(fail("cache key"))?;
        }
        let log = dir.join(format!("{identity}.log"));
        let file = std::fs::File::create(&log).map_err(fail("log file"))?;
        let port = crate::control_plane::free_port().map_err(fail("a free port"))?;
        Command::new(binary)
            .arg("run")
            .args(args)
            .args(["--log-format", "text"])
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--plugins")
            .arg(crate::bundled_plugins())
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .arg("--cache-key-file")
            .arg(&key)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", identity)
            .env("BERTH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map(|child| BerthProcess { child, port, identity: identity.to_owned(), log })
            .map_err(fail("starting berth run"))
    }

    /// A sample from its /metrics (`berth_leader`, `berth_reconciles_total`), once it
    /// serves them.
    pub fn metric(&self, name: &str) -> Option<String> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let prefix = format!("{name} ");
        response.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map(str::to_owned)
    }

    /// Whether it has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A rolling update's SIGTERM; waits (up to [`PATIENCE`]) for it to exit, and says
    /// how it ended.
    pub async fn terminate(&mut self) -> Result<std::process::ExitStatus, String> {
        let signalled = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if !matches!(signalled, Ok(s) if s.success()) {
            return Err(format!("kill -TERM {} failed: {signalled:?}", self.identity));
        }
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().map_err(fail("waiting"))? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("{} still running {PATIENCE:?} after SIGTERM\n{}", self.identity, self.log()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, no Lease released.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        format!("--- {}:\n{}", self.identity, std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for BerthProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
