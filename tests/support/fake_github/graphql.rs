//! `POST /graphql`, for the one mutation the REST API lacks: `markPullRequestReadyForReview`.
//! GraphQL is not in the REST description, so the query's shape is checked here, by hand: one
//! mutation, `input: {pullRequestId, clientMutationId?}` as literals or variables, and a selection
//! of fields that exist on the payload. Anything else is a gap in the fake and fails the test.

use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::bodies::stable_id;
use super::bodies_pulls::pull_node_id;
use super::gate::{Shared, json_reply, lock};
use super::request::{Reply, authorization, json_body, refuse};

const MUTATION: &str = "markPullRequestReadyForReview";
const PAYLOAD_FIELDS: [&str; 2] = ["clientMutationId", "pullRequest"];
const PULL_FIELDS: [&str; 6] = ["id", "number", "isDraft", "url", "title", "state"];

#[derive(Debug, PartialEq)]
enum Token {
    Name(String),
    Variable(String),
    Text(String),
    Punct(char),
}

fn tokens(query: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() || c == ',' => {}
            '#' => while chars.next_if(|c| *c != '\n').is_some() {},
            '{' | '}' | '(' | ')' | ':' | '!' | '[' | ']' => out.push(Token::Punct(c)),
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => text.extend(chars.next()),
                        Some(c) => text.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(text));
            }
            '$' | '_' | 'a'..='z' | 'A'..='Z' => {
                let mut name = String::new();
                if c != '$' {
                    name.push(c);
                }
                while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    name.push(c);
                }
                out.push(if c == '$' {
                    Token::Variable(name)
                } else {
                    Token::Name(name)
                });
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<&Token> {
        self.at += 1;
        self.tokens.get(self.at - 1)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(p)) if *p == c => Ok(()),
            other => Err(format!("expected `{c}`, found {other:?}")),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Name(name)) => Ok(name.clone()),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// `{ a b { c } }` → the field names, with their sub-selections.
    fn selection(&mut self) -> Result<Vec<(String, Vec<String>)>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while self.peek() != Some(&Token::Punct('}')) {
            let name = self.name()?;
            let inner = if self.peek() == Some(&Token::Punct('{')) {
                self.selection()?.into_iter().map(|(n, _)| n).collect()
            } else {
                Vec::new()
            };
            fields.push((name, inner));
        }
        self.expect('}')?;
        Ok(fields)
    }
}

/// What the mutation asked for: the pull request's node id and the selected fields.
struct Request {
    pull_request_id: String,
    selection: Vec<(String, Vec<String>)>,
}

fn parse(query: &str, variables: &Value) -> Result<Request, String> {
    let mut p = Parser {
        tokens: tokens(query)?,
        at: 0,
    };
    if p.name()? != "mutation" {
        return Err(format!("the fake serves only the `{MUTATION}` mutation"));
    }
    if let Some(Token::Name(_)) = p.peek() {
        p.next();
    }
    if p.peek() == Some(&Token::Punct('(')) {
        // Variable definitions: `$id: ID!`, checked only for balance.
        while !matches!(p.next(), Some(Token::Punct(')')) | None) {}
    }
    p.expect('{')?;
    let field = p.name()?;
    if field != MUTATION {
        return Err(format!("the fake serves only `{MUTATION}`, not `{field}`"));
    }
    p.expect('(')?;
    if p.name()? != "input" {
        return Err("the mutation takes one argument, `input`".into());
    }
    p.expect(':')?;
    p.expect('{')?;
    let mut pull_request_id = None;
    while p.peek() != Some(&Token::Punct('}')) {
        let key = p.name()?;
        p.expect(':')?;
        let value = match p.next() {
            Some(Token::Text(text)) => text.clone(),
            Some(Token::Variable(name)) => variables[name.as_str()]
                .as_str()
                .ok_or_else(|| format!("variable `${name}` is not given as a string"))?
                .to_string(),
            other => return Err(format!("expected a string or a variable, found {other:?}")),
        };
        match key.as_str() {
            "pullRequestId" => pull_request_id = Some(value),
            "clientMutationId" => {}
            other => {
                return Err(format!(
                    "`{other}` is not a field of MarkPullRequestReadyForReviewInput"
                ));
            }
        }
    }
    p.expect('}')?;
    p.expect(')')?;
    let selection = p.selection()?;
    p.expect('}')?;
    if p.peek().is_some() {
        return Err("one operation per request".into());
    }
    for (name, inner) in &selection {
        if !PAYLOAD_FIELDS.contains(&name.as_str()) {
            return Err(format!(
                "Field '{name}' doesn't exist on type 'MarkPullRequestReadyForReviewPayload'"
            ));
        }
        if let Some(unknown) = inner.iter().find(|f| !PULL_FIELDS.contains(&f.as_str())) {
            return Err(format!(
                "Field '{unknown}' doesn't exist on type 'PullRequest' (the fake knows {PULL_FIELDS:?})"
            ));
        }
    }
    let pull_request_id = pull_request_id.ok_or("input.pullRequestId is required")?;
    Ok(Request {
        pull_request_id,
        selection,
    })
}

pub(super) async fn graphql(
    Extract(shared): Extract<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let request = json_body(&body)?;
    let query = request["query"].as_str().unwrap_or_default();
    let mut state = lock(&shared);
    let parsed = match parse(query, &request["variables"]) {
        Ok(parsed) => parsed,
        Err(problem) => {
            state
                .violations
                .push(format!("POST /graphql: {problem}; query: {query}"));
            return Ok(json_reply(
                200,
                json!({ "errors": [{ "message": problem }] }),
            ));
        }
    };
    // Find the pull request by its node id, then check the token may write to its repository.
    let found = state.repos.iter().find_map(|(full_name, repo)| {
        repo.issues
            .iter()
            .find(|issue| {
                issue.pull.is_some()
                    && pull_node_id(stable_id(&format!("{full_name}#{}", issue.number)))
                        == parsed.pull_request_id
            })
            .map(|issue| (full_name.clone(), issue.number))
    });
    let not_found = json!({
        "data": { MUTATION: null },
        "errors": [{
            "type": "NOT_FOUND",
            "path": [MUTATION],
            "message": format!("Could not resolve to a node with the global id of '{}'.", parsed.pull_request_id),
        }],
    });
    let Some((full_name, number)) = found else {
        return Ok(json_reply(200, not_found));
    };
    let (owner, repo) = full_name
        .split_once('/')
        .expect("repositories are owner/name");
    if let Err(refusal) =
        state.authorize_write(authorization(&headers), owner, repo, "pull_requests")
    {
        if refusal.status == 404 {
            return Ok(json_reply(200, not_found));
        }
        return Err(refuse(refusal));
    }
    let repository = state.repo_mut(owner, repo);
    let issue = repository
        .issues
        .iter_mut()
        .find(|issue| issue.number == number)
        .expect("found above");
    if let Some(pull) = issue.pull.as_mut() {
        pull.draft = false;
    }
    issue.updated_at = chrono::Utc::now();
    let mut payload = Map::new();
    for (name, inner) in &parsed.selection {
        let value = match name.as_str() {
            "clientMutationId" => Value::Null,
            _ => {
                let pull: Map<String, Value> = inner
                    .iter()
                    .map(|field| {
                        let value = match field.as_str() {
                            "id" => json!(parsed.pull_request_id),
                            "number" => json!(number),
                            "isDraft" => json!(false),
                            "url" => json!(format!("https://github.com/{full_name}/pull/{number}")),
                            "title" => json!(issue.title),
                            _ => json!(issue.state.to_uppercase()),
                        };
                        (field.clone(), value)
                    })
                    .collect();
                Value::Object(pull)
            }
        };
        payload.insert(name.clone(), value);
    }
    Ok(json_reply(200, json!({ "data": { MUTATION: payload } })))
}
