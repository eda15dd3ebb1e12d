//! A throwaway PostgreSQL for tests: initdb into a temporary directory, a server on a free
//! port of 127.0.0.1, and `psql` to talk to it. The backup and restore commands are tested
//! against a real PostgreSQL (its `pg_dump`, `pg_restore`, extensions and authentication),
//! never a mock, since a mock cannot tell us that a dump really restores.
//!
//! The binaries are found in `$PG_BIN`, else in the newest `/usr/lib/postgresql/*/bin`
//! (Debian's layout). initdb and postgres refuse to run as root, so under root (as tests
//! and CI run here) they run as the `postgres` system user, through `setpriv`, in a
//! directory under /tmp handed to that user; clients (`psql`, `pg_dump`) run as anyone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The tools the harness and the tests use, all of which must be in the binaries' directory.
const TOOLS: [&str; 6] = ["initdb", "pg_ctl", "postgres", "pg_dump", "pg_restore", "psql"];

/// How long the server may take to start: the machines that run tests are slow and busy.
const START_TIMEOUT_SECS: u32 = 120;

/// The directory with the PostgreSQL binaries, or why there is none.
pub fn binaries() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("PG_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => newest_debian_bin()?,
    };
    match TOOLS.iter().find(|tool| !dir.join(tool).is_file()) {
        Some(tool) => Err(format!("{tool} not found in {} (set PG_BIN to a directory with {})", dir.display(), TOOLS.join(", "))),
        None => Ok(dir),
    }
}

/// The highest version's `bin` under /usr/lib/postgresql.
fn newest_debian_bin() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("no PostgreSQL found: {}: {e} (install postgresql or set PG_BIN)", root.display()))?;
    let version = |name: &str| name.split('.').map(|part| part.parse::<u32>().ok()).collect::<Option<Vec<u32>>>();
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| Some((version(entry.file_name().to_str()?)?, entry.path().join("bin"))))
        .filter(|(_, bin)| bin.is_dir())
        .max()
        .map(|(_, bin)| bin)
        .ok_or_else(|| format!("no PostgreSQL found: no <version>/bin under {} (install postgresql or set PG_BIN)", root.display()))
}

/// A running server, stopped (and its directory removed) on drop.
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    password: String,
    /// The user the server runs as when we are root: (name, uid, gid).
    run_as: Option<(String, u32, u32)>,
    /// Set once `pg_ctl start` has run, so drop knows there may be a server to stop.
    started: bool,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// initdb, then start the server and wait (up to two minutes) until it accepts connections.
    pub fn start() -> Result<Postgres, String> {
        let bin = binaries()?;
        let run_as = if is_root() { Some(system_user("postgres")?) } else { None };
        // Under /tmp rather than $TMPDIR: /tmp is traversable by the postgres user, and its
        // short path keeps the Unix socket's path under the kernel's limit.
        let dir = tempfile::Builder::new().prefix("berth-pg-").tempdir_in("/tmp").map_err(|e| format!("temporary directory: {e}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("picking a free port: {e}"))?
            .port();
        let mut pg = Postgres { bin, port, password: random_password()?, run_as, started: false, dir };

        let pwfile = pg.dir.path().join("pwfile");
        std::fs::write(&pwfile, &pg.password).map_err(|e| format!("{}: {e}", pwfile.display()))?;
        if let Some((name, uid, gid)) = &pg.run_as {
            for path in [pg.dir.path(), &pwfile] {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid)).map_err(|e| format!("chown {} to {name}: {e}", path.display()))?;
            }
        }

        let data = pg.data_dir();
        let initdb = pg
            .server_tool("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output();
        check("initdb", initdb)?;
        // Only the data directory knows the password from here on.
        std::fs::remove_file(&pwfile).map_err(|e| format!("{}: {e}", pwfile.display()))?;

        let settings = format!(
            "\n# berth test harness\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            pg.port,
            pg.dir.path().display()
        );
        let conf = data.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| std::io::Write::write_all(&mut file, settings.as_bytes()))
            .map_err(|e| format!("{}: {e}", conf.display()))?;

        pg.started = true;
        let start = pg
            .server_tool("pg_ctl")
            .args(["start", "-w", "-t", &START_TIMEOUT_SECS.to_string(), "-D"])
            .arg(&data)
            .arg("-l")
            .arg(pg.log_file())
            .output();
        check("pg_ctl start", start).map_err(|e| format!("{e}\nserver log:\n{}", pg.log_tail()))?;
        Ok(pg)
    }

    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn superuser(&self) -> &str {
        "postgres"
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The path of one of the PostgreSQL tools, such as `pg_dump`.
    pub fn bin(&self, tool: &str) -> PathBuf {
        self.bin.join(tool)
    }

    /// Runs `sql` in `database` as the superuser; its output, unaligned and without headers.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        self.psql_as(self.superuser(), self.password(), database, sql)
    }

    /// Runs `sql` in `database` as `user`, who authenticates over TCP with `password`.
    pub fn psql_as(&self, user: &str, password: &str, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin("psql"))
            .args(["-h", self.host(), "-p", &self.port.to_string(), "-U", user, "-d", database])
            .args(["-w", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "30")
            .stdin(Stdio::null())
            .output();
        check("psql", output).map(|stdout| stdout.trim().to_owned())
    }

    pub fn create_database(&self, name: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE {}", quote_ident(name))).map(drop)
    }

    /// A role that may log in with `password`, and nothing more.
    pub fn create_role(&self, name: &str, password: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE ROLE {} LOGIN PASSWORD '{}'", quote_ident(name), password.replace('\'', "''"))).map(drop)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The last lines of the server log, for error messages.
    fn log_tail(&self) -> String {
        match std::fs::read_to_string(self.log_file()) {
            Ok(log) => {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            }
            Err(e) => format!("({}: {e})", self.log_file().display()),
        }
    }

    /// A server-side tool (initdb, pg_ctl), run as the postgres user when we are root.
    fn server_tool(&self, tool: &str) -> Command {
        let mut command = match &self.run_as {
            Some((name, _, _)) => {
                let mut setpriv = Command::new("setpriv");
                setpriv.arg(format!("--reuid={name}")).arg(format!("--regid={name}")).args(["--init-groups", "--"]).arg(self.bin(tool));
                setpriv
            }
            None => Command::new(self.bin(tool)),
        };
        // The test's own directory may be closed to the postgres user.
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let stopped = self.server_tool("pg_ctl").args(["stop", "-m", "immediate", "-w", "-t", "60", "-D"]).arg(self.data_dir()).output();
        if check("pg_ctl stop", stopped).is_err() {
            // Whatever pg_ctl could not stop, a kill of the postmaster does (root may kill
            // the postgres user's process; otherwise it is our own).
            let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid"));
            if let Some(pid) = pid.ok().and_then(|pid| pid.lines().next().and_then(|line| line.trim().parse::<i32>().ok())) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// stdout of a finished command, or an error with its status and stderr.
fn check(what: &str, output: std::io::Result<Output>) -> Result<String, String> {
    let output = output.map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{what} failed ({}): {}", output.status, [stderr.trim(), stdout.trim()].join("\n").trim()))
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A system user's (name, uid, gid), from /etc/passwd.
fn system_user(name: &str) -> Result<(String, u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| Some((name.to_owned(), fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| format!("running as root, and initdb refuses root, but there is no `{name}` user in /etc/passwd to run it as"))
}

/// 24 random letters and digits.
fn random_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("random password: {e}"))?;
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect())
}

/// `name` as an SQL identifier, quoted.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
