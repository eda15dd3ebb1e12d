//! The `berth` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::sync::Arc;

use berth::catalog::Catalog;
use berth::controller::leader::LeaseConfig;
use berth::plugin_dir::PluginDir;
use berth::policy::{ClusterFacts, Guardrails, Planned, PluginSet, RenderPlan, Selection, Snapshot};
use berth::render::{ClusterRef, render_planned};
use berth::sandbox::{CacheKey, Digest, EngineSettings, Limits, Plugin, Sandbox};
use clap::{Parser, Subcommand};

mod oci_commands;

#[derive(Parser)]
#[command(name = "berth", version, about = "A Kubernetes operator for Harbor with sandboxed WebAssembly renderers")]
struct Cli {
    /// Log format: "text" for terminals, "json" for clusters (default: json when running in a pod).
    #[arg(long, global = true, env = "BERTH_LOG_FORMAT")]
    log_format: Option<String>,
    /// Where compiled plugins are cached (default: $XDG_CACHE_HOME/berth or ~/.cache/berth).
    #[arg(long, global = true, env = "BERTH_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile plugins in memory only; write no cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// The key that signs precompiled artifacts: a file of 32 or more random bytes outside
    /// the cache directory (a read-only mounted Secret in a cluster). Default: for `run`, a
    /// key drawn per process (a restart recompiles), also when the file named does not
    /// exist (an optional Secret not created); for the other commands,
    /// $XDG_CONFIG_HOME/berth/cache.key, created on first use.
    #[arg(long, global = true, env = "BERTH_CACHE_KEY_FILE")]
    cache_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// A HarborCluster manifest rendered offline, and the plugins that render it.
#[derive(clap::Args)]
struct ClusterFile {
    /// The HarborCluster manifest.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// The plugin directory (default: $BERTH_PLUGIN_DIR, target/plugins beside the binary, /usr/lib/berth/plugins).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Namespace when the manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
}

#[derive(Subcommand)]
enum Command {
    /// Render a HarborCluster to Kubernetes objects (multi-document YAML on stdout).
    Render {
        #[command(flatten)]
        cluster: ClusterFile,
        /// Also print the generated Secrets, with fresh values (immutable, so applying
        /// them a second time is refused rather than rotating keys). Use once, for a
        /// cluster that has none yet.
        #[arg(long)]
        emit_secrets: bool,
        /// PluginPolicy file(s) to apply offline: selection, pins, rollouts and
        /// guardrails (ConfigMap and OCI sources are not read offline).
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Where PluginPolicy `file` sources are (kept apart from the bundled plugins,
        /// which are every .wasm in --plugins).
        #[arg(long)]
        plugin_sources: Option<PathBuf>,
    },
    /// Inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Work on generated Secrets offline.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// What the backups of a namespace hold (kubeconfig, or in-cluster config).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Plan an upgrade offline: the steps, or why it would be refused. No cluster.
    Upgrade {
        #[command(subcommand)]
        command: UpgradeCommand,
    },
    /// Print the HarborCluster that reproduces a Harbor Helm chart install (chart 1.19),
    /// from its values file or from the release record in the cluster. Values it cannot
    /// carry are listed on stderr with the reason.
    Import {
        /// The values file the release was installed with (`helm get values RELEASE -o yaml`).
        #[arg(long, conflicts_with = "from_cluster", required_unless_present = "from_cluster")]
        helm_values: Option<PathBuf>,
        /// Read the values from the release's record in the cluster (kubeconfig).
        #[arg(long)]
        from_cluster: bool,
        /// The release name: the HarborCluster's name, so every object keeps its name.
        #[arg(long)]
        release: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Print a CustomResourceDefinition (HarborCluster by default).
    Crd {
        /// HarborCluster, PluginPolicy, HarborBackup or HarborRestore.
        #[arg(long, default_value = "HarborCluster")]
        kind: String,
    },
    /// Run the operator: reconcile HarborClusters (kubeconfig, or in-cluster config).
    Run {
        /// The plugin directory: the bundled plugins, loaded at start (default as for `render`).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Where PluginPolicy `file` sources are (none: only bundled and ConfigMap sources).
        #[arg(long, env = "BERTH_PLUGIN_SOURCES")]
        plugin_sources: Option<PathBuf>,
        /// Watch only this namespace; repeat for several (default: all namespaces).
        #[arg(short = 'n', long = "namespace")]
        namespaces: Vec<String>,
        /// HarborClusters reconciled at once.
        #[arg(long, default_value_t = 8)]
        concurrency: u16,
        /// Where to serve /metrics, /healthz and /readyz.
        #[arg(long, default_value = "0.0.0.0:8080")]
        http_addr: std::net::SocketAddr,
        /// Reconcile only while holding a Lease, so several replicas can run with one
        /// active (identity: $POD_NAME, else the host name and process id).
        #[arg(long, env = "BERTH_LEADER_ELECTION")]
        leader_election: bool,
        /// Where the Lease lives.
        #[arg(long, env = "POD_NAMESPACE", default_value = "berth-system")]
        leader_election_namespace: String,
        /// Split the fleet into this many shards by a hash of each HarborCluster's uid;
        /// each replica reconciles one shard, holding its Lease (implies
        /// --leader-election). Replicas beyond the count stand by.
        #[arg(long, env = "BERTH_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
        shards: u32,
        /// Reconcile this shard (0-based) only; default: whichever shard is free first.
        #[arg(long, env = "BERTH_SHARD")]
        shard: Option<u32>,
        /// Harbor upgrades running at once across every watched cluster; the others wait.
        #[arg(long, default_value_t = berth::controller::DEFAULT_MAX_CONCURRENT_UPGRADES)]
        max_concurrent_upgrades: usize,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// The HarborBackups of a namespace, newest first: phase, size, completion, location.
    List {
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// One backup: its status, and every file its manifest lists with size and sha256.
    Describe {
        name: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Render offline the Job the operator would create for one backup (--backup NAME) or
    /// one restore (--restore NAME --backup-path PATH --dump-sha256 HEX), as YAML. No cluster;
    /// the manifest must set spec.backup.
    Job {
        #[command(flatten)]
        cluster: ClusterFile,
        /// The backup's name: print the Job that takes it.
        #[arg(long, required_unless_present = "restore", conflicts_with = "restore")]
        backup: Option<String>,
        /// The restore's name: print the Job that restores the backup at --backup-path.
        #[arg(long, requires_all = ["backup_path", "dump_sha256"])]
        restore: Option<String>,
        /// Where the backup's files are under the destination: "<namespace>/<cluster>/<backup>".
        #[arg(long)]
        backup_path: Option<String>,
        /// The sha256 of the backup's dump, from its manifest (`berth backup describe`).
        #[arg(long)]
        dump_sha256: Option<String>,
    },
}

#[derive(Subcommand)]
enum UpgradeCommand {
    /// Print the plan from the running version to the target, or what refuses it (exit
    /// status 2). The plugins checked are the bundled ones, with --policy applied.
    Plan {
        /// The HarborCluster manifest.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The target version (default: the manifest's spec.version).
        #[arg(long)]
        to: Option<String>,
        /// The version running (default: the manifest's status.version, else its spec.version).
        #[arg(long)]
        running: Option<String>,
        /// The plugin directory (default as for `render`).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// PluginPolicy file(s) to apply offline, as for `render`.
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Where PluginPolicy `file` sources are.
        #[arg(long)]
        plugin_sources: Option<PathBuf>,
    },
    /// Render offline the Job that migrates the schema to --to (the target version's core
    /// plugin, as the operator runs it in the Migrate step), as YAML.
    Job {
        #[command(flatten)]
        cluster: ClusterFile,
        /// The target version.
        #[arg(long)]
        to: String,
        /// The version running before the upgrade (default: the manifest's spec.version).
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print the core Secret from FILE (`kubectl get secret <fullname>-core -o yaml`)
    /// with its token-signing key re-encoded as PKCS#1, the form Harbor reads. Same key,
    /// every other value unchanged. The operator does this by itself; this is for
    /// Secrets made by an older `berth render --emit-secrets`.
    ConvertTokenKey { file: PathBuf },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Print a plugin's name, version, component, contract, digest, imports and exports.
    /// TARGET is a .wasm file or an OCI reference (registry/repository:tag or @sha256:…).
    Inspect {
        target: String,
        #[command(flatten)]
        registry: oci_commands::RegistryArgs,
    },
    /// Check a plugin against the digest a policy pins, then load it as the operator
    /// would (import allow-list, contract, describe). TARGET is a .wasm file or an OCI
    /// reference; with --key, a reference must carry a signature by one of the keys.
    /// Exits non-zero if anything fails.
    Verify {
        target: String,
        /// The expected .wasm digest, "sha256:<64 hex digits>".
        #[arg(long)]
        digest: String,
        /// A cosign public key (PEM); repeat for several, any one suffices.
        #[arg(long)]
        key: Vec<PathBuf>,
        #[command(flatten)]
        registry: oci_commands::RegistryArgs,
    },
    /// Push a plugin to an OCI registry as a Wasm artifact (config
    /// application/vnd.wasm.config.v0+json, one application/wasm layer). Prints the
    /// manifest and .wasm digests and the PluginPolicy version that names it.
    Push {
        file: PathBuf,
        reference: String,
        #[command(flatten)]
        registry: oci_commands::RegistryArgs,
    },
    /// Sign a pushed plugin with a cosign private key ($COSIGN_PASSWORD decrypts it),
    /// stored as cosign stores it: the tag sha256-<manifest digest>.sig.
    Sign {
        reference: String,
        /// The private key: from `berth plugins keygen` or `cosign generate-key-pair`.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        registry: oci_commands::RegistryArgs,
    },
    /// Generate a cosign-compatible ECDSA P-256 key pair: PREFIX.key, encrypted with
    /// $COSIGN_PASSWORD, and PREFIX.pub.
    Keygen {
        #[arg(long, default_value = "cosign")]
        output_prefix: PathBuf,
    },
    /// Pull a plugin and write its .wasm; with --verify-key, only if one of the keys
    /// signed it.
    Pull {
        reference: String,
        #[arg(long)]
        verify_key: Vec<PathBuf>,
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        registry: oci_commands::RegistryArgs,
    },
    /// Shadow render: render the cluster's component with two plugin versions and show
    /// which objects and fields would change.
    Diff {
        /// The plugin in force now (.wasm).
        #[arg(long)]
        from: PathBuf,
        /// The plugin to move to (.wasm).
        #[arg(long)]
        to: PathBuf,
        /// The HarborCluster manifest.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Namespace when the manifest names none.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format.as_deref(), matches!(cli.command, Command::Run { .. }));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The plan printed says why; the status tells a script it was refused.
        Err(error) if error.is::<Refused>() => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `berth upgrade plan` found the upgrade refused.
#[derive(Debug, thiserror::Error)]
#[error("the upgrade is refused")]
struct Refused;

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Secrets { command: SecretsCommand::ConvertTokenKey { ref file } } => convert_token_key(file),
        Command::Backup {
            command:
                BackupCommand::Job {
                    cluster: ClusterFile { ref file, ref plugins, ref namespace },
                    ref backup,
                    ref restore,
                    ref backup_path,
                    ref dump_sha256,
                },
        } => {
            let sandbox = sandbox(&cli)?;
            let task = match (backup, restore, backup_path, dump_sha256) {
                (Some(name), None, _, _) => TaskArgs::Backup(name),
                (None, Some(name), Some(path), Some(sha)) => TaskArgs::Restore { name, path, sha },
                _ => bail!("give --backup NAME, or --restore NAME with --backup-path and --dump-sha256"),
            };
            backup_job(&sandbox, file, plugins.as_deref(), namespace, task)
        }
        Command::Backup { ref command } => backup(command),
        Command::Upgrade {
            command: UpgradeCommand::Plan { ref file, ref to, ref running, ref plugins, ref policy, ref plugin_sources },
        } => {
            let sandbox = sandbox(&cli)?;
            let sources = plugin_sources.as_deref().map(open_sources).transpose()?;
            let snapshot = offline_snapshot(&sandbox, plugins.as_deref(), policy, sources.as_ref())?;
            let cluster = berth::manifest::read_cluster(file)?;
            let (report, planned) = berth::upgrade_cli::plan(&snapshot, &cluster, to.as_deref(), running.as_deref());
            print!("{report}");
            if planned { Ok(()) } else { Err(anyhow::Error::new(Refused)) }
        }
        Command::Upgrade {
            command: UpgradeCommand::Job { cluster: ClusterFile { ref file, ref plugins, ref namespace }, ref to, ref from },
        } => {
            let sandbox = sandbox(&cli)?;
            let catalog = load_catalog(&sandbox, &open_plugin_dir(plugins.as_deref())?)?;
            let cluster = berth::manifest::read_cluster(file)?;
            print!("{}", berth::upgrade_cli::migration_job(&catalog, &cluster, namespace, to, from.as_deref())?);
            Ok(())
        }
        Command::Crd { ref kind } => {
            let Some(yaml) = berth::crd::crd_yaml(kind) else {
                let kinds: Vec<&str> = berth::crd::CRD_FILES.iter().map(|(kind, _)| *kind).collect();
                bail!("--kind must be one of {}, not {kind}", kinds.join(", "));
            };
            print!("{}", yaml?);
            Ok(())
        }
        Command::Render { cluster: ClusterFile { ref file, ref plugins, ref namespace }, emit_secrets, ref policy, ref plugin_sources } => {
            let sandbox = sandbox(&cli)?;
            let sources = plugin_sources.as_deref().map(open_sources).transpose()?;
            render(&sandbox, file, plugins.as_deref(), namespace, emit_secrets, policy, sources.as_ref())
        }
        Command::Run {
            ref plugins,
            ref plugin_sources,
            ref namespaces,
            concurrency,
            http_addr,
            leader_election,
            ref leader_election_namespace,
            shards,
            shard,
            max_concurrent_upgrades,
        } => {
            if let Some(index) = shard.filter(|&index| index >= shards) {
                bail!("--shard {index} is not one of the {shards} shards (0 to {})", shards - 1);
            }
            let key = operator_cache_key(cli.cache_key_file.as_deref());
            let sandbox = sandbox_with_key(&cli, &key)?;
            let dir = open_plugin_dir(plugins.as_deref())?;
            let catalog = load_catalog(&sandbox, &dir)?;
            let sources = plugin_sources.as_deref().map(open_sources).transpose()?;
            let options = berth::controller::Options { namespaces: namespaces.clone(), concurrency, on_signal: true, ..Default::default() };
            let sharding = (leader_election || shards > 1).then(|| Sharding {
                lease: LeaseConfig::new(leader_election_namespace, berth::controller::shard::LEADER_LEASE, replica_identity()),
                count: shards,
                index: shard,
            });
            operate(sandbox, sources, catalog, options, http_addr, sharding, max_concurrent_upgrades)
        }
        Command::Import { ref helm_values, from_cluster, ref release, ref namespace } => {
            let values = match helm_values {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    serde_yaml::from_str::<serde_json::Value>(&text).with_context(|| format!("{} is not YAML", path.display()))?
                }
                None if from_cluster => release_values(release, namespace)?,
                None => bail!("give --helm-values FILE or --from-cluster"),
            };
            let imported = berth::helm_import::import(values, release, namespace)?;
            print!("{}", serde_yaml::to_string(&imported.manifest).context("writing YAML")?);
            if !imported.notes.is_empty() {
                eprintln!("# {} chart value(s) not carried:", imported.notes.len());
                for note in &imported.notes {
                    eprintln!("#   {}: {}", note.path, note.reason);
                }
            }
            Ok(())
        }
        Command::Plugins { command: PluginsCommand::Inspect { ref target, ref registry } } => {
            let sandbox = sandbox(&cli)?;
            if Path::new(target).exists() {
                return inspect(&sandbox, Path::new(target));
            }
            let plugin = oci_commands::load_pulled(&sandbox, target, None, &[], registry)?;
            println!("reference:        {target}");
            print_plugin(&plugin);
            Ok(())
        }
        Command::Plugins { command: PluginsCommand::Verify { ref target, ref digest, ref key, ref registry } } => {
            // Never the precompiled cache: what is verified is compiled from the bytes themselves.
            let sandbox = Sandbox::new(EngineSettings::default(), None).context("starting the WebAssembly sandbox")?;
            if Path::new(target).exists() {
                if !key.is_empty() {
                    bail!("--key checks a registry's signatures; {target} is a file");
                }
                return verify(&sandbox, Path::new(target), digest);
            }
            let plugin = oci_commands::load_pulled(&sandbox, target, Some(digest), key, registry)?;
            println!("verified:         {target} matches {digest}; imports within the allow-list; contract and describe() valid");
            print_plugin(&plugin);
            Ok(())
        }
        Command::Plugins { command: PluginsCommand::Push { ref file, ref reference, ref registry } } => {
            let sandbox = Sandbox::new(EngineSettings::default(), None).context("starting the WebAssembly sandbox")?;
            let (name, wasm) = read_plugin_file(file)?;
            let plugin = sandbox
                .load(&name, &wasm, None, Limits::default())
                .with_context(|| format!("{} is not a plugin the operator would load; not pushed", file.display()))?;
            oci_commands::push(&plugin, wasm, reference, registry)
        }
        Command::Plugins { command: PluginsCommand::Sign { ref reference, ref key, ref registry } } => {
            oci_commands::sign(reference, key, registry)
        }
        Command::Plugins { command: PluginsCommand::Keygen { ref output_prefix } } => oci_commands::keygen(output_prefix),
        Command::Plugins { command: PluginsCommand::Pull { ref reference, ref verify_key, ref output, ref registry } } => {
            oci_commands::pull(reference, verify_key, output.as_deref(), registry)
        }
        Command::Plugins { command: PluginsCommand::Diff { ref from, ref to, ref file, ref namespace } } => {
            let sandbox = sandbox(&cli)?;
            shadow_diff(&sandbox, from, to, file, namespace)
        }
    }
}

/// The user-supplied values of a Helm release, from its record in `namespace`.
fn release_values(release: &str, namespace: &str) -> anyhow::Result<serde_json::Value> {
    with_cluster(async |client| Ok(berth::helm_import::values_from_cluster(&client, release, namespace).await?))
}

/// The runtime of a one-shot command's network calls.
fn one_shot_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// Runs a one-shot command's `work` against the cluster of the current kubeconfig (or
/// the in-cluster configuration).
fn with_cluster<T>(work: impl AsyncFnOnce(kube::Client) -> anyhow::Result<T>) -> anyhow::Result<T> {
    one_shot_runtime()?.block_on(async {
        let client = kube::Client::try_default().await.context("no Kubernetes configuration (kubeconfig or in-cluster)")?;
        work(client).await
    })
}

/// The sandbox of an interactive command: its cache signed with the user's key file.
fn sandbox(cli: &Cli) -> anyhow::Result<Sandbox> {
    let key = match &cli.cache_key_file {
        Some(file) => CacheKey::File(file.clone()),
        None if cli.no_cache => CacheKey::Ephemeral,
        None => user_cache_key().map_or(CacheKey::Ephemeral, CacheKey::File),
    };
    sandbox_with_key(cli, &key)
}

fn sandbox_with_key(cli: &Cli, key: &CacheKey) -> anyhow::Result<Sandbox> {
    let cache = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(default_cache_dir) };
    Sandbox::with_cache_key(EngineSettings::default(), cache.as_deref(), key).context("starting the WebAssembly sandbox")
}

/// $XDG_CONFIG_HOME/berth/cache.key (or ~/.config/...), created with 32 random bytes,
/// mode 0600, on first use: apart from the cache, so a writable cache directory does not
/// hand out the key. None when it cannot be made (the cache then lives for one run).
fn user_cache_key() -> Option<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let dir = base.join("berth");
    let path = dir.join("cache.key");
    if path.is_file() {
        return Some(path);
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).ok()?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).ok()?;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).ok()?;
    file.write_all(&key).ok()?;
    Some(path)
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("berth"))
}

fn render(
    sandbox: &Sandbox,
    file: &Path,
    plugins: Option<&Path>,
    default_namespace: &str,
    emit_secrets: bool,
    policy_files: &[PathBuf],
    plugin_sources: Option<&PluginDir>,
) -> anyhow::Result<()> {
    let cluster = berth::manifest::read_cluster(file)?;
    let snapshot = offline_snapshot(sandbox, plugins, policy_files, plugin_sources)?;
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or(default_namespace);
    let uid = cluster.metadata.uid.as_deref().unwrap_or_default();
    let plan =
        snapshot.plan(&ClusterFacts { uid, labels: cluster.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()), spec: &cluster.spec });
    let rendered = render_planned(&plan, &ClusterRef { name, namespace, uid, spec: &cluster.spec })?;
    let errors: Vec<String> = rendered.errors().map(|e| format!("{e:#}")).collect();
    if !errors.is_empty() {
        bail!("{} component(s) failed to render:\n  {}", errors.len(), errors.join("\n  "));
    }
    for (component, result) in &rendered.components {
        if let Ok(c) = result {
            tracing::info!(component, plugin = %c.plugin, version = %c.plugin_version, digest = %c.digest, selection = %c.selection, objects = c.objects.len(), "rendered");
        }
    }
    let mut secrets = Vec::new();
    if emit_secrets {
        for secret in &rendered.secrets {
            let data = berth::secrets::generate(secret)?;
            let mut object = berth::secrets::secret_object(&secret.name, &data);
            if let Some(serde_json::Value::Object(meta)) = object.get_mut("metadata") {
                meta.insert("namespace".to_owned(), serde_json::Value::String(namespace.to_owned()));
                meta.insert("labels".to_owned(), serde_json::to_value(berth::labels::cluster_labels(name, &cluster.spec.version))?);
            }
            secrets.push(object);
        }
    } else if !rendered.secrets.is_empty() {
        let names: Vec<&str> = rendered.secrets.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "note: {} generated Secrets are referenced but not printed: {}.\n      \
             They must exist in namespace {namespace} (the operator creates them; offline, \
             run once with --emit-secrets). Rendering never regenerates them.\n      \
             A core Secret from berth 0.1's --emit-secrets holds a PKCS#8 tls.key that Harbor \
             cannot read: `berth secrets convert-token-key` prints it converted (README).",
            names.len(),
            names.join(", ")
        );
    }
    let objects = rendered.objects();
    let yaml = berth::manifest::to_yaml(secrets.iter().chain(objects.iter().map(|o| &o.object)))?;
    print!("{yaml}");
    Ok(())
}

/// The bundled plugins, with PluginPolicy files applied offline: what `render` and
/// `upgrade plan` choose plugins from.
fn offline_snapshot(
    sandbox: &Sandbox,
    plugins: Option<&Path>,
    policy_files: &[PathBuf],
    plugin_sources: Option<&PluginDir>,
) -> anyhow::Result<Snapshot> {
    let dir = open_plugin_dir(plugins)?;
    let catalog = load_catalog(sandbox, &dir)?;
    let mut snapshot = Snapshot::bundled(&catalog);
    if !policy_files.is_empty() {
        let mut policies = Vec::new();
        for path in policy_files {
            policies.extend(berth::manifest::read_policies(path)?);
        }
        let (no_config_maps, no_oci) = (BTreeMap::new(), BTreeMap::new());
        let sources = berth::policy::build::Sources { dir: plugin_sources, config_maps: &no_config_maps, oci: &no_oci };
        snapshot = berth::policy::build::build(sandbox, &snapshot, &policies, &sources);
        for (policy, status) in &snapshot.policy_status {
            for component in &status.components {
                for refused in &component.refused {
                    eprintln!(
                        "warning: PluginPolicy {policy}: {} {} refused: {}: {}",
                        component.component, refused.version, refused.reason, refused.message
                    );
                }
            }
        }
    }
    Ok(snapshot)
}

fn convert_token_key(file: &Path) -> anyhow::Result<()> {
    let text = berth::manifest::read_bounded(file)?;
    let mut secret: k8s_openapi::api::core::v1::Secret =
        serde_yaml::from_str(&text).with_context(|| format!("{} is not a Secret manifest", file.display()))?;
    let key = berth_api::keys::TOKEN_KEY;
    let converted = berth::secrets::convert_token_key_in_secret(&mut secret, key).with_context(|| format!("{}", file.display()))?;
    if !converted {
        eprintln!("note: {key} is already in a form Harbor reads; nothing to convert");
    }
    print!("{}", serde_yaml::to_string(&secret)?);
    Ok(())
}

fn open_plugin_dir(plugins: Option<&Path>) -> anyhow::Result<PluginDir> {
    let dir_path = plugins.map(Path::to_owned).unwrap_or_else(PluginDir::default_location);
    PluginDir::open(&dir_path)
        .with_context(|| format!("no plugins at {}: build them first (`make plugins`) or pass --plugins DIR", dir_path.display()))
}

fn open_sources(path: &Path) -> anyhow::Result<PluginDir> {
    PluginDir::open(path).with_context(|| format!("--plugin-sources {}", path.display()))
}

/// The bundled plugins: every .wasm in the plugin directory.
fn load_catalog(sandbox: &Sandbox, dir: &PluginDir) -> anyhow::Result<Catalog> {
    tracing::info!(dir = %dir.path().display(), "loading plugins");
    let catalog = Catalog::load_dir(sandbox, dir, Limits::default())?;
    if catalog.is_empty() {
        bail!("no plugins in {}", dir.path().display());
    }
    Ok(catalog)
}

/// Which Job `berth backup job` prints.
enum TaskArgs<'a> {
    Backup(&'a String),
    Restore { name: &'a String, path: &'a String, sha: &'a String },
}

/// `berth backup job`: the Job of one backup or restore, rendered by the bundled backup plugin.
fn backup_job(sandbox: &Sandbox, file: &Path, plugins: Option<&Path>, default_namespace: &str, task: TaskArgs<'_>) -> anyhow::Result<()> {
    use berth::contract::{BackupTask, RestoreTask, Task};
    use berth::controller::backup::jobs;
    let cluster = berth::manifest::read_cluster(file)?;
    let catalog = load_catalog(sandbox, &open_plugin_dir(plugins)?)?;
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or(default_namespace);
    let fullname = berth::topology::resolve(name, &cluster.spec)?.fullname;
    let task = match task {
        TaskArgs::Backup(backup) => Task::Backup(BackupTask {
            name: backup.clone(),
            job_name: jobs::job_name(&fullname, "backup", backup),
            path: jobs::backup_path(namespace, name, backup),
        }),
        TaskArgs::Restore { name: restore, path, sha } => Task::Restore(RestoreTask {
            name: restore.clone(),
            job_name: jobs::job_name(&fullname, "restore", restore),
            path: path.clone(),
            dump_sha256: sha.clone(),
        }),
    };
    let objects = berth::render::render_task_bundled(&catalog, &ClusterRef { name, namespace, uid: "", spec: &cluster.spec }, task)?;
    print!("{}", serde_yaml::to_string(&objects.job.object)?);
    if let Some(snapshot) = objects.snapshot {
        print!("---\n{}", serde_yaml::to_string(&snapshot.object)?);
    }
    Ok(())
}

/// `berth backup list|describe`: reads HarborBackups with the current kubeconfig.
fn backup(command: &BackupCommand) -> anyhow::Result<()> {
    use berth_api::backup::HarborBackup;
    with_cluster(async |client| {
        match command {
            BackupCommand::List { namespace } => {
                let api: kube::Api<HarborBackup> = kube::Api::namespaced(client, namespace);
                let list = api.list(&Default::default()).await.with_context(|| format!("listing HarborBackups in {namespace}"))?;
                print!("{}", berth::backup_cli::list(&list.items));
            }
            BackupCommand::Job { .. } => bail!("`berth backup job` renders offline; it needs no cluster"),
            BackupCommand::Describe { name, namespace } => {
                let api: kube::Api<HarborBackup> = kube::Api::namespaced(client, namespace);
                let backup = api.get(name).await.with_context(|| format!("reading HarborBackup {namespace}/{name}"))?;
                print!("{}", berth::backup_cli::describe(&backup));
            }
        }
        Ok(())
    })
}

/// Which shard of how many this replica runs, holding which Lease.
struct Sharding {
    lease: LeaseConfig,
    count: u32,
    index: Option<u32>,
}

/// The operator's runtime: the controller until SIGTERM or Ctrl+C, reconciles in flight
/// allowed to finish.
fn operate(
    sandbox: Sandbox,
    plugin_sources: Option<PluginDir>,
    catalog: Catalog,
    options: berth::controller::Options,
    http_addr: std::net::SocketAddr,
    sharding: Option<Sharding>,
    max_concurrent_upgrades: usize,
) -> anyhow::Result<()> {
    let plugins = Arc::new(PluginSet::new(Snapshot::bundled(&catalog)));
    // Pulled plugins are kept beside the precompiled cache, so a restart pulls nothing
    // and a registry outage does not take plugins away; without a cache, in memory only.
    let store = match sandbox.cache_dir() {
        Some(dir) => Some(Arc::new(berth::oci::store::ContentStore::open(&dir.join("oci")).context("opening the plugin store")?)),
        None => None,
    };
    let pull = berth::controller::plugin_pull::PullSettings { store, limits: Default::default() };
    let sources = berth::controller::policy_sync::PolicySources { sandbox: Arc::new(sandbox), dir: plugin_sources.map(Arc::new), pull };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await.context("no Kubernetes configuration (kubeconfig or in-cluster)")?;
        let context = Arc::new(
            berth::controller::Context::new(client, plugins).with_policy(sources).with_max_concurrent_upgrades(max_concurrent_upgrades),
        );
        let listener = tokio::net::TcpListener::bind(http_addr).await.with_context(|| format!("listening on {http_addr}"))?;
        let ready = Arc::new(berth::controller::http::Readiness::default());
        let server = tokio::spawn(berth::controller::http::serve(listener, context.metrics.clone(), ready.clone()));
        tracing::info!(%http_addr, "serving /metrics, /healthz and /readyz");
        // Ready once the plugins are loaded and the client is configured: the controller
        // retries its watches by itself. A standby is ready too: it serves no traffic,
        // and a rolling update would wait forever on a replica that cannot lead yet.
        ready.set(true);
        let outcome = match sharding {
            None => {
                context.metrics.set_leader(true);
                berth::controller::run_with(context, options, std::future::pending()).await;
                Ok(())
            }
            // Losing the Lease ends the process with an error: the pod restarts as a
            // standby, with none of the lost leader's state.
            Some(Sharding { lease, count, index }) => {
                berth::controller::shard::run(context, options, lease, count, index, stop_signal()).await.map_err(anyhow::Error::from)
            }
        };
        server.abort();
        outcome
    })
}

/// The operator's cache key: the file named, or a key of its own when there is none or
/// the file does not exist. deploy/ mounts the key from an optional Secret: without it
/// the operator still starts, and only pays a compile per plugin at each start; a key
/// drawn per process is never weaker than a shared one.
fn operator_cache_key(file: Option<&Path>) -> CacheKey {
    match file {
        Some(file) if file.exists() => CacheKey::File(file.to_owned()),
        Some(file) => {
            tracing::warn!(file = %file.display(), "no cache key there: plugins are compiled at each start (create the Secret to keep them)");
            CacheKey::Ephemeral
        }
        None => CacheKey::Ephemeral,
    }
}

/// This replica's name in the Lease.
fn replica_identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "berth".to_owned());
        format!("{host}-{}", std::process::id())
    })
}

/// SIGTERM or Ctrl+C (the controller watches for them itself once it runs).
async fn stop_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reads a plugin file through a capability on its directory (as the operator does).
fn read_plugin_file(file: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().and_then(|n| n.to_str()).context("the plugin path has no file name")?;
    let dir = PluginDir::open(parent)?;
    Ok((name.to_owned(), dir.read(name)?))
}

fn inspect(sandbox: &Sandbox, file: &Path) -> anyhow::Result<()> {
    let (name, wasm) = read_plugin_file(file)?;
    let plugin = sandbox.load(&name, &wasm, None, Limits::default())?;
    println!("file:             {}", file.display());
    print_plugin(&plugin);
    Ok(())
}

fn print_plugin(plugin: &Plugin) {
    let d = plugin.description();
    println!("name:             {}", d.name);
    println!("version:          {}", d.version);
    println!("component:        {}", d.component);
    println!("contract:         berth:plugin@{}", d.contract_version);
    println!("harbor versions:  {}", d.harbor_versions.join(", "));
    println!("digest:           {}", plugin.digest());
    println!("size:             {} bytes", plugin.size());
    println!("imports:");
    for import in plugin.imports() {
        if berth::sandbox::imports::is_stubbed(import) {
            println!("  {import}  ({})", berth::sandbox::denied::STUB_NOTE);
        } else {
            println!("  {import}");
        }
    }
    println!("exports:");
    for export in plugin.exports() {
        println!("  {export}");
    }
}

fn verify(sandbox: &Sandbox, file: &Path, digest: &str) -> anyhow::Result<()> {
    let expected: Digest = digest.parse()?;
    let (name, wasm) = read_plugin_file(file)?;
    let actual = Digest::of(&wasm);
    if actual != expected {
        bail!("{} does not match: its digest is {actual}, not {expected}", file.display());
    }
    let plugin = sandbox
        .load(&name, &wasm, Some(&expected), Limits::default())
        .with_context(|| format!("{} matches its digest but is not a plugin the operator would load", file.display()))?;
    println!("verified:         {} matches {expected}; imports within the allow-list; contract and describe() valid", file.display());
    print_plugin(&plugin);
    Ok(())
}

fn shadow_diff(sandbox: &Sandbox, from: &Path, to: &Path, file: &Path, default_namespace: &str) -> anyhow::Result<()> {
    let load = |path: &Path| -> anyhow::Result<Plugin> {
        let (name, wasm) = read_plugin_file(path)?;
        Ok(sandbox.load(&name, &wasm, None, Limits::default())?)
    };
    let (old, new) = (load(from)?, load(to)?);
    let component = old.description().component.clone();
    if new.description().component != component {
        bail!("{} renders {component:?} but {} renders {:?}", from.display(), to.display(), new.description().component);
    }
    let cluster = berth::manifest::read_cluster(file)?;
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or(default_namespace);
    let uid = cluster.metadata.uid.as_deref().unwrap_or_default();
    let reference = ClusterRef { name, namespace, uid, spec: &cluster.spec };
    let objects = |plugin: &Plugin| -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let planned =
            Planned { plugin: plugin.clone(), selection: Selection::Stable, guardrails: Arc::new(Guardrails::default()), stable: None };
        let plan = RenderPlan { components: vec![(component.clone(), Ok(planned))] };
        let rendered = render_planned(&plan, &reference)?;
        match rendered.components.into_iter().next() {
            Some((_, Ok(render))) => Ok(render.objects.into_iter().map(|o| o.object).collect()),
            Some((_, Err(e))) => Err(anyhow::Error::new(e).context(format!(
                "{}@{} does not render {file:?}",
                plugin.name(),
                plugin.description().version,
                file = file.display()
            ))),
            None => bail!("nothing rendered"),
        }
    };
    let diff = berth::diff::diff(&objects(&old)?, &objects(&new)?);
    println!(
        "{component}: {}@{} ({}) -> {}@{} ({})",
        old.name(),
        old.description().version,
        old.digest(),
        new.name(),
        new.description().version,
        new.digest()
    );
    print!("{}", diff.to_text());
    Ok(())
}

fn init_logging(format: Option<&str>, operator: bool) {
    use tracing_subscriber::EnvFilter;
    // The operator logs its work (one audit line per render among it); the one-shot
    // commands only warnings, so their stdout stays the YAML or report asked for.
    // sigstore warns at every fetch that the registry has no referrers API (no Sigstore
    // bundles there); only its errors say something about our signatures.
    let default = if operator { "info,sigstore=error" } else { "warn,sigstore=error" };
    let filter = EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let json = match format {
        Some(f) => f == "json",
        None => std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
