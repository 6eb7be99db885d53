//! Building API paths from values that came from outside (a config's file path, a branch
//! name, a user's login): each segment is percent-encoded, so `a.yaml?ref=x` stays a file
//! name and never becomes a query, and `..` cannot climb out of the route.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A path of several segments (a file in the repository, a ref after `git/ref/`): each
/// segment encoded, the slashes kept. `.` and `..` segments are encoded so no HTTP layer
/// folds them.
pub fn path(p: &str) -> String {
    p.split('/')
        .map(|s| match s {
            "." => "%2E".to_string(),
            ".." => "%2E%2E".to_string(),
            s => segment(s),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A query parameter's value.
pub fn query(s: &str) -> String {
    segment(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_stays_inside_its_segment() {
        assert_eq!(
            path("maps/a.yaml?ref=evil&x="),
            "maps/a.yaml%3Fref%3Devil%26x%3D"
        );
        assert_eq!(path("../../etc/passwd"), "%2E%2E/%2E%2E/etc/passwd");
        assert_eq!(path("fixpoint/api-42"), "fixpoint/api-42");
        assert_eq!(segment("a b#c"), "a%20b%23c");
        assert_eq!(query("feature/x y"), "feature%2Fx%20y");
    }
}
