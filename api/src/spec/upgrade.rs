//! `spec.upgrade`: how a change of `spec.version` on a running cluster is carried out.
//!
//! Harbor's database schema migrates forward only, so an upgrade is a sequence the host
//! drives and records in `status.upgrade`: preflight, a backup, the database writers
//! stopped, the schema migrated by the target version's core, every component rolled,
//! and a health gate. See the README's "Upgrading Harbor".

use serde::{Deserialize, Serialize};

use super::{enabled, from_empty_object};

/// How upgrades of this cluster run. Absent: the defaults of every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpgradeSpec {
    /// Allow a jump of more than one minor version (2.13 -> 2.15). Harbor's maintainers
    /// advise one minor at a time; by default such a change is refused.
    #[serde(default)]
    pub allow_skipping_minors: bool,
    /// Start even when some component is not Ready on the running version.
    #[serde(default)]
    pub force: bool,
    /// Take a HarborBackup (to `spec.backup.destination`) before migrating, and wait for
    /// it to complete. Turning it off leaves no way back from a failed migration.
    #[serde(default = "enabled")]
    pub backup: bool,
    /// How long the new version has to become available once applied, and the running
    /// version to be Ready in preflight: "90s", "30m", "2h".
    #[serde(default = "default_timeout")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9]{1,6}(s|m|h)$")))]
    pub timeout: String,
    /// When an upgrade may start, in cron syntax (UTC): the minutes it matches are open,
    /// e.g. "* 1-4 * * 6,0" (01:00 to 04:59 on weekends). A started upgrade runs to its
    /// end. Absent: any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

impl Default for UpgradeSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_timeout() -> String {
    "30m".to_owned()
}

impl UpgradeSpec {
    /// The timeout in seconds; `None` when it does not parse (the CRD's pattern keeps
    /// that from happening on a cluster).
    pub fn timeout_seconds(&self) -> Option<u64> {
        let (number, unit) = self.timeout.split_at(self.timeout.len().checked_sub(1)?);
        let number: u64 = number.parse().ok()?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return None,
        };
        number.checked_mul(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_in_seconds_minutes_and_hours() {
        let with = |timeout: &str| UpgradeSpec { timeout: timeout.to_owned(), ..UpgradeSpec::default() }.timeout_seconds();
        assert_eq!(UpgradeSpec::default().timeout_seconds(), Some(1800));
        assert_eq!(with("90s"), Some(90));
        assert_eq!(with("2h"), Some(7200));
        assert_eq!(with("5d"), None);
        assert_eq!(with("m"), None);
        assert_eq!(with(""), None);
        assert!(UpgradeSpec::default().backup, "a backup before migrating is the default");
    }
}
