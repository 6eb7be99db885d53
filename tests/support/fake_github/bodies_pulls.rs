//! Bodies for pull requests, issues, comments, labels, reactions, check runs and collaborator
//! permissions. The large ones start from GitHub's own example in the OpenAPI description, with
//! every field the fake knows overwritten, so they keep GitHub's full shape.

use serde_json::{Value, json};

use super::super::openapi::OpenApi;
use super::bodies::{minimal_repository, simple_user, stable_id, timestamp};
use super::records::{CheckRun, Comment, Issue, Pull};
use super::state::App;

/// GitHub's example `name` (the first item, for list examples), to be overwritten.
fn example(name: &str) -> Value {
    let value = OpenApi::load()
        .example(name)
        .unwrap_or_else(|| panic!("GitHub's OpenAPI description has no example {name}"));
    match value {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// `template` with each field of `fields` put over it.
fn overlay(mut template: Value, fields: Value) -> Value {
    if let (Some(into), Value::Object(fields)) = (template.as_object_mut(), fields) {
        into.extend(fields);
    }
    template
}

/// The login GitHub shows for what an App did: `slug[bot]`, a `Bot`.
pub(super) fn bot_login(app: &App) -> String {
    format!("{}[bot]", app.slug)
}

/// A user or, for `slug[bot]`, an App's bot user (its URLs escape the brackets, and its page is
/// the App's).
pub(super) fn user(base: &str, login: &str) -> Value {
    let Some(slug) = login.strip_suffix("[bot]") else {
        return simple_user(base, login, "User");
    };
    let mut bot = simple_user(base, &format!("{slug}%5Bbot%5D"), "Bot");
    bot["login"] = json!(login);
    bot["html_url"] = json!(format!("https://github.com/apps/{slug}"));
    bot
}

pub(super) fn label(api: &str, name: &str) -> Value {
    let id = stable_id(name);
    json!({
        "id": id,
        "node_id": format!("LA_{id}"),
        "url": format!("{api}/labels/{}", name.replace(' ', "%20")),
        "name": name,
        "description": null,
        "color": "ededed",
        "default": false,
    })
}

fn team(base: &str, slug: &str) -> Value {
    let id = stable_id(slug);
    overlay(
        example("pull-request")["requested_teams"][0].clone(),
        json!({
            "id": id,
            "node_id": format!("T_{id}"),
            "url": format!("{base}/teams/{id}"),
            "html_url": format!("https://github.com/orgs/acme/teams/{slug}"),
            "name": slug,
            "slug": slug,
            "description": null,
            "members_url": format!("{base}/teams/{id}/members{{/member}}"),
            "repositories_url": format!("{base}/teams/{id}/repos"),
        }),
    )
}

pub(super) fn repository(base: &str, owner: &str, repo: &str, default_branch: &str) -> Value {
    let template = example("pull-request")["head"]["repo"].clone();
    let mut fields = minimal_repository(base, owner, repo);
    fields["default_branch"] = json!(default_branch);
    fields["clone_url"] = json!(format!("https://github.com/{owner}/{repo}.git"));
    fields["git_url"] = json!(format!("git:github.com/{owner}/{repo}.git"));
    fields["ssh_url"] = json!(format!("git@github.com:{owner}/{repo}.git"));
    fields["svn_url"] = json!(format!("https://svn.github.com/{owner}/{repo}"));
    fields["homepage"] = Value::Null;
    fields["mirror_url"] = Value::Null;
    overlay(template, fields)
}

/// Where a pull request's head or base points.
pub(super) struct Side<'a> {
    pub branch: &'a str,
    pub sha: &'a str,
}

/// `pull-request` (`simple`: `pull-request-simple`, as lists and review requests answer).
#[allow(clippy::too_many_arguments)]
pub(super) fn pull_request(
    base: &str,
    owner: &str,
    repo: &str,
    default_branch: &str,
    issue: &Issue,
    pull: &Pull,
    head: Side<'_>,
    base_side: Side<'_>,
    comments: usize,
    simple: bool,
) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}");
    let html = format!("https://github.com/{owner}/{repo}/pull/{}", issue.number);
    let number = issue.number;
    let id = stable_id(&format!("{owner}/{repo}#{number}"));
    let side = |side: &Side<'_>| {
        json!({
            "label": format!("{owner}:{}", side.branch),
            "ref": side.branch,
            "sha": side.sha,
            "user": simple_user(base, owner, "Organization"),
            "repo": repository(base, owner, repo, default_branch),
        })
    };
    let link = |href: String| json!({ "href": href });
    let fields = json!({
        "url": format!("{api}/pulls/{number}"),
        "id": id,
        "node_id": pull_node_id(id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{number}"),
        "commits_url": format!("{api}/pulls/{number}/commits"),
        "review_comments_url": format!("{api}/pulls/{number}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{number}/comments"),
        "statuses_url": format!("{api}/statuses/{}", head.sha),
        "number": number,
        "state": issue.state,
        "locked": false,
        "title": issue.title,
        "user": user(base, &issue.author),
        "body": issue.body,
        "labels": issue.labels.iter().map(|name| label(&api, name)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": timestamp(issue.created_at),
        "updated_at": timestamp(issue.updated_at),
        "closed_at": (issue.state == "closed").then(|| timestamp(issue.updated_at)),
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
    });
    // Two `json!` calls: one would pass the macro recursion limit.
    let fields = overlay(
        fields,
        json!({
            "requested_reviewers": pull.requested_reviewers.iter().map(|login| user(base, login)).collect::<Vec<_>>(),
            "requested_teams": pull.requested_teams.iter().map(|slug| team(base, slug)).collect::<Vec<_>>(),
            "head": side(&head),
            "base": side(&base_side),
            "_links": {
                "self": link(format!("{api}/pulls/{number}")),
                "html": link(html.clone()),
                "issue": link(format!("{api}/issues/{number}")),
                "comments": link(format!("{api}/issues/{number}/comments")),
                "review_comments": link(format!("{api}/pulls/{number}/comments")),
                "review_comment": link(format!("{api}/pulls/comments{{/number}}")),
                "commits": link(format!("{api}/pulls/{number}/commits")),
                "statuses": link(format!("{api}/statuses/{}", head.sha)),
            },
            "author_association": "NONE",
            "auto_merge": null,
            "draft": pull.draft,
        }),
    );
    if simple {
        let template = example("pull-request-simple-items");
        let mut body = overlay(template.clone(), fields);
        if let (Some(body), Some(template)) = (body.as_object_mut(), template.as_object()) {
            body.retain(|key, _| template.contains_key(key));
        }
        return body;
    }
    overlay(
        example("pull-request"),
        overlay(
            fields,
            json!({
                "merged": false,
                "mergeable": null,
                "rebaseable": null,
                "mergeable_state": "unknown",
                "merged_by": null,
                "comments": comments,
                "review_comments": 0,
                "maintainer_can_modify": false,
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
            }),
        ),
    )
}

/// The GraphQL node id of a pull request (what `markPullRequestReadyForReview` takes).
pub(super) fn pull_node_id(id: u64) -> String {
    format!("PR_kwDO{id}")
}

pub(super) fn issue(base: &str, owner: &str, repo: &str, issue: &Issue, comments: usize) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}");
    let number = issue.number;
    let id = stable_id(&format!("{owner}/{repo}#{number}"));
    let kind = if issue.pull.is_some() {
        "pull"
    } else {
        "issues"
    };
    let html = format!("https://github.com/{owner}/{repo}/{kind}/{number}");
    let pull_request = issue.pull.as_ref().map(|_| {
        json!({
            "url": format!("{api}/pulls/{number}"),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "merged_at": null,
        })
    });
    let mut body = overlay(
        example("issue"),
        json!({
            "id": id,
            "node_id": format!("I_kwDO{id}"),
            "url": format!("{api}/issues/{number}"),
            "repository_url": api,
            "labels_url": format!("{api}/issues/{number}/labels{{/name}}"),
            "comments_url": format!("{api}/issues/{number}/comments"),
            "events_url": format!("{api}/issues/{number}/events"),
            "html_url": html,
            "number": number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": user(base, &issue.author),
            "pinned_comment": null,
            "labels": issue.labels.iter().map(|name| label(&api, name)).collect::<Vec<_>>(),
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "locked": false,
            "active_lock_reason": null,
            "comments": comments,
            "closed_at": (issue.state == "closed").then(|| timestamp(issue.updated_at)),
            "created_at": timestamp(issue.created_at),
            "updated_at": timestamp(issue.updated_at),
            "closed_by": null,
            "author_association": "NONE",
            "state_reason": null,
        }),
    );
    match pull_request {
        Some(pull_request) => body["pull_request"] = pull_request,
        None => {
            if let Some(body) = body.as_object_mut() {
                body.remove("pull_request");
            }
        }
    }
    body
}

pub(super) fn comment(base: &str, owner: &str, repo: &str, comment: &Comment) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}");
    let number = comment.issue_number;
    overlay(
        example("issue-comment"),
        json!({
            "id": comment.id,
            "node_id": format!("IC_kwDO{}", comment.id),
            "url": format!("{api}/issues/comments/{}", comment.id),
            "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}#issuecomment-{}", comment.id),
            "body": comment.body,
            "user": user(base, &comment.author),
            "created_at": timestamp(comment.created_at),
            "updated_at": timestamp(comment.updated_at),
            "issue_url": format!("{api}/issues/{number}"),
            "author_association": "NONE",
            "pin": null,
            "minimized": null,
        }),
    )
}

pub(super) fn reaction(base: &str, id: u64, login: &str, content: &str) -> Value {
    overlay(
        example("reaction"),
        json!({
            "id": id,
            "node_id": format!("REA_{id}"),
            "user": user(base, login),
            "content": content,
            "created_at": timestamp(chrono::Utc::now()),
        }),
    )
}

pub(super) fn check_run(base: &str, owner: &str, repo: &str, app: &App, run: &CheckRun) -> Value {
    let api = format!("{base}/repos/{owner}/{repo}");
    overlay(
        example("check-run"),
        json!({
            "id": run.id,
            "head_sha": run.head_sha,
            "node_id": format!("CR_kwDO{}", run.id),
            "external_id": run.external_id,
            "url": format!("{api}/check-runs/{}", run.id),
            "html_url": format!("https://github.com/{owner}/{repo}/runs/{}", run.id),
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": timestamp(run.started_at),
            "completed_at": run.completed_at.map(timestamp),
            "output": {
                "title": run.title,
                "summary": run.summary,
                "text": run.text,
                "annotations_count": 0,
                "annotations_url": format!("{api}/check-runs/{}/annotations", run.id),
            },
            "name": run.name,
            "check_suite": { "id": run.id + 1_000_000 },
            "app": super::bodies::integration(base, app, &app.owner),
            "pull_requests": [],
        }),
    )
}

/// `repository-collaborator-permission`; `role` is `None` for someone who is no collaborator.
pub(super) fn collaborator_permission(
    base: &str,
    login: &str,
    permission: &str,
    role: &str,
) -> Value {
    let mut collaborator = user(base, login);
    collaborator["role_name"] = json!(role);
    collaborator["permissions"] = json!({
        "admin": permission == "admin",
        "maintain": role == "maintain" || permission == "admin",
        "push": matches!(permission, "admin" | "write"),
        "triage": role == "triage" || matches!(permission, "admin" | "write"),
        "pull": permission != "none",
    });
    json!({ "permission": permission, "role_name": role, "user": collaborator })
}
