//! `berth run` as a child process, measured from outside: CPU seconds and RSS from
//! /proc, counters from its /metrics, and which clusters it reconciled from its log.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_tests::operator::fail;

/// How the operator is started each time.
pub struct Launch {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub plugins: PathBuf,
    pub cache_dir: PathBuf,
    /// The key that signs the precompiled plugins, kept across restarts as deploy/ keeps
    /// it in a Secret: a restart loads the plugins instead of compiling them.
    pub cache_key: PathBuf,
    pub log: PathBuf,
}

pub struct OperatorProcess {
    child: Child,
    port: u16,
    /// Clusters ("namespace/name") this process reconciled successfully.
    reconciled: Arc<Mutex<HashSet<String>>>,
    /// The most clusters waiting at once and the longest wait seen since last taken,
    /// sampled every second; the sampler stops when this is dropped.
    queue_peak: Arc<Mutex<(f64, f64)>>,
    sampling: Arc<std::sync::atomic::AtomicBool>,
}

impl OperatorProcess {
    pub fn start(launch: &Launch) -> Result<OperatorProcess, String> {
        let port = berth_tests::control_plane::free_port().map_err(fail("a port"))?;
        let mut child = Command::new(&launch.binary)
            .args(["run", "--plugins"])
            .arg(&launch.plugins)
            .arg("--cache-dir")
            .arg(&launch.cache_dir)
            .arg("--cache-key-file")
            .arg(&launch.cache_key)
            .args(["--http-addr", &format!("127.0.0.1:{port}"), "--log-format", "json"])
            .env("KUBECONFIG", &launch.kubeconfig)
            // The operator's own default (info, with its audit line per render) and the
            // controller's "reconciled" debug line, which this program reads.
            .env("BERTH_LOG", "info,berth::controller=debug")
            // As deploy/deployment.yaml runs it.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(fail("starting berth run"))?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let reconciled = Arc::new(Mutex::new(HashSet::new()));
        let feed = reconciled.clone();
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&launch.log).map_err(fail("operator log"))?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(cluster) = reconciled_cluster(&line)
                    && let Ok(mut set) = feed.lock()
                {
                    set.insert(cluster);
                } else {
                    let _ = writeln!(log, "{line}");
                }
            }
        });
        let queue_peak = Arc::new(Mutex::new((0.0, 0.0)));
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (peak, running) = (queue_peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((200, text)) = http_get(port, "/metrics") {
                    let gauges = Counters::parse(&text);
                    if let Ok(mut peak) = peak.lock() {
                        peak.0 = f64::max(peak.0, gauges.queue_depth);
                        peak.1 = f64::max(peak.1, gauges.queue_oldest_seconds);
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        Ok(OperatorProcess { child, port, reconciled, queue_peak, sampling })
    }

    /// Until /readyz answers: the plugins are loaded (and compiled, on a cold cache).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("berth run exited with {status}"));
            }
            if http_get(self.port, "/readyz").is_ok_and(|(code, _)| code == 200) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(format!("berth run not ready after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn metrics(&self) -> Result<Counters, String> {
        let (code, text) = http_get(self.port, "/metrics")?;
        if code != 200 {
            return Err(format!("/metrics answered {code}"));
        }
        Ok(Counters::parse(&text))
    }

    /// (most clusters waiting at once, longest wait in seconds) since the last call.
    pub fn take_queue_peak(&self) -> (f64, f64) {
        self.queue_peak.lock().map(|mut peak| std::mem::take(&mut *peak)).unwrap_or_default()
    }

    pub fn reconciled(&self) -> usize {
        self.reconciled.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// User plus system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).map_err(fail("/proc stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("an unreadable /proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).ok_or("an unreadable /proc stat");
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok((ticks(11)? + ticks(12)?) / per_second)
    }

    /// (resident now, peak resident) in MiB.
    pub fn rss_mib(&self) -> Result<(f64, f64), String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).map_err(fail("/proc status"))?;
        let kib = |field: &str| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("no {field} in /proc status"))
        };
        Ok((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
    }

    /// SIGTERM, as a rolling update sends it, then wait for the exit.
    pub fn terminate(mut self) -> Result<(), String> {
        let pid = i32::try_from(self.child.id()).map_err(fail("pid"))?;
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().map_err(fail("waiting for berth run")).map(drop)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The "reconciled" debug line's object, `HarborCluster.v1alpha1.berth.dev/NAME.NAMESPACE`,
/// as "NAMESPACE/NAME".
fn reconciled_cluster(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "reconciled" {
        return None;
    }
    let object = fields.get("object")?.as_str()?;
    let (_, name_namespace) = object.split_once('/')?;
    let (name, namespace) = name_namespace.split_once('.')?;
    Some(format!("{namespace}/{name}"))
}

/// The operator's own counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub reconciles: f64,
    pub writes: f64,
    pub renders: f64,
    pub renders_skipped: f64,
    /// Gauges, not counters: what the queue looked like when read.
    pub queue_depth: f64,
    pub queue_oldest_seconds: f64,
}

impl Counters {
    fn parse(text: &str) -> Counters {
        let sum = |prefix: &str| {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
                // Not `sum`: the sum of no floats is -0.
                .fold(0.0, |total, v| total + v)
        };
        Counters {
            reconciles: sum("berth_reconciles_total "),
            writes: sum("berth_api_writes_total{"),
            renders: sum("berth_render_duration_seconds_count "),
            renders_skipped: sum("berth_renders_skipped_total "),
            queue_depth: sum("berth_queue_depth "),
            queue_oldest_seconds: sum("berth_queue_oldest_seconds "),
        }
    }

    pub fn since(self, before: Counters) -> Counters {
        Counters {
            reconciles: self.reconciles - before.reconciles,
            writes: self.writes - before.writes,
            renders: self.renders - before.renders,
            renders_skipped: self.renders_skipped - before.renders_skipped,
            queue_depth: self.queue_depth,
            queue_oldest_seconds: self.queue_oldest_seconds,
        }
    }
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(fail("connecting to berth run"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(fail("socket"))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(fail("request"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(fail("response"))?;
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_default();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}
