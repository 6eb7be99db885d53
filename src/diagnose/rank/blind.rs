//! Knowing when the sweep cannot see. When every network check fails the same way where
//! Fixpoint runs (host names that do not resolve) and nothing on the network answered, no
//! dependency is to blame: the view from here is. The same holds when the AWS checks could
//! not run at all (no credentials). A senior engineer says "I cannot see staging from here"
//! and names the shared cause; so does this.

use super::Ranked;
use super::report;
use crate::diagnose::rules::view::SweepView;
use crate::diagnose::{Diagnosis, Noise};
use crate::skills::{Finding, Status};

/// Skills that reach a node over the network from where Fixpoint runs.
const NETWORK: &[&str] = &["http-health", "postgres", "redis"];
/// Skills that read AWS's APIs.
const AWS: &[&str] = &["ecs", "cloudwatch", "sqs", "lambda"];

/// Lowercased summary and evidence of a finding.
fn text(f: &Finding) -> String {
    let mut t = f.summary.to_lowercase();
    for e in &f.evidence {
        t.push('\n');
        t.push_str(&e.text.to_lowercase());
    }
    t
}

/// How the observer failed to see a node, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blindness {
    /// The host name did not resolve.
    NameResolution,
    /// AWS would not answer: no credentials, or credentials it refuses.
    NoAwsAccess,
}

impl Blindness {
    fn of(f: &Finding) -> Option<Blindness> {
        use crate::diagnose::rules::signals as s;
        if f.status == Status::Healthy {
            return None;
        }
        let t = text(f);
        if NETWORK.contains(&f.skill.as_str()) && s::any(&t, s::NAME_RESOLUTION) {
            return Some(Blindness::NameResolution);
        }
        if AWS.contains(&f.skill.as_str())
            && f.status == Status::Unknown
            && s::any(&t, s::NO_AWS_ACCESS)
        {
            return Some(Blindness::NoAwsAccess);
        }
        None
    }

    fn says(self) -> &'static str {
        match self {
            Blindness::NameResolution => "its host name does not resolve (DNS)",
            Blindness::NoAwsAccess => "AWS refuses to answer (no usable credentials)",
        }
    }
}

/// The diagnosis "cannot see from here", when the sweep is blind; else `None`.
pub(super) fn diagnose(view: &SweepView<'_>, ranked: &[Ranked]) -> Option<Diagnosis> {
    let checks: Vec<(&Finding, Option<Blindness>)> = view
        .findings
        .iter()
        // The failed run is the trigger, read from GitHub: not a view of the environment.
        .filter(|f| f.skill != "gha")
        .map(|f| (f, Blindness::of(f)))
        .collect();
    let network = checks
        .iter()
        .filter(|(f, _)| NETWORK.contains(&f.skill.as_str()));
    let answered = network.clone().filter(|(f, _)| f.status != Status::Unknown);
    let unresolved = answered
        .clone()
        .filter(|(_, b)| *b == Some(Blindness::NameResolution))
        .count();
    let every_network_check_blind = answered.clone().count() == unresolved;
    let mut aws = checks
        .iter()
        .filter(|(f, _)| AWS.contains(&f.skill.as_str()))
        .peekable();
    let aws_blind = aws.peek().is_some() && aws.all(|(f, _)| f.status == Status::Unknown);
    // Something the sweep did see fail, that is not the view failing.
    let seen_failing = checks
        .iter()
        .any(|(f, b)| b.is_none() && matches!(f.status, Status::Down | Status::Degraded));
    let blind = !seen_failing
        && ((unresolved >= 2 && every_network_check_blind)
            || (unresolved >= 1 && every_network_check_blind && aws_blind));
    if !blind {
        return None;
    }

    let service = view.service;
    let no_aws = checks
        .iter()
        .filter(|(_, b)| *b == Some(Blindness::NoAwsAccess))
        .count();
    let aws_part = if aws_blind && no_aws > 0 {
        format!(
            ", and {no_aws} AWS check(s) could not run: AWS refuses to answer (no usable credentials)"
        )
    } else if aws_blind {
        ", and none of the AWS checks could run".to_string()
    } else {
        String::new()
    };
    let summary = format!(
        "cannot see {service}'s environment from here: all {unresolved} network checks fail the same way (host names do not resolve){aws_part}. \
         The shared cause is on Fixpoint's side (its DNS resolver, network path or credentials), not a failure of any one dependency"
    );
    let noise = ranked
        .iter()
        .map(|r| r.c.node.clone())
        .chain(checks.iter().filter(|(_, b)| b.is_some()).map(|(f, _)| f.node.clone()))
        .fold(Vec::<String>::new(), |mut seen, n| {
            if !seen.contains(&n) {
                seen.push(n);
            }
            seen
        })
        .into_iter()
        .map(|node| {
            let how = checks
                .iter()
                .find_map(|(f, b)| b.filter(|_| f.node == node))
                .map_or("it could not be checked", Blindness::says);
            Noise {
                why: format!(
                    "{how}, as for every other node: what fails is the view from where Fixpoint runs, not {node}"
                ),
                node,
            }
        })
        .collect();
    let mut missing = vec![format!(
        "a network path from where Fixpoint runs to {service}'s environment: a DNS resolver that knows its host names (VPN, VPC or resolver settings)"
    )];
    if aws_blind {
        missing.push(
            "AWS credentials for the account (the standard chain: environment, profile, role)"
                .into(),
        );
    }
    missing.extend(report::missing(view));
    let evidence = checks
        .iter()
        .filter(|(_, b)| b.is_some())
        .flat_map(|(f, _)| {
            f.evidence.first().cloned().or_else(|| {
                Some(crate::skills::Evidence::new(
                    format!("{}:{}", f.skill, f.node),
                    f.summary.clone(),
                ))
            })
        })
        .take(8)
        .collect();
    let action = format!(
        "restore Fixpoint's view of {service}'s environment (DNS resolver, network path, AWS credentials), then investigate again; nothing here says a dependency failed"
    );
    Some(report::undecided(
        service, summary, evidence, action, noise, missing,
    ))
}
