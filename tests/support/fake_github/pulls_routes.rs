//! Pull requests: create (draft or not), get, list by `head`, update, request reviewers; and the
//! GraphQL mutation that marks a draft ready for review. Writes need `pull_requests: write`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::Value;

use super::bodies_pulls::{self, Side, bot_login};
use super::gate::{Shared, json_reply, lock};
use super::records::{Issue, Pull};
use super::request::{
    Reply, authorization, invalid, json_body, not_found, number, reader, refuse, writer,
};
use super::state::{Refusal, State};

pub(super) fn router() -> Router<Shared> {
    let pulls = "/repos/{owner}/{repo}/pulls";
    Router::new()
        .route(pulls, post(create_pull).get(list_pulls))
        .route(
            &format!("{pulls}/{{pull_number}}"),
            get(get_pull).patch(update_pull),
        )
        .route(
            &format!("{pulls}/{{pull_number}}/requested_reviewers"),
            post(request_reviewers),
        )
        .route("/graphql", post(super::graphql::graphql))
}

fn unprocessable(message: impl Into<String>) -> Response {
    refuse(Refusal::new(422, message))
}

/// A pull request's body as GitHub would show it now: the head SHA is wherever its branch is.
pub(super) fn pull_body(
    state: &State,
    owner: &str,
    repo: &str,
    issue: &Issue,
    simple: bool,
) -> Value {
    let full_name = format!("{owner}/{repo}").to_lowercase();
    let repository = &state.repos[&full_name];
    let pull = issue.pull.as_ref().expect("a pull request");
    let sha = |branch: &str| {
        repository
            .git
            .ref_target(&format!("refs/heads/{branch}"))
            .unwrap_or_default()
    };
    let (head_sha, base_sha) = (sha(&pull.head), sha(&pull.base));
    let comments = repository
        .comments
        .iter()
        .filter(|c| c.issue_number == issue.number)
        .count();
    bodies_pulls::pull_request(
        &state.base_url,
        owner,
        repo,
        &repository.default_branch,
        issue,
        pull,
        Side {
            branch: &pull.head,
            sha: &head_sha,
        },
        Side {
            branch: &pull.base,
            sha: &base_sha,
        },
        comments,
        simple,
    )
}

async fn create_pull(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "pull_requests")?;
    let request = json_body(&body)?;
    let title = request["title"].as_str().ok_or_else(|| invalid("title"))?;
    let head = request["head"].as_str().ok_or_else(|| invalid("head"))?;
    let base = request["base"].as_str().ok_or_else(|| invalid("base"))?;
    let draft = request["draft"].as_bool().unwrap_or(false);
    // `head` may be `owner:branch`; the fake has no forks.
    let head = head
        .split_once(':')
        .map_or(head, |(_, branch)| branch)
        .to_string();
    let author = bot_login(&state.app);
    let repository = state.repo_mut(&owner, &repo);
    if draft && repository.refuse_drafts {
        return Err(unprocessable(
            "Draft pull requests are not supported in this repository.",
        ));
    }
    let tip = |branch: &str| repository.git.ref_target(&format!("refs/heads/{branch}"));
    let head_sha = tip(&head).ok_or_else(|| {
        unprocessable(format!("Validation Failed: head `{head}` is not a branch"))
    })?;
    let base_sha = tip(base).ok_or_else(|| {
        unprocessable(format!("Validation Failed: base `{base}` is not a branch"))
    })?;
    if repository.git.is_ancestor(&head_sha, &base_sha) {
        return Err(unprocessable(format!(
            "No commits between {base} and {head}"
        )));
    }
    let open = repository.issues.iter().any(|issue| {
        issue.state == "open" && issue.pull.as_ref().is_some_and(|pull| pull.head == head)
    });
    if open {
        return Err(unprocessable(format!(
            "A pull request already exists for {owner}:{head}."
        )));
    }
    let now = Utc::now();
    let issue = Issue {
        number: repository.next_number(),
        title: title.to_string(),
        body: request["body"].as_str().map(str::to_string),
        state: "open".into(),
        labels: Vec::new(),
        author,
        created_at: now,
        updated_at: now,
        pull: Some(Pull {
            head,
            base: base.to_string(),
            draft,
            requested_reviewers: Vec::new(),
            requested_teams: Vec::new(),
        }),
    };
    repository.issues.push(issue.clone());
    Ok(json_reply(
        201,
        pull_body(&state, &owner, &repo, &issue, false),
    ))
}

/// The pull request `number` of `owner/repo` (an issue with that number is not one: 404).
#[allow(clippy::result_large_err)]
fn find_pull<'a>(
    state: &'a mut State,
    owner: &str,
    repo: &str,
    number: u64,
) -> Result<&'a mut Issue, Response> {
    state
        .repo_mut(owner, repo)
        .issues
        .iter_mut()
        .find(|issue| issue.number == number && issue.pull.is_some())
        .ok_or_else(not_found)
}

async fn get_pull(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, pull_number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let issue = find_pull(&mut state, &owner, &repo, number(&pull_number)?)?.clone();
    Ok(json_reply(
        200,
        pull_body(&state, &owner, &repo, &issue, false),
    ))
}

async fn list_pulls(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let mut state = reader(&shared, &headers, &owner, &repo)?;
    let wanted_state = query.get("state").map_or("open", String::as_str);
    // `head` is `owner:branch`; GitHub ignores a `head` without the owner.
    let head = query
        .get("head")
        .and_then(|head| head.split_once(':'))
        .filter(|(head_owner, _)| head_owner.eq_ignore_ascii_case(&owner))
        .map(|(_, branch)| branch.to_string());
    let base = query.get("base").cloned();
    let (per_page, _) = super::request::paging(&query);
    let mut pulls: Vec<Issue> = state
        .repo_mut(&owner, &repo)
        .issues
        .iter()
        .filter(|issue| {
            let Some(pull) = &issue.pull else {
                return false;
            };
            (wanted_state == "all" || issue.state == wanted_state)
                && head.as_ref().is_none_or(|head| pull.head == *head)
                && base.as_ref().is_none_or(|base| pull.base == *base)
        })
        .cloned()
        .collect();
    // Newest first, as GitHub lists them by default.
    pulls.sort_by_key(|issue| std::cmp::Reverse(issue.number));
    let bodies: Vec<Value> = pulls
        .iter()
        .take(per_page)
        .map(|issue| pull_body(&state, &owner, &repo, issue, true))
        .collect();
    Ok(json_reply(200, Value::Array(bodies)))
}

async fn update_pull(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, pull_number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "pull_requests")?;
    let request = json_body(&body)?;
    let new_state = match request["state"].as_str() {
        None => None,
        Some(value @ ("open" | "closed")) => Some(value.to_string()),
        Some(_) => return Err(invalid("state")),
    };
    let issue = find_pull(&mut state, &owner, &repo, number(&pull_number)?)?;
    if let Some(title) = request["title"].as_str() {
        issue.title = title.to_string();
    }
    if let Some(body) = request.get("body") {
        issue.body = body.as_str().map(str::to_string);
    }
    if let Some(new_state) = new_state {
        issue.state = new_state;
    }
    if let (Some(base), Some(pull)) = (request["base"].as_str(), issue.pull.as_mut()) {
        pull.base = base.to_string();
    }
    issue.updated_at = Utc::now();
    let issue = issue.clone();
    Ok(json_reply(
        200,
        pull_body(&state, &owner, &repo, &issue, false),
    ))
}

async fn request_reviewers(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, pull_number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut state = writer(&shared, &headers, &owner, &repo, "pull_requests")?;
    let request = json_body(&body)?;
    #[allow(clippy::result_large_err)]
    let list = |field: &str| -> Result<Vec<String>, Response> {
        match &request[field] {
            Value::Null => Ok(Vec::new()),
            value => serde_json::from_value(value.clone()).map_err(|_| invalid(field)),
        }
    };
    let (reviewers, teams) = (list("reviewers")?, list("team_reviewers")?);
    let collaborators = state.repo_mut(&owner, &repo).collaborators.clone();
    let outsider = reviewers.iter().find(|login| {
        collaborators
            .get(&login.to_lowercase())
            .is_none_or(|(permission, _)| permission == "none")
    });
    if let Some(login) = outsider {
        return Err(unprocessable(format!(
            "Reviews may only be requested from collaborators. One or more of the users or teams \
             you specified is not a collaborator of the {owner}/{repo} repository ({login}; tests \
             make collaborators with `set_collaborator_permission`)."
        )));
    }
    let issue = find_pull(&mut state, &owner, &repo, number(&pull_number)?)?;
    let pull = issue.pull.as_mut().expect("a pull request");
    for login in reviewers {
        if !pull.requested_reviewers.contains(&login) {
            pull.requested_reviewers.push(login);
        }
    }
    for team in teams {
        if !pull.requested_teams.contains(&team) {
            pull.requested_teams.push(team);
        }
    }
    let issue = issue.clone();
    Ok(json_reply(
        201,
        pull_body(&state, &owner, &repo, &issue, true),
    ))
}
