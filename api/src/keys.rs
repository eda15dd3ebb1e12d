//! The keys of the Secrets the host generates (the chart's names, so a chart install can
//! be adopted), and the registry's user name: the host writes them, plugins reference
//! them, and `wit/renderer.wit` documents them beside `secret-names`.

/// `<fullname>-core`: the 16-character data-encryption key. Never rotated.
pub const SECRET_KEY: &str = "secretKey";
/// `<fullname>-core`: the secret core, jobservice and registryctl share.
pub const CORE_SECRET: &str = "secret";
/// `<fullname>-core`: the 32-character CSRF key.
pub const CSRF_KEY: &str = "CSRF_KEY";
/// `<fullname>-core`: the token-signing key and its certificate.
pub const TOKEN_KEY: &str = "tls.key";
pub const TOKEN_CERT: &str = "tls.crt";
/// `<fullname>-core`: the generated admin password (when none is given).
pub const ADMIN_PASSWORD: &str = "HARBOR_ADMIN_PASSWORD";
/// `<fullname>-jobservice`.
pub const JOBSERVICE_SECRET: &str = "JOBSERVICE_SECRET";
/// `<fullname>-registry`: the upload-state HMAC secret, the same on every replica.
pub const REGISTRY_HTTP_SECRET: &str = "REGISTRY_HTTP_SECRET";
/// `<fullname>-registry-htpasswd`: the registry credential and its bcrypt line.
pub const REGISTRY_PASSWORD: &str = "REGISTRY_PASSWD";
pub const REGISTRY_HTPASSWD: &str = "REGISTRY_HTPASSWD";
/// `<fullname>-database`: the in-cluster PostgreSQL password.
pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";

/// The user name core and jobservice present to the registry (htpasswd basic auth).
pub const REGISTRY_USERNAME: &str = "harbor_registry_user";
