//! Limits on the YAML and JSON that repositories hand Fixpoint (maps, `fixpoint.yml`),
//! checked before parsing: the YAML parser's time grows with the square of the nesting
//! depth (100k levels took 29 s), and a parse blocks the thread it runs on.

/// A topology map larger than this is refused unread.
pub const MAX_MAP_BYTES: usize = 256 * 1024;
/// Deeper than any real map or config (a map is four levels deep).
pub const MAX_NESTING: usize = 64;

/// Why `text` is refused before parsing, if it is: over `max_bytes`, or nested deeper than
/// [`MAX_NESTING`].
pub fn refuse(text: &str, max_bytes: usize) -> Option<String> {
    if text.len() > max_bytes {
        return Some(format!(
            "the file is {} KiB; at most {} KiB is read",
            text.len().div_ceil(1024),
            max_bytes / 1024
        ));
    }
    let depth = nesting_depth(text);
    (depth > MAX_NESTING)
        .then(|| format!("the file nests {depth} levels deep; at most {MAX_NESTING} are read"))
}

/// An upper bound on how deep `text` nests, for YAML and JSON alike: flow brackets (`[`,
/// `{`) plus, per line, its indentation and compact sequence dashes (`- - - x`).
/// Brackets inside quotes are skipped; comments are counted, which only errs high.
pub fn nesting_depth(text: &str) -> usize {
    let mut deepest = 0;
    let mut brackets: usize = 0;
    let mut quote: Option<char> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut rest = line.trim_start_matches([' ', '\t']);
        let mut dashes = 0;
        while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            dashes += 1;
            rest = after.trim_start_matches(' ');
        }
        let mut escaped = false;
        for c in line.chars() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && q == '"' {
                        escaped = true;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '[' | '{' => {
                        brackets += 1;
                        deepest = deepest.max(indent / 2 + dashes + brackets);
                    }
                    ']' | '}' => brackets = brackets.saturating_sub(1),
                    _ => {}
                },
            }
        }
        // A quote left open at the end of a line is an apostrophe in plain text, usually.
        if quote == Some('\'') {
            quote = None;
        }
        deepest = deepest.max(indent / 2 + dashes + brackets);
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_maps_are_shallow_and_bombs_are_deep() {
        let map =
            "service: a\ndownstream:\n  - {name: db, type: db, skill: postgres, url_env: A_URL}\n";
        assert!(nesting_depth(map) < 8);
        assert!(refuse(map, MAX_MAP_BYTES).is_none());
        assert!(nesting_depth(&"[".repeat(1000)) >= 1000);
        assert!(nesting_depth(&format!("a: {}x", "- ".repeat(500))) < 8);
        assert!(nesting_depth(&format!("{}x", "- ".repeat(500))) >= 500);
        assert!(nesting_depth("a: \"[[[[[[\"\n") < 4);
        assert!(refuse(&"a".repeat(MAX_MAP_BYTES + 1), MAX_MAP_BYTES).is_some());
    }
}
