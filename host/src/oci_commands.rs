//! `berth plugins push | sign | keygen | pull`, and the OCI half of `inspect` and
//! `verify`: the vendor's side of the plugin supply chain. Registry credentials come
//! from a Docker config file (`--registry-config`, else $DOCKER_CONFIG/config.json or
//! ~/.docker/config.json when present); cosign keys' passwords from $COSIGN_PASSWORD,
//! as cosign reads them.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use berth::oci::artifact::{self, PullLimits};
use berth::oci::registry::{self, Pulled, sha256};
use berth::oci::{credentials, signature};
use berth::sandbox::{Digest, Limits, Plugin, Sandbox};
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use zeroize::Zeroizing;

/// How to reach the registry.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Plain HTTP (a registry on loopback or a private network).
    #[arg(long)]
    pub insecure: bool,
    /// A Docker config file (dockerconfigjson) with the registry's credentials.
    #[arg(long, env = "BERTH_REGISTRY_CONFIG")]
    pub registry_config: Option<PathBuf>,
}

impl RegistryArgs {
    fn auth(&self, reference: &Reference) -> anyhow::Result<RegistryAuth> {
        let file = self.registry_config.clone().or_else(|| {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
            Some(dir.join("config.json")).filter(|f| f.exists())
        });
        let Some(file) = file else { return Ok(RegistryAuth::Anonymous) };
        let config = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        credentials::for_registry(&config, reference.resolve_registry()).with_context(|| format!("credentials in {}", file.display()))
    }
}

fn password() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::env::var("COSIGN_PASSWORD").unwrap_or_default().into_bytes())
}

/// Pushes a plugin, after loading it as the operator would, and prints the digests and
/// the PluginPolicy version that names it.
pub fn push(plugin: &Plugin, wasm: Vec<u8>, target: &str, args: &RegistryArgs) -> anyhow::Result<()> {
    let reference = registry::parse_reference(target)?;
    let auth = args.auth(&reference)?;
    let d = plugin.description();
    let wasm_digest = sha256(&wasm);
    let config = artifact::config_blob(&d.name, &d.version, &d.component, &wasm_digest);
    let client = registry::client(args.insecure, &PullLimits::default());
    let manifest_digest = crate::one_shot_runtime()?.block_on(registry::push(&client, &reference, &auth, wasm, config))?;
    let pinned = format!("{}/{}@{manifest_digest}", reference.registry(), reference.repository());
    println!("pushed:           {target}");
    println!("manifest digest:  {manifest_digest}   (what `berth plugins sign` signs)");
    println!("wasm digest:      {wasm_digest}   (the policy version's digest)");
    println!();
    println!("PluginPolicy version:");
    println!("      - version: \"{}\"", d.version);
    println!("        name: {}", d.name);
    println!("        digest: {wasm_digest}");
    println!("        source:");
    println!("          oci:");
    println!("            reference: {pinned}");
    if args.insecure {
        println!("            insecure: true");
    }
    Ok(())
}

/// Writes PREFIX.key (encrypted with $COSIGN_PASSWORD) and PREFIX.pub; never overwrites.
pub fn keygen(prefix: &Path) -> anyhow::Result<()> {
    let (private_path, public_path) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    for path in [&private_path, &public_path] {
        if path.exists() {
            bail!("{} exists; not overwriting a key", path.display());
        }
    }
    let (private, public) = signature::keygen(&password())?;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private_path)
        .with_context(|| format!("creating {}", private_path.display()))?;
    file.write_all(private.as_bytes()).with_context(|| format!("writing {}", private_path.display()))?;
    std::fs::write(&public_path, public).with_context(|| format!("writing {}", public_path.display()))?;
    println!("private key:      {} (encrypted with $COSIGN_PASSWORD)", private_path.display());
    println!("public key:       {} (goes into a PluginPolicy's signatures.keys)", public_path.display());
    Ok(())
}

/// Signs what `target` points at now, by manifest digest.
pub fn sign(target: &str, key: &Path, args: &RegistryArgs) -> anyhow::Result<()> {
    let reference = registry::parse_reference(target)?;
    let auth = args.auth(&reference)?;
    let private = Zeroizing::new(std::fs::read(key).with_context(|| format!("reading {}", key.display()))?);
    let limits = PullLimits::default();
    let client = registry::client(args.insecure, &limits);
    let runtime = crate::one_shot_runtime()?;
    let digest = runtime.block_on(registry::resolve(&client, &reference, &auth, &limits))?;
    runtime.block_on(signature::sign(&reference, &digest, private, password(), &auth, args.insecure, &limits))?;
    println!("signed:           {}/{}@{digest}", reference.registry(), reference.repository());
    println!("signature:        {}", signature::signature_reference(&reference, &digest));
    Ok(())
}

/// Pulls `target`; with keys, also fetches its signatures and requires one by a key.
pub fn pull_checked(target: &str, keys: &[PathBuf], args: &RegistryArgs) -> anyhow::Result<Pulled> {
    let reference = registry::parse_reference(target)?;
    let auth = args.auth(&reference)?;
    let limits = PullLimits::default();
    let client = registry::client(args.insecure, &limits);
    let runtime = crate::one_shot_runtime()?;
    let pulled = runtime.block_on(registry::pull(&client, &reference, &auth, &limits))?;
    if !keys.is_empty() {
        let verifiers = keys
            .iter()
            .map(|path| {
                let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                Ok(signature::public_key(&path.display().to_string(), &pem)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let found = runtime.block_on(signature::fetch(&client, &reference, &pulled.manifest_digest, &auth, args.insecure, &limits))?;
        let which = signature::verify(target, &pulled.manifest_digest, &found, &verifiers)?;
        println!("signature:        verified with {}", keys[which].display());
    }
    println!("manifest digest:  {}", pulled.manifest_digest);
    println!("wasm digest:      {}", sha256(&pulled.wasm));
    Ok(pulled)
}

/// `pull`: the checked .wasm written to `output` (default: the repository's last
/// segment, ".wasm").
pub fn pull(target: &str, keys: &[PathBuf], output: Option<&Path>, args: &RegistryArgs) -> anyhow::Result<()> {
    let pulled = pull_checked(target, keys, args)?;
    let reference = registry::parse_reference(target)?;
    let default = PathBuf::from(format!("{}.wasm", reference.repository().rsplit('/').next().unwrap_or("plugin")));
    let output = output.unwrap_or(&default);
    std::fs::write(output, &pulled.wasm).with_context(|| format!("writing {}", output.display()))?;
    println!("written:          {}", output.display());
    Ok(())
}

/// `inspect` and `verify` of a reference: the pulled plugin loaded as the operator would.
pub fn load_pulled(sandbox: &Sandbox, target: &str, digest: Option<&str>, keys: &[PathBuf], args: &RegistryArgs) -> anyhow::Result<Plugin> {
    let pulled = pull_checked(target, keys, args)?;
    let expected = digest.map(str::parse::<Digest>).transpose()?;
    if let Some(expected) = &expected {
        let actual = Digest::of(&pulled.wasm);
        if &actual != expected {
            bail!("{target} does not match: its .wasm has digest {actual}, not {expected}");
        }
    }
    Ok(sandbox.load(target, &pulled.wasm, expected.as_ref(), Limits::default())?)
}
