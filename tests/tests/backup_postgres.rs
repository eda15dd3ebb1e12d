//! The backup and restore Jobs' real commands against a real PostgreSQL: each Job is
//! rendered by the bundled `backup` plugin and its containers run as local processes by
//! `berth_tests::job_runner` (which documents the few substitutions that stand in for the
//! cluster), with the cluster's generated Secrets, against a throwaway server
//! (`berth_tests::postgres`). Skipped, saying why, where PostgreSQL is not installed.
//!
//! The tests run one at a time (each starts its own server): the durations they print
//! for the release notes are then not those of four servers sharing two cores.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use berth::contract::{BackupTask, GeneratedSecret, RestoreTask, Task, Topology};
use berth::render::{ClusterRef, render_task_bundled};
use berth_api::backup::BackupManifest;
use berth_api::{HarborCluster, HarborClusterSpec};
use berth_tests::job_runner::{ContainerRun, Kubelet, Secrets, pod_volume_dirs};
use berth_tests::postgres::{Postgres, binaries};
use serde_json::{Map, Value, json};

/// Where the backup's files go under the claim: "<namespace>/<cluster>/<backup>".
const BACKUP_PATH: &str = "registry/demo/b1";
/// The tables the registry fixture fills, each with an `id` to order its rows by.
const REGISTRY_TABLES: [&str; 3] = ["projects", "artifacts", "credentials"];
/// Accounts of the consistency test: enough rows that the dump takes a moment.
const ACCOUNTS: u64 = 200_000;
const OPENING_BALANCE: u64 = 1000;
/// Far beyond any real run; a hung Job fails the test instead of hanging it.
const JOB_DEADLINE: Duration = Duration::from_secs(30 * 60);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn spec() -> Value {
    json!({"version": "2.15.1", "externalURL": "https://harbor.example.com", "backup": {"destination": {"volume": {}}}})
}

fn backup_task() -> Task {
    Task::Backup(BackupTask { name: "b1".to_owned(), job_name: "demo-harbor-backup-b1".to_owned(), path: BACKUP_PATH.to_owned() })
}

fn restore_task(dump_sha256: &str) -> Task {
    Task::Restore(RestoreTask {
        name: "r1".to_owned(),
        job_name: "demo-harbor-restore-r1".to_owned(),
        path: BACKUP_PATH.to_owned(),
        dump_sha256: dump_sha256.to_owned(),
    })
}

/// A cluster `demo` in `registry`, its generated Secrets, and a PostgreSQL set up as the
/// harbor-db image sets itself up for it.
struct Fixture {
    pg: Postgres,
    cluster: HarborCluster,
    topology: Topology,
    /// The render's inventory of generated Secrets.
    inventory: Vec<GeneratedSecret>,
    /// Their values, as the host generates them.
    secrets: Secrets,
    /// The claim the ordinary render creates for backups, and its directory here.
    claim_name: String,
    claim: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// The fixture, or None (having said why) where there is no PostgreSQL to test against.
fn setup() -> Option<Fixture> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(reason) = binaries() {
        println!("backup_postgres: SKIPPED: {reason}");
        return None;
    }
    let cluster: HarborCluster = serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "HarborCluster",
        "metadata": {"name": "demo", "namespace": "registry"},
        "spec": spec(),
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let rendered = berth_tests::render(berth_tests::shared_catalog(), &cluster).unwrap_or_else(|e| panic!("{e}"));
    let claim_name = berth_tests::component_objects(&rendered, "backup")
        .into_iter()
        .find(|(kind, _, _)| kind == "PersistentVolumeClaim")
        .map(|(_, name, _)| name)
        .unwrap_or_else(|| panic!("the backup component renders no claim for backups"));
    let topology = rendered.topology.clone();
    assert_eq!((topology.database.username.as_str(), topology.database.database.as_str()), ("postgres", "registry"));

    let pg = Postgres::start().unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));
    assert_eq!(pg.superuser(), topology.database.username);
    let fixture = Fixture {
        secrets: generate(&rendered.secrets),
        inventory: rendered.secrets,
        pg,
        cluster,
        topology,
        claim_name,
        claim: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        _one_at_a_time: guard,
    };
    // What the harbor-db image's entrypoint does with POSTGRES_PASSWORD.
    let password = fixture.database_password().replace('\'', "''");
    fixture.pg.psql("postgres", &format!("ALTER ROLE postgres PASSWORD '{password}'")).unwrap_or_else(|e| panic!("{e}"));
    fixture.sql("postgres", "CREATE DATABASE registry");
    fixture.sql("registry", "CREATE EXTENSION pgcrypto");
    Some(fixture)
}

/// Values for every Secret of the inventory, made as the host makes them.
fn generate(inventory: &[GeneratedSecret]) -> Secrets {
    inventory
        .iter()
        .map(|secret| {
            let data = berth::secrets::generate(secret).unwrap_or_else(|e| panic!("{e}"));
            (secret.name.clone(), data.into_iter().map(|(key, value)| (key, value.into_bytes())).collect())
        })
        .collect()
}

impl Fixture {
    fn secret(&self, name: &str, key: &str) -> String {
        let value =
            self.secrets.get(name).and_then(|data| data.get(key)).unwrap_or_else(|| panic!("no generated key {key} in Secret {name}"));
        String::from_utf8(value.clone()).unwrap_or_else(|e| panic!("Secret {name}, key {key}: {e}"))
    }

    fn database_password(&self) -> String {
        self.secret(&self.topology.database.password.name, &self.topology.database.password.key)
    }

    /// The data-encryption key of the core Secret.
    fn secret_key(&self) -> String {
        self.secret(&self.topology.secrets.core, berth_api::keys::SECRET_KEY)
    }

    /// Runs `sql` in `database` as the cluster's database user, with its generated password.
    fn sql(&self, database: &str, sql: &str) -> String {
        self.pg
            .psql_as(&self.topology.database.username, &self.database_password(), database, sql)
            .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
    }

    /// The cluster's database dropped and made again, empty: as a new cluster's is.
    fn fresh_database(&self) {
        self.sql("postgres", "DROP DATABASE IF EXISTS registry WITH (FORCE)");
        self.sql("postgres", "CREATE DATABASE registry");
    }

    fn backup_dir(&self) -> PathBuf {
        self.claim.path().join(BACKUP_PATH)
    }

    fn render_job(&self, task: Task) -> Map<String, Value> {
        let cluster = ClusterRef { name: "demo", namespace: "registry", uid: "", spec: &self.cluster.spec };
        let job =
            render_task_bundled(berth_tests::shared_catalog(), &cluster, task).unwrap_or_else(|e| panic!("rendering the task's Job: {e}"));
        job.job.object
    }

    /// Renders the Job of `task` and runs its Pod with `secrets` as the namespace's
    /// Secrets; the last container's run (the one that failed, if any did) and how long
    /// the Pod took.
    fn run(&self, task: Task, secrets: &Secrets) -> (ContainerRun, Duration) {
        let job = self.render_job(task);
        let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let claims = BTreeMap::from([(self.claim_name.clone(), self.claim.path().to_owned())]);
        let kubelet = Kubelet {
            pg_bin: binaries().unwrap_or_else(|e| panic!("{e}")),
            database_host: self.pg.host().to_owned(),
            database_port: self.pg.port(),
            secrets: secrets.clone(),
            volumes: pod_volume_dirs(&job, &claims, scratch.path()).unwrap_or_else(|e| panic!("{e}")),
            deadline: JOB_DEADLINE,
        };
        let started = Instant::now();
        let mut runs = kubelet.run_pod(&job).unwrap_or_else(|e| panic!("running the Job: {e}"));
        let took = started.elapsed();
        let run = runs.pop().unwrap_or_else(|| panic!("the Job has no container"));
        assert!(!run.timed_out, "container {} ran past the deadline:\n{}", run.container, run.output);
        // The one stand-in for cluster DNS: the rendered host was the database's Service.
        let pghost = run.substitutions.iter().find(|s| s.variable == "PGHOST").unwrap_or_else(|| panic!("no PGHOST rendered"));
        assert_eq!(pghost.rendered, self.topology.database.host);
        (run, took)
    }

    /// Takes the backup and returns its manifest (from the termination message).
    fn backup(&self) -> (ContainerRun, BackupManifest, Duration) {
        let (run, took) = self.run(backup_task(), &self.secrets);
        assert!(run.succeeded(), "the backup failed ({}):\n{}", run.status, run.output);
        let manifest = serde_json::from_str(&run.termination_message)
            .unwrap_or_else(|e| panic!("the termination message is not a manifest: {e}\n{}", run.termination_message));
        (run, manifest, took)
    }

    /// projects, artifacts (each in a project) and credentials encrypted with the
    /// cluster's data-encryption key, as Harbor's own are.
    fn seed_registry(&self) {
        let key = self.secret_key().replace('\'', "''");
        self.sql(
            "registry",
            &format!(
                "CREATE TABLE projects (id int PRIMARY KEY, name text NOT NULL UNIQUE, created timestamptz NOT NULL);
                 INSERT INTO projects SELECT i, 'project-' || i, timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute'
                     FROM generate_series(1, 2000) i;
                 CREATE TABLE artifacts (id bigint PRIMARY KEY, project_id int NOT NULL REFERENCES projects (id),
                     digest text NOT NULL, size bigint NOT NULL);
                 INSERT INTO artifacts SELECT i, 1 + i % 2000, 'sha256:' || encode(sha256(i::text::bytea), 'hex'), i * 1024
                     FROM generate_series(1, 6000) i;
                 CREATE TABLE credentials (id int PRIMARY KEY, name text NOT NULL, secret bytea NOT NULL);
                 INSERT INTO credentials SELECT i, 'robot-' || i, pgp_sym_encrypt('token-' || i, '{key}')
                     FROM generate_series(1, 1000) i;"
            ),
        );
    }

    /// Each registry table's row count and a checksum of its rows, in order.
    fn registry_content(&self) -> Vec<String> {
        REGISTRY_TABLES
            .iter()
            .map(|table| {
                let sql = format!("SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '-') FROM {table} t");
                format!("{table}: {}", self.sql("registry", &sql))
            })
            .collect()
    }

    /// An empty database but for a marker, to show that a refused restore left it alone.
    fn marked_fresh_database(&self) {
        self.fresh_database();
        self.sql("registry", "CREATE TABLE restore_marker (note text NOT NULL); INSERT INTO restore_marker VALUES ('untouched')");
    }

    fn assert_only_the_marker(&self) {
        let tables = "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_tables \
                      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";
        assert_eq!(self.sql("registry", tables), "public.restore_marker");
        assert_eq!(self.sql("registry", "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"), "plpgsql");
        assert_eq!(self.sql("registry", "SELECT string_agg(note, ',') FROM restore_marker"), "untouched");
    }
}

/// The lower-case hex sha256 of a file (berth-tests does not depend on `sha2`).
fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap_or_else(|e| panic!("sha256sum: {e}"));
    assert!(output.status.success(), "sha256sum {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// No generated value, nor any long line of one (a PEM's), shows in `output`.
fn assert_no_secret_value(what: &str, output: &str, sets: &[&Secrets]) {
    for secrets in sets {
        for (name, data) in secrets.iter() {
            for (key, value) in data {
                let value = String::from_utf8_lossy(value);
                let lines = value.lines().filter(|line| line.len() >= 16 && !line.starts_with("-----"));
                for shown in std::iter::once(value.as_ref()).chain(lines) {
                    assert!(!output.contains(shown), "{what}: the output shows (part of) key {key} of Secret {name}");
                }
            }
        }
    }
}

#[test]
fn a_backup_restores_into_a_fresh_database_with_the_same_content() {
    let Some(fx) = setup() else { return };
    fx.seed_registry();
    let content = fx.registry_content();
    let key = fx.secret_key().replace('\'', "''");
    let decrypted = format!("SELECT count(*) FROM credentials WHERE pgp_sym_decrypt(secret, '{key}') = 'token-' || id");
    assert_eq!(fx.sql("registry", &decrypted), "1000");

    let (backup, manifest, backup_took) = fx.backup();
    assert_no_secret_value("the backup", &backup.output, &[&fx.secrets]);
    let dir = fx.backup_dir();

    // The manifest, as a file and as the termination message (which the kubelet cuts at
    // 4096 bytes: the runner does too, so equality means it fits).
    let manifest_file = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert_eq!(backup.termination_message, manifest_file);
    assert!(manifest.verified);
    assert_eq!((manifest.format, manifest.database.as_str(), manifest.harbor_version.as_str()), (1, "registry", "2.15.1"));
    assert!(!manifest.server_version.is_empty());
    let mut expected: BTreeSet<String> = ["database.dump", "spec.json"].map(str::to_owned).into();
    for (name, data) in &fx.secrets {
        expected.extend(data.keys().map(|key| format!("secrets/{name}/{key}")));
    }
    let listed: BTreeSet<String> = manifest.files.iter().map(|f| f.name.clone()).collect();
    assert_eq!(listed, expected, "the manifest lists the dump, the spec and every generated Secret's keys");
    for file in &manifest.files {
        let path = dir.join(&file.name);
        assert_eq!(file.size, std::fs::metadata(&path).unwrap().len(), "size of {}", file.name);
        assert_eq!(file.sha256, sha256_of(&path), "sha256 of {}", file.name);
    }
    let sums: BTreeSet<(String, String)> = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|line| {
            let (sum, name) = line.split_once("  ").unwrap_or_else(|| panic!("SHA256SUMS line {line:?}"));
            (name.to_owned(), sum.to_owned())
        })
        .collect();
    assert_eq!(sums, manifest.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect());

    // The files themselves.
    let spec: HarborClusterSpec = serde_json::from_str(&std::fs::read_to_string(dir.join("spec.json")).unwrap()).unwrap();
    assert_eq!(spec, fx.cluster.spec);
    for (name, data) in &fx.secrets {
        for (key, value) in data {
            assert_eq!(&std::fs::read(dir.join("secrets").join(name).join(key)).unwrap(), value, "secrets/{name}/{key}");
        }
    }
    let siblings: Vec<String> =
        std::fs::read_dir(dir.parent().unwrap()).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(siblings, ["b1"], "no .partial directory is left beside the backup");

    // Into a fresh database, as a new cluster's would be (without pgcrypto).
    fx.fresh_database();
    let dump_sha256 = &manifest.files.iter().find(|f| f.name == "database.dump").unwrap().sha256;
    let (restore, restore_took) = fx.run(restore_task(dump_sha256), &fx.secrets);
    assert!(restore.succeeded(), "the restore failed ({}):\n{}", restore.status, restore.output);
    assert_no_secret_value("the restore", &restore.output, &[&fx.secrets]);
    assert_eq!(fx.registry_content(), content);
    // Decrypted with the key the backup carried.
    let carried = std::fs::read_to_string(dir.join("secrets").join(&fx.topology.secrets.core).join(berth_api::keys::SECRET_KEY)).unwrap();
    let decrypted =
        format!("SELECT count(*) FROM credentials WHERE pgp_sym_decrypt(secret, '{}') = 'token-' || id", carried.replace('\'', "''"));
    assert_eq!(fx.sql("registry", &decrypted), "1000");

    let dump = manifest.files.iter().find(|f| f.name == "database.dump").unwrap().size;
    eprintln!(
        "backup_postgres: figures: {} rows ({}); PostgreSQL {}\n\
         backup_postgres: figures: backup Job (dump, verify, sums) {:.2?}; restore Job (checks, pg_restore) {:.2?}; \
         backup total {} bytes in {} files (dump {} bytes)",
        content.iter().map(|line| line.split_whitespace().nth(1).unwrap_or_default().parse::<u64>().unwrap_or_default()).sum::<u64>(),
        content.iter().map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join(", "),
        manifest.server_version,
        backup_took,
        restore_took,
        manifest.total_bytes(),
        manifest.files.len(),
        dump,
    );
}

/// A psql session moving amounts between accounts, one transaction at a time, until
/// `stop`. Each transfer updates both accounts (balance and their count of transfers)
/// and inserts its ledger row in one transaction: a dump that read `accounts` and
/// `ledger` at different moments would find more ledger rows than the accounts count, or
/// fewer. Returns (transfers committed, of which while `job_running` throughout).
fn move_money(fx: &Fixture, stop: &AtomicBool, job_running: &AtomicBool, committed: &AtomicU64) -> (u64, u64) {
    let mut psql = Command::new(fx.pg.bin("psql"))
        .args(["-h", fx.pg.host(), "-p", &fx.pg.port().to_string(), "-U", &fx.topology.database.username, "-d", "registry"])
        .args(["-w", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
        .env("PGPASSWORD", fx.database_password())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    let (Some(mut input), Some(output)) = (psql.stdin.take(), psql.stdout.take()) else { panic!("psql's pipes") };
    let mut output = BufReader::new(output);
    let (mut total, mut during) = (0, 0);
    let mut random = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |below: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % below
    };
    while !stop.load(Ordering::SeqCst) {
        let from = 1 + next(ACCOUNTS);
        let to = 1 + (from + next(ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + next(100);
        let began_in_job = job_running.load(Ordering::SeqCst);
        write!(
            input,
            "BEGIN;\n\
             UPDATE accounts SET balance = balance - {amount}, transfers = transfers + 1 WHERE id = {from};\n\
             UPDATE accounts SET balance = balance + {amount}, transfers = transfers + 1 WHERE id = {to};\n\
             INSERT INTO ledger (from_id, to_id, amount) VALUES ({from}, {to}, {amount});\n\
             COMMIT;\n\
             \\echo committed\n"
        )
        .and_then(|()| input.flush())
        .unwrap_or_else(|e| panic!("writing to psql: {e}"));
        let mut line = String::new();
        output.read_line(&mut line).unwrap_or_else(|e| panic!("reading from psql: {e}"));
        if line != "committed\n" {
            drop(input);
            let failed = psql.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            panic!("the writer's transfer failed: {line:?} {failed:?}");
        }
        total += 1;
        committed.store(total, Ordering::SeqCst);
        if began_in_job && job_running.load(Ordering::SeqCst) {
            during += 1;
        }
    }
    drop(input);
    let status = psql.wait().unwrap_or_else(|e| panic!("psql: {e}"));
    assert!(status.success(), "the writer's psql ended with {status}");
    (total, during)
}

/// Rows of `accounts` whose balance or count of transfers disagrees with the ledger.
fn ledger_disagreements(fx: &Fixture) -> String {
    fx.sql(
        "registry",
        &format!(
            "WITH moves AS (
                 SELECT from_id AS id, count(*) AS n, -sum(amount) AS delta FROM ledger GROUP BY from_id
                 UNION ALL
                 SELECT to_id, count(*), sum(amount) FROM ledger GROUP BY to_id),
             per_account AS (SELECT id, sum(n) AS n, sum(delta) AS delta FROM moves GROUP BY id)
             SELECT count(*) FROM accounts a LEFT JOIN per_account p USING (id)
             WHERE a.transfers <> coalesce(p.n, 0) OR a.balance <> {OPENING_BALANCE} + coalesce(p.delta, 0)"
        ),
    )
}

#[test]
fn a_dump_taken_while_the_database_is_written_to_is_consistent() {
    let Some(fx) = setup() else { return };
    // Each account has sent 1 to the next and received 1 from the one before: two
    // transfers each, in the ledger, and the opening balance.
    fx.sql(
        "registry",
        &format!(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, transfers int NOT NULL, holder text NOT NULL);
             INSERT INTO accounts SELECT i, {OPENING_BALANCE}, 2, repeat(md5(i::text), 2) FROM generate_series(1, {ACCOUNTS}) i;
             CREATE TABLE ledger (id bigserial PRIMARY KEY, from_id int NOT NULL, to_id int NOT NULL, amount int NOT NULL);
             INSERT INTO ledger (from_id, to_id, amount) SELECT i, i % {ACCOUNTS} + 1, 1 FROM generate_series(1, {ACCOUNTS}) i;
             ANALYZE;"
        ),
    );
    let total = (ACCOUNTS * OPENING_BALANCE).to_string();
    assert_eq!(fx.sql("registry", "SELECT sum(balance) FROM accounts"), total);
    assert_eq!(ledger_disagreements(&fx), "0");

    let (stop, job_running, committed) = (AtomicBool::new(false), AtomicBool::new(false), AtomicU64::new(0));
    let (backup, took, (transfers, during)) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| move_money(&fx, &stop, &job_running, &committed));
        // The writer is under way before the Job starts.
        while committed.load(Ordering::SeqCst) < 20 && !writer.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
        }
        job_running.store(true, Ordering::SeqCst);
        let (backup, took) = fx.run(backup_task(), &fx.secrets);
        job_running.store(false, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        let counts = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (backup, took, counts)
    });
    assert!(backup.succeeded(), "the backup failed ({}):\n{}", backup.status, backup.output);
    assert!(during > 0, "no transfer committed while the backup Job ran ({transfers} in all): the test proves nothing");
    let manifest: BackupManifest = serde_json::from_str(&backup.termination_message).unwrap();
    // The writer's own work was consistent.
    assert_eq!(fx.sql("registry", "SELECT count(*) FROM ledger"), (ACCOUNTS + transfers).to_string());
    assert_eq!(ledger_disagreements(&fx), "0");

    fx.fresh_database();
    let dump_sha256 = &manifest.files.iter().find(|f| f.name == "database.dump").unwrap().sha256;
    let (restore, restore_took) = fx.run(restore_task(dump_sha256), &fx.secrets);
    assert!(restore.succeeded(), "the restore failed ({}):\n{}", restore.status, restore.output);
    assert_eq!(fx.sql("registry", "SELECT sum(balance) FROM accounts"), total, "the restored total");
    let ledger_rows: u64 = fx.sql("registry", "SELECT count(*) FROM ledger").parse().unwrap();
    let counted: u64 = fx.sql("registry", "SELECT sum(transfers) FROM accounts").parse().unwrap();
    assert_eq!(2 * ledger_rows, counted, "every ledger row is a transfer both its accounts counted");
    assert_eq!(ledger_disagreements(&fx), "0", "accounts whose balance or transfers disagree with the restored ledger");
    eprintln!(
        "backup_postgres: figures: consistency: {ACCOUNTS} accounts and as many ledger rows at first; \
         {transfers} transfers committed by the writer, {during} of them while the backup Job ran ({:.2?}), \
         {} of them in the dump; restore {:.2?}; backup total {} bytes",
        took,
        ledger_rows - ACCOUNTS,
        restore_took,
        manifest.total_bytes(),
    );
}

#[test]
fn a_corrupted_backup_is_refused_and_the_database_left_alone() {
    let Some(fx) = setup() else { return };
    fx.seed_registry();
    let content = fx.registry_content();
    let (_, manifest, _) = fx.backup();
    let sha256 = |name: &str| manifest.files.iter().find(|f| f.name == name).unwrap().sha256.clone();
    let dump_sha256 = sha256("database.dump");
    fx.marked_fresh_database();

    // One byte of the dump flipped.
    let dump = fx.backup_dir().join("database.dump");
    let original = std::fs::read(&dump).unwrap();
    let mut corrupted = original.clone();
    corrupted[original.len() / 2] ^= 0xff;
    std::fs::write(&dump, &corrupted).unwrap();
    let (refused, _) = fx.run(restore_task(&dump_sha256), &fx.secrets);
    assert!(!refused.succeeded(), "a corrupted backup was restored:\n{}", refused.output);
    assert!(refused.output.contains("do not match their checksums"), "{}", refused.output);
    assert_no_secret_value("the refused restore", &refused.output, &[&fx.secrets]);
    fx.assert_only_the_marker();

    // The backup intact, but the task names another dump (a real sha256: the spec's).
    std::fs::write(&dump, &original).unwrap();
    let other = sha256("spec.json");
    assert_ne!(other, dump_sha256);
    let (refused, _) = fx.run(restore_task(&other), &fx.secrets);
    assert!(!refused.succeeded(), "a dump other than the task's was restored:\n{}", refused.output);
    assert!(refused.output.contains(&format!("the backup recorded {other}; refusing it")), "{}", refused.output);
    fx.assert_only_the_marker();

    // And with the right one it restores: the refusals were the checks', nothing else.
    let (restored, _) = fx.run(restore_task(&dump_sha256), &fx.secrets);
    assert!(restored.succeeded(), "the intact backup failed to restore ({}):\n{}", restored.status, restored.output);
    assert_eq!(fx.registry_content(), content);
}

#[test]
fn a_restore_into_a_cluster_with_other_secrets_is_refused() {
    let Some(fx) = setup() else { return };
    fx.seed_registry();
    let (_, manifest, _) = fx.backup();
    let dump_sha256 = manifest.files.iter().find(|f| f.name == "database.dump").unwrap().sha256.clone();
    fx.marked_fresh_database();

    let others = generate(&fx.inventory);
    let (refused, _) = fx.run(restore_task(&dump_sha256), &others);
    assert!(!refused.succeeded(), "a backup was restored into a cluster with other Secrets:\n{}", refused.output);
    let named = others
        .iter()
        .flat_map(|(name, data)| data.keys().map(move |key| (name, key)))
        .find(|(name, key)| refused.output.contains(&format!("key {key} of Secret {name} is not the backup's")))
        .unwrap_or_else(|| panic!("the refusal names no Secret key:\n{}", refused.output));
    assert_ne!(others[named.0][named.1], fx.secrets[named.0][named.1], "the key it names differs");
    assert_no_secret_value("the refused restore", &refused.output, &[&fx.secrets, &others]);
    fx.assert_only_the_marker();
}
