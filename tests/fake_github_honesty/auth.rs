//! App JWTs and installation tokens, held to GitHub's rules.

use super::*;

#[tokio::test]
async fn app_jwts_github_would_refuse_get_401_and_are_recorded() {
    let fake = FakeGitHub::start().await;
    let pem = fake.private_key_pem().to_string();
    let id = fake.app_id();
    let stranger = fake_github::generate_rsa_key_pair();
    let cases = [
        (
            "expired",
            app_jwt(&pem, json!(id), -700, 600),
            "'Expiration time' claim ('exp') must be",
        ),
        (
            "wrong key",
            app_jwt(&stranger.private_pem, json!(id), -60, 600),
            "could not be decoded",
        ),
        (
            "issued in the future",
            app_jwt(&pem, json!(id), 120, 300),
            "'Issued at' claim ('iat')",
        ),
        (
            "lives over 10 minutes",
            app_jwt(&pem, json!(id), -60, 900),
            "too far in the future",
        ),
        (
            "another App",
            app_jwt(&pem, json!(id + 1), -60, 600),
            "'Issuer' claim ('iss')",
        ),
        (
            "not a JWT",
            "abc.def.ghi".to_string(),
            "could not be decoded",
        ),
    ];
    for (incident, jwt, message) in &cases {
        let answer = call(
            "GET",
            format!("{}/app", fake.url()),
            Some(format!("Bearer {jwt}")),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{incident}");
        let body = answer.body.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{incident}: {body}"
        );
        assert!(body["documentation_url"].is_string(), "{incident}");
    }
    let anonymous = call("GET", format!("{}/app", fake.url()), None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        fake.url()
    );
    let expired = Some(format!("Bearer {}", cases[0].1));
    assert_eq!(
        call("POST", url, expired, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // `iss` as a string is fine too.
    let string_iss = app_jwt(&pem, json!(id.to_string()), -60, 600);
    let ok = call(
        "GET",
        format!("{}/app", fake.url()),
        Some(format!("Bearer {string_iss}")),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);

    let jwts = fake.jwts();
    assert_eq!(jwts.len(), cases.len() + 2);
    assert_eq!(jwts.iter().filter(|jwt| jwt.rejection.is_none()).count(), 1);
    assert_eq!(
        jwts[1].claims["iss"],
        json!(id),
        "claims are kept even when the signature is wrong"
    );
    fake.assert_honest();
}

#[tokio::test]
async fn installation_tokens_are_narrowed_revocable_and_expire() {
    let fake = fake_with_failed_deploy().await;
    fake.add_workflow_run("acme/web", WorkflowRun::new(77, "CI"));
    let narrowed = mint(&fake, json!({ "repositories": ["api"] }))
        .await
        .body
        .unwrap();
    let narrowed = narrowed["token"].as_str().unwrap().to_string();
    let run = |repo: &str, id: u64| format!("{}/repos/acme/{repo}/actions/runs/{id}", fake.url());
    let auth = Some(format!("token {narrowed}"));
    assert_eq!(
        call("GET", run("api", RUN), auth.clone(), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call("GET", run("web", 77), auth.clone(), None).await.status,
        StatusCode::NOT_FOUND
    );
    let other_owner = format!("{}/repos/octocat/api/actions/runs/{RUN}", fake.url());
    assert_eq!(
        call("GET", other_owner, auth.clone(), None).await.status,
        StatusCode::NOT_FOUND
    );

    fake.revoke_token(&narrowed);
    let revoked = call("GET", run("api", RUN), auth, None).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.body.unwrap()["message"], "Bad credentials");

    fake.set_token_lifetime(Duration::ZERO);
    let stale = token(&fake).await;
    let expired = call(
        "GET",
        run("api", RUN),
        Some(format!("Bearer {stale}")),
        None,
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    fake.set_token_lifetime(Duration::from_secs(3600));
    let fresh = token(&fake).await;
    assert_eq!(
        call("GET", run("web", 77), Some(format!("token {fresh}")), None)
            .await
            .status,
        StatusCode::OK
    );

    let outside = mint(&fake, json!({ "repositories": ["secret"] })).await;
    assert_eq!(outside.status, StatusCode::UNPROCESSABLE_ENTITY);
    let too_much = mint(&fake, json!({ "permissions": { "actions": "write" } })).await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    let url = format!("{}/app/installations/999/access_tokens", fake.url());
    let unknown = call(
        "POST",
        url,
        Some(format!("Bearer {}", good_jwt(&fake))),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(fake.token_mints().len(), 3);
    fake.assert_honest();
}
