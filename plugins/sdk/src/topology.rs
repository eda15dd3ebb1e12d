//! Helpers over the topology the host resolves before any plugin runs (the WIT's
//! `topology` record): names, Services, URLs, ports, images, labels and Secret names.
//! Plugins read it; they never invent a name another component must agree on.

use std::collections::BTreeMap;

use crate::RenderError;
pub use crate::wit::{
    ComponentTopology, ContainerImage, DatabaseEndpoint, KeyValue, RedisEndpoint, RedisIndices, SecretKeyRef, SecretNames, Topology,
};

pub use berth_api::keys::{self, REGISTRY_USERNAME};

impl SecretKeyRef {
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        SecretKeyRef { name: name.into(), key: key.into() }
    }
}

/// The environment variable a container must define (from `RedisEndpoint::password`)
/// before any variable whose value uses [`RedisEndpoint::url`].
pub const REDIS_PASSWORD_ENV: &str = "REDIS_PASSWORD";

impl RedisEndpoint {
    /// A Redis URL for database `db`, as the chart builds it. The password is written
    /// as `$(REDIS_PASSWORD)`, which Kubernetes expands from an earlier env var, so the
    /// password never lands in a ConfigMap.
    pub fn url(&self, db: u8) -> String {
        let auth = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:$({REDIS_PASSWORD_ENV})@"),
            (None, Some(_)) => format!(":$({REDIS_PASSWORD_ENV})@"),
            (Some(user), None) => format!("{user}@"),
            (None, None) => String::new(),
        };
        match &self.sentinel_master_set {
            Some(master) => format!("redis+sentinel://{auth}{}/{master}/{db}", self.addr),
            None => {
                let scheme = if self.tls { "rediss" } else { "redis" };
                format!("{scheme}://{auth}{}/{db}", self.addr)
            }
        }
    }
}

impl Topology {
    /// The topology of one component, or an error naming it.
    pub fn component(&self, name: &str) -> Result<&ComponentTopology, RenderError> {
        self.components
            .iter()
            .find(|c| c.component == name)
            .ok_or_else(|| RenderError::Internal(format!("the host's topology has no component {name:?}")))
    }
}

impl ComponentTopology {
    /// The image of one container, or an error naming it.
    pub fn image(&self, container: &str) -> Result<&str, RenderError> {
        self.images
            .iter()
            .find(|i| i.container == container)
            .map(|i| i.image.as_str())
            .ok_or_else(|| RenderError::Internal(format!("the host's topology has no image for container {container:?} of {}", self.name)))
    }

    /// The labels of this component's objects, as Kubernetes objects hold them.
    pub fn labels(&self) -> BTreeMap<String, String> {
        to_map(&self.labels)
    }

    /// The pod selector of this component's workloads.
    pub fn selector(&self) -> BTreeMap<String, String> {
        to_map(&self.selector)
    }
}

/// A WIT list of key-value pairs as a map.
pub fn to_map(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::RedisIndices;

    #[test]
    fn redis_urls_follow_the_chart_and_keep_the_password_out() {
        let mut redis = RedisEndpoint {
            addr: "r:6379".to_owned(),
            sentinel_master_set: None,
            username: None,
            password: None,
            tls: false,
            indices: RedisIndices { core: 0, jobservice: 1, registry: 2, trivy: 5 },
        };
        assert_eq!(redis.url(0), "redis://r:6379/0");
        redis.password = Some(SecretKeyRef::new("s", "k"));
        redis.tls = true;
        assert_eq!(redis.url(2), "rediss://:$(REDIS_PASSWORD)@r:6379/2");
        redis.sentinel_master_set = Some("mymaster".to_owned());
        redis.addr = "s1:26379,s2:26379".to_owned();
        redis.username = Some("harbor".to_owned());
        assert_eq!(redis.url(1), "redis+sentinel://harbor:$(REDIS_PASSWORD)@s1:26379,s2:26379/mymaster/1");
    }
}
