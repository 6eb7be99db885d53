//! The Git Data API over real git: a fix committed the way the App commits it, refs that refuse
//! to move backwards, and contents read from git at any ref.

use super::*;

fn decode(answer: &Answer) -> String {
    let content = text(answer, "/content").replace('\n', "");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, content)
        .expect("base64 content");
    String::from_utf8(bytes).expect("UTF-8 content")
}

/// Commits `files` (path → content, `None` deletes) on top of `parent`, through the API, as the
/// App commits a fix. Returns the new commit's SHA.
pub(super) async fn commit(
    fake: &FakeGitHub,
    token: &str,
    parent: &str,
    files: &[(&str, Option<&str>)],
) -> String {
    let parent_commit = repo_call(
        fake,
        token,
        "GET",
        &format!("/git/commits/{parent}"),
        "/git/commits/{commit_sha}",
        None,
    )
    .await;
    let entries: Vec<Value> = files
        .iter()
        .map(|(path, content)| match content {
            Some(content) => {
                json!({ "path": path, "mode": "100644", "type": "blob", "content": content })
            }
            None => json!({ "path": path, "mode": "100644", "type": "blob", "sha": null }),
        })
        .collect();
    let tree = repo_call(
        fake,
        token,
        "POST",
        "/git/trees",
        "/git/trees",
        Some(json!({ "base_tree": text(&parent_commit, "/tree/sha"), "tree": entries })),
    )
    .await;
    assert_eq!(tree.status, StatusCode::CREATED, "{:?}", tree.body);
    let made = repo_call(
        fake,
        token,
        "POST",
        "/git/commits",
        "/git/commits",
        Some(json!({ "message": "Raise the API's memory", "tree": text(&tree, "/sha"), "parents": [parent] })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    text(&made, "/sha")
}

#[tokio::test]
async fn a_fix_is_committed_with_blobs_trees_commits_and_a_new_branch() {
    let (fake, token) = writable_fake().await;
    let main = repo_call(
        &fake,
        &token,
        "GET",
        "/git/ref/heads/main",
        "/git/ref/{ref}",
        None,
    )
    .await;
    assert_eq!(main.status, StatusCode::OK);
    let main_sha = text(&main, "/object/sha");
    assert_eq!(Some(main_sha.clone()), fake.branch_sha(REPO, "main"));

    let blob = repo_call(
        &fake,
        &token,
        "POST",
        "/git/blobs",
        "/git/blobs",
        Some(json!({ "content": "eyJtZW1vcnkiOiAxMDI0fQo=", "encoding": "base64" })),
    )
    .await;
    assert_eq!(blob.status, StatusCode::CREATED);
    let blob_sha = text(&blob, "/sha");
    let read = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/git/blobs/{blob_sha}"),
        "/git/blobs/{file_sha}",
        None,
    )
    .await;
    assert_eq!(decode(&read), "{\"memory\": 1024}\n");

    let main_commit = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/git/commits/{main_sha}"),
        "/git/commits/{commit_sha}",
        None,
    )
    .await;
    let tree = repo_call(
        &fake,
        &token,
        "POST",
        "/git/trees",
        "/git/trees",
        Some(json!({
            "base_tree": text(&main_commit, "/tree/sha"),
            "tree": [
                { "path": "deploy/task.json", "mode": "100644", "type": "blob", "sha": blob_sha },
                { "path": "notes/old.txt", "mode": "100644", "type": "blob", "sha": null },
            ],
        })),
    )
    .await;
    assert_eq!(tree.status, StatusCode::CREATED, "{:?}", tree.body);
    let listed = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/git/trees/{}?recursive=1", text(&tree, "/sha")),
        "/git/trees/{tree_sha}",
        None,
    )
    .await;
    let paths: Vec<String> = listed.body.as_ref().unwrap()["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        ["deploy", "deploy/task.json"],
        "the deletion took notes/ away"
    );

    let made = repo_call(
        &fake,
        &token,
        "POST",
        "/git/commits",
        "/git/commits",
        Some(json!({ "message": "Raise the API's memory", "tree": text(&tree, "/sha"), "parents": [main_sha] })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let fix = text(&made, "/sha");
    let verification = &made.body.as_ref().unwrap()["verification"];
    assert_eq!(
        verification["verified"], true,
        "an App's own commit is signed by GitHub"
    );
    assert_eq!(text(&made, "/author/name"), "fixpoint-test[bot]");

    let branch = json!({ "ref": "refs/heads/fixpoint/oom-api", "sha": fix });
    let created = repo_call(
        &fake,
        &token,
        "POST",
        "/git/refs",
        "/git/refs",
        Some(branch.clone()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let again = repo_call(
        &fake,
        &token,
        "POST",
        "/git/refs",
        "/git/refs",
        Some(branch),
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(text(&again, "/message"), "Reference already exists");

    let on_branch = repo_call(
        &fake,
        &token,
        "GET",
        "/contents/deploy/task.json?ref=fixpoint/oom-api",
        "/contents/{path}",
        None,
    )
    .await;
    assert_eq!(decode(&on_branch), "{\"memory\": 1024}\n");
    assert_eq!(
        text(&on_branch, "/sha"),
        blob_sha,
        "contents shows git's blob SHA"
    );
    let on_main = repo_call(
        &fake,
        &token,
        "GET",
        "/contents/deploy/task.json?ref=main",
        "/contents/{path}",
        None,
    )
    .await;
    assert_eq!(decode(&on_main), "{\"memory\": 512}\n");
    let listing = repo_call(
        &fake,
        &token,
        "GET",
        "/contents/deploy?ref=fixpoint/oom-api",
        "/contents/{path}",
        None,
    )
    .await;
    assert_eq!(listing.status, StatusCode::OK);
    assert_eq!(
        (
            text(&listing, "/0/type"),
            text(&listing, "/0/path"),
            text(&listing, "/0/sha")
        ),
        ("file".into(), "deploy/task.json".into(), blob_sha.clone())
    );
    let gone = repo_call(
        &fake,
        &token,
        "GET",
        &format!("/contents/notes/old.txt?ref={fix}"),
        "/contents/{path}",
        None,
    )
    .await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "a ref git knows is read strictly"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn a_branch_refuses_a_non_fast_forward_unless_forced() {
    let (fake, token) = writable_fake().await;
    let main = fake.branch_sha(REPO, "main").unwrap();
    let fix = commit(
        &fake,
        &token,
        &main,
        &[("deploy/task.json", Some("{\"memory\": 1024}\n"))],
    )
    .await;
    let created = repo_call(
        &fake,
        &token,
        "POST",
        "/git/refs",
        "/git/refs",
        Some(json!({ "ref": "refs/heads/fixpoint/oom-api", "sha": fix })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);

    // A second attempt made from main, not from the first fix: moving the branch would drop it.
    let sideways = commit(
        &fake,
        &token,
        &main,
        &[("deploy/task.json", Some("{\"memory\": 2048}\n"))],
    )
    .await;
    let path = "/git/refs/heads/fixpoint/oom-api";
    let template = "/git/refs/{ref}";
    let refused = repo_call(
        &fake,
        &token,
        "PATCH",
        path,
        template,
        Some(json!({ "sha": sideways })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(text(&refused, "/message"), "Update is not a fast forward");
    assert_eq!(fake.branch_sha(REPO, "fixpoint/oom-api"), Some(fix.clone()));

    let onward = commit(&fake, &token, &fix, &[("notes/old.txt", None)]).await;
    let forward = repo_call(
        &fake,
        &token,
        "PATCH",
        path,
        template,
        Some(json!({ "sha": onward })),
    )
    .await;
    assert_eq!(forward.status, StatusCode::OK);
    assert_eq!(text(&forward, "/object/sha"), onward);

    let forced = repo_call(
        &fake,
        &token,
        "PATCH",
        path,
        template,
        Some(json!({ "sha": sideways, "force": true })),
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK);
    assert_eq!(
        fake.file_at(REPO, "fixpoint/oom-api", "deploy/task.json")
            .as_deref(),
        Some(&b"{\"memory\": 2048}\n"[..])
    );

    let missing = repo_call(
        &fake,
        &token,
        "PATCH",
        "/git/refs/heads/nope",
        template,
        Some(json!({ "sha": onward })),
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = repo_call(
        &fake,
        &token,
        "GET",
        "/git/ref/heads/nope",
        "/git/ref/{ref}",
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    fake.assert_honest();
}

#[tokio::test]
async fn writing_without_contents_write_is_forbidden() {
    let (fake, _) = writable_fake().await;
    fake.set_installation_permissions(INSTALLATION, &[("contents", "read"), ("metadata", "read")]);
    let reader = token(&fake).await;
    let refused = repo_call(
        &fake,
        &reader,
        "POST",
        "/git/blobs",
        "/git/blobs",
        Some(json!({ "content": "x" })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(text(&refused, "/message").starts_with("Resource not accessible by integration"));
    fake.assert_honest();
}
