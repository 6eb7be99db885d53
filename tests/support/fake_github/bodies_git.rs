//! Git Data API bodies (`blob`, `short-blob`, `git-tree`, `git-commit`, `git-ref`), made from
//! what git holds.

use base64::Engine;
use serde_json::{Value, json};

use super::bodies::timestamp;
use super::git::{CommitInfo, Signature, TreeEntry};

fn node_id(kind: &str, sha: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{sha}"))
}

/// `content` as GitHub sends base64: a newline after every 60 characters.
pub(super) fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut content = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        content.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        content.push('\n');
    }
    content
}

pub(super) fn short_blob(api: &str, sha: &str) -> Value {
    json!({ "url": format!("{api}/git/blobs/{sha}"), "sha": sha })
}

pub(super) fn blob(api: &str, sha: &str, bytes: &[u8]) -> Value {
    json!({
        "sha": sha,
        "node_id": node_id("Blob", sha),
        "url": format!("{api}/git/blobs/{sha}"),
        "size": bytes.len(),
        "content": wrapped_base64(bytes),
        "encoding": "base64",
    })
}

pub(super) fn tree(api: &str, sha: &str, entries: &[TreeEntry]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let kind = if entry.kind == "tree" {
                "trees"
            } else {
                "blobs"
            };
            let mut item = json!({
                "path": entry.path,
                "mode": entry.mode,
                "type": entry.kind,
                "sha": entry.sha,
                "url": format!("{api}/git/{kind}/{}", entry.sha),
            });
            if let Some(size) = entry.size {
                item["size"] = json!(size);
            }
            item
        })
        .collect();
    json!({
        "sha": sha,
        "url": format!("{api}/git/trees/{sha}"),
        "tree": entries,
        "truncated": false,
    })
}

fn person(who: &Signature) -> Value {
    json!({ "name": who.name, "email": who.email, "date": timestamp(who.date) })
}

/// A commit's parents, each linked under `commits` (the Git Data or the REST commits API).
fn parents(info: &CommitInfo, commits: &str, html: &str) -> Vec<Value> {
    info.parents
        .iter()
        .map(|sha| {
            json!({
                "sha": sha,
                "url": format!("{commits}/{sha}"),
                "html_url": format!("{html}/commit/{sha}"),
            })
        })
        .collect()
}

/// `verification` of a commit: GitHub's own signature, or none.
fn verification(info: &CommitInfo, signed_by_github: bool) -> Value {
    if signed_by_github {
        json!({
            "verified": true,
            "reason": "valid",
            "signature": "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJ (fake GitHub)\n-----END PGP SIGNATURE-----\n",
            "payload": format!("tree {}\n", info.tree),
            "verified_at": timestamp(info.committer.date),
        })
    } else {
        json!({ "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null })
    }
}

/// The account GitHub links a commit's author or committer to: it knows accounts by their
/// `users.noreply.github.com` address (an App's bot commits with one); any other address is
/// linked to no account here, so `null`.
fn account(base: &str, who: &Signature) -> Value {
    let Some(local) = who.email.strip_suffix("@users.noreply.github.com") else {
        return Value::Null;
    };
    let login = local.split_once('+').map_or(local, |(_, login)| login);
    super::bodies_pulls::user(base, login)
}

/// `commit` (the REST commits API's shape, as compare lists it): the git commit wrapped with
/// the accounts GitHub links it to.
pub(super) fn rest_commit(
    base: &str,
    api: &str,
    html: &str,
    info: &CommitInfo,
    signed_by_github: bool,
) -> Value {
    let sha = &info.sha;
    let parents = parents(info, &format!("{api}/commits"), html);
    json!({
        "url": format!("{api}/commits/{sha}"),
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "html_url": format!("{html}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{api}/git/commits/{sha}"),
            "author": person(&info.author),
            "committer": person(&info.committer),
            "message": info.message,
            "comment_count": 0,
            "tree": { "sha": info.tree, "url": format!("{api}/git/trees/{}", info.tree) },
            "verification": verification(info, signed_by_github),
        },
        "author": account(base, &info.author),
        "committer": account(base, &info.committer),
        "parents": parents,
    })
}

/// `git-commit`; `signed_by_github` for commits an App made without its own author or committer
/// (GitHub signs those, and they show as Verified).
pub(super) fn commit(api: &str, html: &str, info: &CommitInfo, signed_by_github: bool) -> Value {
    let parents = parents(info, &format!("{api}/git/commits"), html);
    let verification = verification(info, signed_by_github);
    json!({
        "sha": info.sha,
        "node_id": node_id("Commit", &info.sha),
        "url": format!("{api}/git/commits/{}", info.sha),
        "html_url": format!("{html}/commit/{}", info.sha),
        "author": person(&info.author),
        "committer": person(&info.committer),
        "tree": { "sha": info.tree, "url": format!("{api}/git/trees/{}", info.tree) },
        "message": info.message,
        "parents": parents,
        "verification": verification,
    })
}

/// `git-ref` for `full_ref` (`refs/heads/main`) pointing at an object of `kind`.
pub(super) fn git_ref(api: &str, full_ref: &str, sha: &str, kind: &str) -> Value {
    let plural = if kind == "tag" { "tags" } else { "commits" };
    json!({
        "ref": full_ref,
        "node_id": node_id("Ref", full_ref),
        "url": format!("{api}/git/{full_ref}"),
        "object": { "type": kind, "sha": sha, "url": format!("{api}/git/{plural}/{sha}") },
    })
}

/// `content-directory`: the entries of a directory at `git_ref`.
pub(super) fn content_directory(
    base: &str,
    owner: &str,
    repo: &str,
    git_ref: &str,
    entries: &[TreeEntry],
    dir: &str,
) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}");
    let items: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let path = if dir.is_empty() {
                entry.path.clone()
            } else {
                format!("{dir}/{}", entry.path)
            };
            let (kind, git_kind) = match (entry.kind.as_str(), entry.mode.as_str()) {
                ("tree", _) => ("dir", "trees"),
                ("commit", _) => ("submodule", "commits"),
                (_, "120000") => ("symlink", "blobs"),
                _ => ("file", "blobs"),
            };
            let url = format!("{api}/contents/{path}?ref={git_ref}");
            let git_url = format!("{api}/git/{git_kind}/{}", entry.sha);
            let html_url = format!(
                "https://github.com/{owner}/{repo}/{}/{git_ref}/{path}",
                if kind == "dir" { "tree" } else { "blob" }
            );
            let download_url = (kind == "file")
                .then(|| format!("{base}/_downloads/raw/{owner}/{repo}/{git_ref}/{path}"));
            json!({
                "type": kind,
                "size": entry.size.unwrap_or(0),
                "name": entry.path,
                "path": path,
                "sha": entry.sha,
                "url": url,
                "git_url": git_url,
                "html_url": html_url,
                "download_url": download_url,
                "_links": { "self": url, "git": git_url, "html": html_url },
            })
        })
        .collect();
    Value::Array(items)
}
