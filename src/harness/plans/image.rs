//! image_pull_failed: a literal image in the task definition file goes back to the last good
//! one (the file's at the last good commit, else the last good revision's). An image the
//! deploy renders in (`<IMAGE>`, `${IMAGE}`, `{{ image }}`, or no image at all) was built by
//! CI: the build is at fault, and the catalogue's next fix, a revert, takes over.

use super::catalogue::{Attempt, fingerprint, task_definition_plan};
use super::json::Json;
use super::task_definition::{Located, TaskDef, locate};
use super::{PlanKind, PlanRequest, Workspace, short_sha};
use crate::diagnose::ActionKind;

/// An image reference filled in at deploy time, not written in the file.
pub fn is_placeholder(image: &str) -> bool {
    let image = image.trim();
    image.is_empty()
        || image.contains("${")
        || image.contains("{{")
        || (image.contains('<') && image.contains('>'))
}

fn image_of(td: &TaskDef, service: &str) -> Option<String> {
    td.container(td.container_index(service)?)?
        .get("image")
        .and_then(Json::as_str)
        .map(str::to_string)
}

pub(super) async fn plan<W: Workspace>(w: &W, req: &PlanRequest<'_>) -> anyhow::Result<Attempt> {
    let configured = req.config.task_definition.as_deref();
    let mut td = match locate(w, configured, req.head).await? {
        Located::Found(td) => td,
        Located::Invalid(why) => return Ok(Attempt::Skip(why)),
        Located::Absent => {
            return Ok(Attempt::Skip(
                "the image is not pinned back: the repository has no task definition file, so the deploy builds the image; the fix is a revert".into(),
            ));
        }
    };
    let Some(index) = td.container_index(req.service) else {
        return Ok(Attempt::Skip(td.which_container_problem(req.service)));
    };
    let place = td.place();
    let current = image_of(&td, req.service).unwrap_or_default();
    if is_placeholder(&current) {
        return Ok(Attempt::Skip(format!(
            "the image in {place} is `{current}`, a placeholder the deploy fills in: the build made the image that could not be pulled, so the fix is a revert since the last good commit"
        )));
    }
    let mut last_good = None;
    if let Some(good) = w.last_good_commit().await?
        && let Located::Found(old) = locate(w, configured, &good).await?
        && let Some(image) = image_of(&old, req.service).filter(|i| !is_placeholder(i))
    {
        last_good = Some((image, format!("{place} at {}", short_sha(&good))));
    }
    if last_good
        .as_ref()
        .is_none_or(|(image, _)| *image == current)
        && let Some(value) = w.last_good_task_definition().await?
        && let Some(old) = TaskDef::from_api(&value, "", req.service)
        && let Some(image) = image_of(&old, req.service).filter(|i| !is_placeholder(i))
    {
        last_good = Some((image, "the last good task definition revision".into()));
    }
    let Some((image, source)) = last_good.filter(|(image, _)| *image != current) else {
        return Ok(Attempt::Skip(format!(
            "the image is not pinned back: `{current}` is what the service last ran well with too"
        )));
    };
    if let Some(c) = td.container_mut(index) {
        c.set("image", Json::string(&image));
    }
    let node = &req.diagnosis.root_cause.node;
    let summary = format!(
        "point {node} back at the image it last ran with, `{image}` (from {source}), in {place}: `{current}` could not be pulled"
    );
    Ok(Attempt::Plan(task_definition_plan(
        PlanKind::RevertImage,
        fingerprint(ActionKind::Infra, req, &format!("image={image}")),
        summary,
        td,
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rendered_images_are_placeholders() {
        for p in ["<IMAGE>", "${IMAGE_URI}", "{{ image }}", ""] {
            assert!(super::is_placeholder(p), "{p}");
        }
        assert!(!super::is_placeholder(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments:1.4.2"
        ));
    }
}
