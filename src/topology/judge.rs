//! What belongs to one map itself, judged once when it is first loaded, however many links
//! name it: an environment that means production (an error), and what makes a map less
//! useful than it could be (warnings).

use std::path::Path;

use super::error::{Problem, TopologyError};
use super::model::{Topology, is_production};

pub(super) fn judge(
    file: &Path,
    t: &Topology,
    link: Option<(&Path, &str)>,
    production_names: &[String],
) -> (Option<TopologyError>, Vec<Problem>) {
    let mut error = None;
    let mut notes = Vec::new();
    match &t.environment {
        Some(env) if is_production(env, production_names) => {
            error = Some(TopologyError::Production {
                file: file.into(),
                environment: env.clone(),
            });
        }
        Some(_) => {}
        None => notes.push(Problem::warning(
            file,
            None,
            "no `environment`: Fixpoint cannot tell this map from production".into(),
            "add `environment: <lower environment>` (e.g. staging)".into(),
        )),
    }
    if t.ecs.is_none() && t.logs.is_none() {
        let message = match link {
            None => "neither `ecs` nor `logs`: the service's own health is not checked at hop 0",
            Some(_) => {
                "neither `ecs` nor `logs`: the sweep reports this service `unknown` where it is linked"
            }
        };
        let fix = "add `ecs: {cluster, service}` and `logs: {group}`";
        notes.push(Problem::warning(file, None, message.into(), fix.into()));
    }
    if let Some((from, node)) = link
        && node != t.service
    {
        notes.push(Problem::warning(
            from,
            Some(node),
            format!(
                "links to {}, which describes `{}`",
                file.display(),
                t.service
            ),
            "name the node after the service its map describes, or fix the link".into(),
        ));
    }
    (error, notes)
}
