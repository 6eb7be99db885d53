//! Fencing outside text for a prompt. Logs, error messages and comments reach the model only
//! between `<untrusted-data source="…">` and `</untrusted-data>`, redacted, with any fence tag
//! inside the text neutralised so that it cannot close the fence early or open a fake one.

use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use regex::Regex;
use unicode_normalization::UnicodeNormalization as _;

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

static FENCE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<(\s*/?\s*untrusted[\s_-]*data)").expect("fence tag pattern")
});

/// `</untrusted-data>` inside data becomes `&lt;/untrusted-data>`, in any case or spacing,
/// with `_` for `-`, and in the spellings a model reads the same: the text is first brought
/// to Unicode NFKC (fullwidth `＜／` become `</`) and stripped of invisible format
/// characters (zero-width spaces, joiners, bidi controls) that would split the tag.
/// Text without a fence tag in any spelling comes back as it was.
pub fn neutralise(text: &str) -> String {
    let normal: String = text.nfkc().filter(|c| !is_invisible(*c)).collect();
    if !FENCE_TAG.is_match(&normal) {
        return text.to_string();
    }
    FENCE_TAG.replace_all(&normal, "&lt;$1").into_owned()
}

/// Unicode's format characters (category Cf) that appear in text: they render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
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
