//! The `berth` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth::catalog::Catalog;
use berth::plugin_dir::PluginDir;
use berth::render::{ClusterRef, render_cluster};
use berth::sandbox::{EngineSettings, Limits, Sandbox};
use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a HarborCluster to Kubernetes objects (multi-document YAML on stdout).
    Render {
        /// The HarborCluster manifest.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The plugin directory (default: $BERTH_PLUGIN_DIR, target/plugins beside the binary, /usr/lib/berth/plugins).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Namespace when the manifest names none.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// Also print the generated Secrets, with fresh values (immutable, so applying
        /// them a second time is refused rather than rotating keys). Use once, for a
        /// cluster that has none yet.
        #[arg(long)]
        emit_secrets: bool,
    },
    /// Inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Print the HarborCluster CustomResourceDefinition.
    Crd,
    /// Run the operator: reconcile HarborClusters (kubeconfig, or in-cluster config).
    Run {
        /// The plugin directory, loaded once at start (default as for `render`).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Watch only this namespace; repeat for several (default: all namespaces).
        #[arg(short = 'n', long = "namespace")]
        namespaces: Vec<String>,
        /// HarborClusters reconciled at once.
        #[arg(long, default_value_t = 8)]
        concurrency: u16,
        /// Where to serve /metrics, /healthz and /readyz.
        #[arg(long, default_value = "0.0.0.0:8080")]
        http_addr: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Print a plugin's name, version, component, contract, digest, imports and exports.
    Inspect { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format.as_deref());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            print!("{}", berth::crd::harbor_cluster_crd_yaml()?);
            Ok(())
        }
        Command::Render { ref file, ref plugins, ref namespace, emit_secrets } => {
            let sandbox = sandbox(&cli)?;
            render(&sandbox, file, plugins.as_deref(), namespace, emit_secrets)
        }
        Command::Run { ref plugins, ref namespaces, concurrency, http_addr } => {
            let sandbox = sandbox(&cli)?;
            let catalog = load_catalog(&sandbox, plugins.as_deref())?;
            let options = berth::controller::Options {
                namespaces: namespaces.clone(),
                concurrency,
                on_signal: true,
                ..Default::default()
            };
            operate(catalog, options, http_addr)
        }
        Command::Plugins { command: PluginsCommand::Inspect { ref file } } => {
            let sandbox = sandbox(&cli)?;
            inspect(&sandbox, file)
        }
    }
}

fn sandbox(cli: &Cli) -> anyhow::Result<Sandbox> {
    let cache = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(default_cache_dir) };
    Sandbox::new(EngineSettings::default(), cache.as_deref()).context("starting the WebAssembly sandbox")
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
) -> anyhow::Result<()> {
    let cluster = berth::manifest::read_cluster(file)?;
    let dir_path = plugins.map(Path::to_owned).unwrap_or_else(PluginDir::default_location);
    let dir = PluginDir::open(&dir_path).with_context(|| {
        format!("no plugins at {}: build them first (`make plugins`) or pass --plugins DIR", dir_path.display())
    })?;
    tracing::info!(dir = %dir.path().display(), "loading plugins");
    let catalog = Catalog::load_dir(sandbox, &dir, Limits::default())?;
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or(default_namespace);
    let uid = cluster.metadata.uid.as_deref().unwrap_or_default();
    let rendered = render_cluster(&catalog, &ClusterRef { name, namespace, uid, spec: &cluster.spec })?;
    let errors: Vec<String> = rendered.errors().map(|e| format!("{e:#}")).collect();
    if !errors.is_empty() {
        bail!("{} component(s) failed to render:\n  {}", errors.len(), errors.join("\n  "));
    }
    for (component, result) in &rendered.components {
        if let Ok(c) = result {
            tracing::info!(component, plugin = %c.plugin, version = %c.plugin_version, digest = %c.digest, objects = c.objects.len(), "rendered");
        }
    }
    let mut secrets = Vec::new();
    if emit_secrets {
        for secret in &rendered.secrets {
            let data = berth::secrets::generate(secret)?;
            let mut object = berth::secrets::secret_object(&secret.name, &data);
            if let Some(serde_json::Value::Object(meta)) = object.get_mut("metadata") {
                meta.insert("namespace".to_owned(), serde_json::Value::String(namespace.to_owned()));
                meta.insert("labels".to_owned(), serde_json::to_value(&rendered.topology.labels)?);
            }
            secrets.push(object);
        }
    } else if !rendered.secrets.is_empty() {
        let names: Vec<&str> = rendered.secrets.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "note: {} generated Secrets are referenced but not printed: {}.\n      \
             They must exist in namespace {namespace} (the operator creates them; offline, \
             run once with --emit-secrets). Rendering never regenerates them.",
            names.len(),
            names.join(", ")
        );
    }
    let objects = rendered.objects();
    let yaml = berth::manifest::to_yaml(secrets.iter().chain(objects.iter().map(|o| &o.object)))?;
    print!("{yaml}");
    Ok(())
}

fn load_catalog(sandbox: &Sandbox, plugins: Option<&Path>) -> anyhow::Result<Catalog> {
    let dir_path = plugins.map(Path::to_owned).unwrap_or_else(PluginDir::default_location);
    let dir = PluginDir::open(&dir_path).with_context(|| {
        format!("no plugins at {}: build them first (`make plugins`) or pass --plugins DIR", dir_path.display())
    })?;
    tracing::info!(dir = %dir.path().display(), "loading plugins");
    let catalog = Catalog::load_dir(sandbox, &dir, Limits::default())?;
    if catalog.is_empty() {
        bail!("no plugins in {}", dir_path.display());
    }
    Ok(catalog)
}

/// The operator's runtime: the controller until SIGTERM or Ctrl+C, reconciles in flight
/// allowed to finish.
fn operate(catalog: Catalog, options: berth::controller::Options, http_addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await.context("no Kubernetes configuration (kubeconfig or in-cluster)")?;
        let context = Arc::new(berth::controller::Context::new(client, Arc::new(catalog)));
        let listener = tokio::net::TcpListener::bind(http_addr).await.with_context(|| format!("listening on {http_addr}"))?;
        let ready = Arc::new(berth::controller::http::Readiness::default());
        let server = tokio::spawn(berth::controller::http::serve(listener, context.metrics.clone(), ready.clone()));
        tracing::info!(%http_addr, "serving /metrics, /healthz and /readyz");
        // Ready once the plugins are loaded and the client is configured: the controller
        // retries its watches by itself.
        ready.set(true);
        berth::controller::run_with(context, options, std::future::pending()).await;
        server.abort();
        Ok(())
    })
}

fn inspect(sandbox: &Sandbox, file: &Path) -> anyhow::Result<()> {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().and_then(|n| n.to_str()).context("the plugin path has no file name")?;
    let dir = PluginDir::open(parent)?;
    let wasm = dir.read(name)?;
    let plugin = sandbox.load(name, &wasm, None, Limits::default())?;
    let d = plugin.description();
    println!("file:             {}", file.display());
    println!("name:             {}", d.name);
    println!("version:          {}", d.version);
    println!("component:        {}", d.component);
    println!("contract:         berth:plugin@{}", d.contract_version);
    println!("harbor versions:  {}", d.harbor_versions.join(", "));
    println!("digest:           {}", plugin.digest());
    println!("size:             {} bytes", plugin.size());
    println!("imports:");
    for import in plugin.imports() {
        println!("  {import}");
    }
    println!("exports:");
    for export in plugin.exports() {
        println!("  {export}");
    }
    Ok(())
}

fn init_logging(format: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
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
