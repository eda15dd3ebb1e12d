//! The Harbor versions this release of Berth deploys, declared once: the host resolves
//! images and topology for them, and every bundled plugin says it renders them.

/// Harbor minors, "major.minor", oldest first.
pub const HARBOR_MINORS: &[&str] = &["2.13", "2.14", "2.15"];

/// "2.15.1" -> Some("2.15"); anything without three numeric parts -> None.
pub fn major_minor(version: &str) -> Option<&str> {
    let mut parts = version.splitn(3, '.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let patch = parts.next()?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(major) && numeric(minor) && numeric(patch) { Some(&version[..major.len() + 1 + minor.len()]) } else { None }
}

/// Whether a plugin that renders `minors` ("2.15", ...) renders Harbor `version` ("2.15.1").
pub fn renders(minors: &[String], version: &str) -> bool {
    let minor = major_minor(version);
    minors.iter().any(|v| Some(v.as_str()) == minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_accepts_only_full_numeric_versions() {
        assert_eq!(major_minor("2.15.1"), Some("2.15"));
        assert_eq!(major_minor("10.2.0"), Some("10.2"));
        assert_eq!(major_minor("2.15"), None);
        assert_eq!(major_minor("v2.15.1"), None);
        assert_eq!(major_minor("2.x.1"), None);
    }
}
