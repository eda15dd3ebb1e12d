//! Kubernetes name rules, and bounding text that came from outside (a plugin, a spec)
//! before it reaches a log line, a status message or an Event.

/// A DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric,
/// at most 63 characters (namespaces, most object names).
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A DNS-1035 label: a DNS-1123 label that starts with a letter (Service names).
pub fn is_dns1035_label(name: &str) -> bool {
    is_dns_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (Secret and
/// ConfigMap names).
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// At most `max` characters of `text`, control characters replaced by U+FFFD, and an
/// ellipsis with the number of characters left out when it was longer.
pub fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).map(|c| if c.is_control() && c != '\n' { '\u{fffd}' } else { c }).collect();
    let total = text.chars().count();
    if total > max {
        out.push_str(&format!("… ({} more characters)", total - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains_follow_kubernetes() {
        for good in ["a", "demo", "demo-harbor", "a1", "0abc"] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "ä"] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(!is_dns1035_label("0abc"));
        assert!(is_dns_subdomain("kube-root-ca.crt"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain(&"a.".repeat(130)));
    }

    #[test]
    fn truncation_bounds_length_and_neutralises_control_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(truncate("a\u{7f}b\u{1b}[31m", 10), "a\u{fffd}b\u{fffd}[31m");
        let huge = "x".repeat(40 << 20);
        assert!(truncate(&huge, 1024).len() < 1100);
    }
}
