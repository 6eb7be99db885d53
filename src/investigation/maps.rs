//! Fetching a service's topology maps from its repository at the failing commit, with
//! the maps they link (`topology:`), so the sweep sees the system as that commit knew it.
//! The maps stay in memory (`TopologyGraph::load_fetched`): nothing is written to disk, and
//! a link that leaves the repository is never fetched (the loader names it as an error).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::github::RepoClient;
use crate::topology::{self, Format};

/// At most this many maps are fetched for one investigation.
const MAX_MAPS: usize = 32;
/// Parsing runs off the async runtime; a map the limits let through parses in milliseconds.
const PARSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Repository path → text of every map reachable from `root` (breadth first).
pub async fn fetch(
    client: &RepoClient,
    root: &str,
    git_ref: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut maps = BTreeMap::new();
    let mut queue =
        vec![normalize(Path::new(root)).with_context(|| format!("topology path `{root}`"))?];
    while let Some(path) = queue.pop() {
        let key = path.to_string_lossy().into_owned();
        if maps.contains_key(&key) {
            continue;
        }
        anyhow::ensure!(
            maps.len() < MAX_MAPS,
            "more than {MAX_MAPS} linked topology maps"
        );
        let text = client
            .read_file(&key, git_ref)
            .await?
            .with_context(|| format!("{key} does not exist at {git_ref}"))?;
        let format = if key.ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        };
        // Links are followed from the parsed map; a map that does not parse is still kept,
        // so `TopologyGraph::load_fetched` reports the problem with its file and line.
        let parsed = {
            let (text, key) = (text.clone(), key.clone());
            tokio::task::spawn_blocking(move || topology::parse_str(&text, format, Path::new(&key)))
        };
        if let Ok(Ok(Ok(map))) = tokio::time::timeout(PARSE_TIMEOUT, parsed).await {
            let dir = path.parent().unwrap_or(Path::new(""));
            for node in map.upstream.iter().chain(map.downstream.iter()) {
                if let Some(link) = &node.topology
                    && let Some(next) = normalize(&dir.join(link))
                {
                    queue.push(next);
                }
            }
        }
        maps.insert(key, text);
    }
    Ok(maps)
}

/// A repository-relative path without `..` escaping the repository.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            // Absolute: not fetched; the loader names the link as an error.
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_repository() {
        assert_eq!(
            normalize(Path::new("topology/../topology/a.yaml")),
            Some(PathBuf::from("topology/a.yaml"))
        );
        assert_eq!(normalize(Path::new("../../etc/passwd")), None);
        assert_eq!(normalize(Path::new("/topology/a.yaml")), None);
    }
}
