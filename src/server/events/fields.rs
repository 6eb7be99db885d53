//! Checks on the payload fields Fixpoint keeps. They come from anyone who can get a
//! signed delivery through (or a bug upstream), and they reach SQLite's signed 64-bit
//! integers, API paths and job keys: a value that does not fit is refused with its name.

/// Names, branches, paths: GitHub's own limits are far below this.
const STRING_CHARS: usize = 1024;
/// GitHub refuses comments over 65,536 characters.
pub const COMMENT_CHARS: usize = 65_536;

/// An id stored as SQLite's INTEGER: it must fit i64, or it would come back negative.
pub fn id(field: &str, value: u64) -> Result<(), String> {
    if i64::try_from(value).is_err() {
        return Err(format!(
            "{field} is {value}, larger than any id GitHub issues (at most {})",
            i64::MAX
        ));
    }
    Ok(())
}

/// A commit id: 40 hex characters (SHA-1) or 64 (SHA-256 repositories).
pub fn commit_sha(field: &str, value: &str) -> Result<(), String> {
    let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || !matches!(value.len(), 40 | 64) {
        // Never echo the value: it may be megabytes long.
        return Err(format!(
            "{field} must be 40 or 64 hexadecimal characters (a commit id); got {} characters",
            value.chars().count()
        ));
    }
    Ok(())
}

pub fn capped(field: &str, value: Option<&str>) -> Result<(), String> {
    capped_at(field, value, STRING_CHARS)
}

pub fn capped_at(field: &str, value: Option<&str>, max: usize) -> Result<(), String> {
    // Bytes bound chars from above: only a long value is counted.
    match value {
        Some(v) if v.len() > max && v.chars().count() > max => Err(format!(
            "{field} is {} characters long; at most {max} are accepted",
            v.chars().count()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_fit_sqlite_integers() {
        assert!(id("workflow_run.id", i64::MAX as u64).is_ok());
        let err = id("workflow_run.id", u64::MAX).unwrap_err();
        assert!(err.contains("workflow_run.id"), "{err}");
    }

    #[test]
    fn commit_ids_are_40_or_64_hex() {
        assert!(commit_sha("head_sha", &"a".repeat(40)).is_ok());
        assert!(commit_sha("head_sha", &"0f".repeat(32)).is_ok());
        assert!(commit_sha("head_sha", &"a".repeat(41)).is_err());
        assert!(commit_sha("head_sha", &format!("{}z", "a".repeat(39))).is_err());
        assert!(commit_sha("head_sha", "main").is_err());
    }

    #[test]
    fn long_strings_are_refused_with_their_name() {
        assert!(capped("workflow_run.name", Some("Deploy to staging")).is_ok());
        let err = capped("workflow_run.name", Some(&"x".repeat(2000))).unwrap_err();
        assert!(
            err.contains("workflow_run.name") && err.contains("2000"),
            "{err}"
        );
    }
}
