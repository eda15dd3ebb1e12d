//! A real control plane for end-to-end tests: etcd and kube-apiserver (and, for garbage
//! collection, kube-controller-manager) started on 127.0.0.1 by the test itself, found the
//! envtest way: `$KUBEBUILDER_ASSETS`, else `/usr/local/kubebuilder/bin`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Client;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

const TOKEN: &str = "berth-e2e-admin-token";

/// Where the binaries are, or why the suite cannot run.
pub fn assets() -> Result<PathBuf, String> {
    let dir = std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/local/kubebuilder/bin"));
    for binary in ["etcd", "kube-apiserver"] {
        if !dir.join(binary).is_file() {
            return Err(format!(
                "{} not found in {} (set KUBEBUILDER_ASSETS to a directory with etcd and kube-apiserver)",
                binary,
                dir.display()
            ));
        }
    }
    Ok(dir)
}

pub struct ControlPlane {
    processes: Vec<(String, Child)>,
    dir: tempfile::TempDir,
    pub url: String,
}

/// A port free on loopback now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn(name: &str, binary: &Path, args: &[String], log: &Path) -> std::io::Result<Child> {
    let log = std::fs::File::create(log)?;
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("starting {name}: {e}")))
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (and kube-controller-manager when `with_gc`) and
    /// waits until the API server answers.
    pub async fn start(with_gc: bool) -> Result<Self, String> {
        let assets = assets()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let root = dir.path();
        let io = |e: std::io::Error| e.to_string();

        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        std::fs::write(root.join("sa.key"), private.as_bytes()).map_err(io)?;
        std::fs::write(root.join("sa.pub"), public).map_err(io)?;
        std::fs::write(root.join("tokens.csv"), format!("{TOKEN},admin,admin-uid,\"system:masters\"\n")).map_err(io)?;

        let (client_port, peer_port, api_port) = (free_port().map_err(io)?, free_port().map_err(io)?, free_port().map_err(io)?);
        let mut plane = ControlPlane { processes: Vec::new(), url: format!("https://127.0.0.1:{api_port}"), dir };
        let root = plane.dir.path().to_owned();
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args: Vec<String> = vec![
            "--name=e2e".into(),
            format!("--data-dir={}", root.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=e2e={peer_url}"),
            "--initial-cluster-state=new".into(),
            "--unsafe-no-fsync".into(),
        ];
        let etcd = spawn("etcd", &assets.join("etcd"), &etcd_args, &root.join("etcd.log")).map_err(io)?;
        plane.processes.push(("etcd".into(), etcd));

        let api_args: Vec<String> = vec![
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", root.join("certs").display()),
            format!("--etcd-servers={etcd_url}"),
            // Room for the Services of 10,000 HarborClusters (make bench-fleet), the largest
            // range the API server takes.
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--service-account-key-file={}", root.join("sa.pub").display()),
            format!("--service-account-signing-key-file={}", root.join("sa.key").display()),
            format!("--token-auth-file={}", root.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
        ];
        let api = spawn("kube-apiserver", &assets.join("kube-apiserver"), &api_args, &root.join("apiserver.log")).map_err(io)?;
        plane.processes.push(("kube-apiserver".into(), api));
        plane.wait_ready(Duration::from_secs(60)).await?;

        if with_gc {
            let kcm = assets.join("kube-controller-manager");
            if !kcm.is_file() {
                return Err(format!("kube-controller-manager not found in {}", assets.display()));
            }
            let kubeconfig = root.join("kubeconfig");
            std::fs::write(&kubeconfig, plane.kubeconfig_yaml()).map_err(io)?;
            let args: Vec<String> = vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--controllers=garbagecollector,namespace".into(),
            ];
            let child = spawn("kube-controller-manager", &kcm, &args, &root.join("kcm.log")).map_err(io)?;
            plane.processes.push(("kube-controller-manager".into(), child));
        }
        Ok(plane)
    }

    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: admin\n\
             current-context: e2e\n",
            self.url
        )
    }

    pub fn client(&self) -> Result<Client, String> {
        let mut config = kube::Config::new(self.url.parse().map_err(|e| format!("{e}"))?);
        config.accept_invalid_certs = true;
        config.auth_info.token = Some(TOKEN.to_owned().into());
        config.default_namespace = "default".to_owned();
        Client::try_from(config).map_err(|e| e.to_string())
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let client = self.client()?;
        let started = Instant::now();
        loop {
            for (name, child) in &mut self.processes {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{name} exited with {status}; see {}", self.dir.path().display()));
                }
            }
            let request = http_get("/readyz");
            if let Ok(text) = client.request_text(request).await
                && text.trim() == "ok"
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(format!("kube-apiserver not ready after {timeout:?}; logs in {}", self.dir.path().display()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Where the processes' logs are.
    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(Vec::new());
    *request.uri_mut() = path.parse().unwrap_or_default();
    request
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Controllers first, etcd last, so nothing logs a storm of connection errors.
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
