//! Where the maps of one graph come from: files on disk (`topology check`, the CLI, run by
//! a person on their own checkout) or the set fetched from a repository (the server).
//!
//! A map is written by whoever can push to its repository, so from a fetched set a link
//! resolves inside the set, never to a path on the server's disk: absolute links and links
//! that climb past the repository's root are errors that name the link, and a path not in
//! the set is reported as missing without looking anywhere else.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::error::TopologyError;
use super::load::{Format, load_reporting_all, parse_str};
use super::model::Topology;

#[derive(Clone, Copy)]
pub(crate) enum MapSource<'a> {
    Disk,
    /// Repository path → text, as fetched.
    Fetched(&'a BTreeMap<String, String>),
}

/// Why a link is refused whatever the source: it must be relative to the map naming it.
pub(crate) fn link_problem(path: &Path) -> Option<&'static str> {
    let absolute = path.has_root()
        || matches!(path.components().next(), Some(Component::Prefix(_)))
        || path.to_string_lossy().starts_with('\\');
    absolute.then_some(
        "it is an absolute path; write it relative to the map that names it, inside the repository",
    )
}

impl MapSource<'_> {
    /// The key a map is known by (to load it once and to find cycles), or why it cannot
    /// be read.
    pub(crate) fn locate(&self, file: &Path) -> Result<PathBuf, String> {
        match self {
            MapSource::Disk => std::fs::canonicalize(file).map_err(|e| e.to_string()),
            MapSource::Fetched(set) => {
                let inside = file
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !inside {
                    return Err("it leaves the repository; links must stay inside it".to_string());
                }
                let key = file.to_string_lossy();
                if set.contains_key(key.as_ref()) {
                    Ok(file.to_path_buf())
                } else {
                    Err("no such map in the repository at this commit".to_string())
                }
            }
        }
    }

    pub(crate) fn load(&self, file: &Path) -> Result<Topology, Vec<TopologyError>> {
        match self {
            MapSource::Disk => load_reporting_all(file),
            MapSource::Fetched(set) => {
                let format = Format::of(file)
                    .ok_or_else(|| vec![TopologyError::Extension { file: file.into() }])?;
                let text = set.get(file.to_string_lossy().as_ref()).ok_or_else(|| {
                    vec![TopologyError::Read {
                        file: file.into(),
                        linked_from: None,
                        reason: "no such map in the repository at this commit".into(),
                    }]
                })?;
                parse_str(text, format, file)
            }
        }
    }
}

/// `topology/./a/../b.yaml` → `topology/b.yaml`, without touching the disk.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
