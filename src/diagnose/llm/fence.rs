//! Fencing outside text for a prompt. Logs, error messages and comments reach the model only
//! between `<untrusted-data source="…">` and `</untrusted-data>`, redacted, with any fence tag
//! inside the text neutralised so that it cannot close the fence early or open a fake one.

use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use regex::Regex;

use crate::redact::redact;

pub const FENCE_OPEN: &str = "<untrusted-data";
pub const FENCE_CLOSE: &str = "</untrusted-data>";

/// Outside text, redacted and fenced; fence tags inside it can no longer close or open one.
pub fn fence(source: &str, at: Option<DateTime<Utc>>, text: &str) -> String {
    let at = at
        .map(|t| format!(" at=\"{}\"", t.to_rfc3339_opts(SecondsFormat::Secs, true)))
        .unwrap_or_default();
    format!(
        "{FENCE_OPEN} source=\"{}\"{at}>\n{}\n{FENCE_CLOSE}",
        attribute(source),
        neutralise(&redact(text))
    )
}

static FENCE_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<(\s*/?\s*untrusted-data)").expect("fence tag pattern"));

/// `</untrusted-data>` (any case or spacing) inside data becomes `&lt;/untrusted-data>`.
pub fn neutralise(text: &str) -> String {
    FENCE_TAG.replace_all(text, "&lt;$1").into_owned()
}

pub(crate) fn attribute(value: &str) -> String {
    let clean: String = redact(value)
        .chars()
        .map(|c| match c {
            '"' | '<' | '>' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    clean.chars().take(200).collect()
}
