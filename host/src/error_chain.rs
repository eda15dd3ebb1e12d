//! An error and its sources as one line, for status, Events and refusal messages,
//! where a reader sees no log and needs the root cause.

/// "outer: inner: root", skipping a source whose text the message already contains
/// (errors that print their source inline).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
