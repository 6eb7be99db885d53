//! payments-api's new tasks cannot pull their image. A literal tag in the file goes back to
//! the last one that ran; an image the deploy renders in means the build is at fault.

use fixpoint::diagnose::RootCauseClass;
use fixpoint::harness::plans::PlanKind;

use crate::world::*;

const TASK_DEF: &str = "task-definition.json";
pub const GOOD_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments-api:1.4.2";
pub const BAD_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments-api:1.4.3-rc";

pub fn pull_failed() -> fixpoint::diagnose::Diagnosis {
    diagnosis(
        RootCauseClass::ImagePullFailed,
        SERVICE,
        None,
        &[(
            "ecs:stopped-task/9e2b1d",
            "stopped (TaskFailedToStart; cause: ImagePull): CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments-api:1.4.3-rc: not found",
        )],
    )
}

#[tokio::test]
async fn a_literal_tag_goes_back_to_the_last_good_one() {
    let file = fixture("fargate-task-definition.json");
    let w = World::new(&[(TASK_DEF, &file)])
        .at_head(TASK_DEF, Some(&file.replace(GOOD_IMAGE, BAD_IMAGE)))
        .at_head("src/server.js", Some("// release 1.4.3-rc\n"));
    let p = plan(decide(&w, &pull_failed(), &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RevertImage);
    assert_eq!(
        p.fingerprint,
        format!("infra:image_pull_failed:payments-api/image={GOOD_IMAGE}")
    );
    // The image line alone; the code change of the same commit is left for the image to run.
    let (path, text) = only_file(&p);
    assert_eq!(path, TASK_DEF);
    assert_eq!(text, file);
}

#[tokio::test]
async fn a_rendered_placeholder_means_the_build_is_reverted() {
    let file = fixture("fargate-task-definition.json").replace(GOOD_IMAGE, "<IMAGE>");
    let w = World::new(&[(TASK_DEF, &file), ("Dockerfile", "FROM node:20-slim\n")])
        .at_head("Dockerfile", Some("FROM node:20-slim-typo\n"));
    let p = plan(decide(&w, &pull_failed(), &config(""), &[]).await);
    assert_eq!(p.kind, PlanKind::RevertSinceLastGood);
    assert_eq!(
        p.fingerprint,
        "code:image_pull_failed:payments-api/revert=1111111"
    );
    assert_eq!(edits(&p)[0].path, "Dockerfile");
    assert_eq!(edits(&p)[0].content.as_deref(), Some("FROM node:20-slim\n"));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("`<IMAGE>`, a placeholder")),
        "{:#?}",
        p.notes
    );
}

#[tokio::test]
async fn an_image_that_did_not_change_is_not_pinned_back() {
    // The tag is the one that ran; the registry lost it or the role cannot pull: a revert of
    // what changed (nothing here) cannot help, and the loop says so.
    let w = World::new(&[(TASK_DEF, &fixture("fargate-task-definition.json"))]);
    let why = no_fix(decide(&w, &pull_failed(), &config(""), &[]).await);
    assert!(
        why.contains("is what the service last ran well with too"),
        "{why}"
    );
}
