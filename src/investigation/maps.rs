//! Fetching a service's topology maps from its repository at the failing commit, with
//! the maps they link (`topology:`), so the sweep sees the system as that commit knew it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use crate::github::RepoClient;
use crate::topology::{self, Format};

/// At most this many maps are fetched for one investigation.
const MAX_MAPS: usize = 32;

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
        // so `TopologyGraph::load` reports the problem with its file and line.
        if let Ok(map) = topology::parse_str(&text, format, Path::new(&key)) {
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

/// Writes the maps under `dir` and returns the root map's path there.
pub fn materialize(
    dir: &Path,
    maps: &BTreeMap<String, String>,
    root: &str,
) -> anyhow::Result<PathBuf> {
    for (path, text) in maps {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
    }
    Ok(dir.join(normalize(Path::new(root)).context("topology path")?))
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
            Component::RootDir | Component::Prefix(_) => {}
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
        assert_eq!(
            normalize(Path::new("/topology/a.yaml")),
            Some(PathBuf::from("topology/a.yaml"))
        );
    }
}
