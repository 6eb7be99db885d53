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
    for node in t.upstream.iter().chain(&t.downstream) {
        if let Some(refused) = node.url.as_deref().and_then(refused_by_default) {
            notes.push(Problem::warning(
                file,
                Some(&node.name),
                format!("`url`: {refused}"),
                "point the node at the service's address in the lower environment; an operator who runs Fixpoint next to its targets can allow the range with FIXPOINT_SWEEP_ALLOW".into(),
            ));
        }
    }
    (error, notes)
}

/// Why a sweep started by a webhook would refuse `url`, when that can be told without DNS:
/// an address in any spelling (`2130706433` and `0177.0.0.1` are 127.0.0.1 once parsed)
/// or `localhost`. A name's addresses are judged when the sweep resolves it.
fn refused_by_default(url: &str) -> Option<String> {
    use std::net::{IpAddr, Ipv4Addr};
    // The URL parser writes an IPv4 host in its dotted form whatever its spelling.
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if bare.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bare.parse::<IpAddr>().ok()?
    };
    crate::outbound::OutboundPolicy::default()
        .check(host, ip)
        .err()
        .map(|refused| refused.to_string())
}
