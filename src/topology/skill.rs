//! The skills a node can name. The seed's names (`http-health`, `aws-elasticache`, `aws-sqs`,
//! `aws-lambda`, `postgres`) and ours (`gha`, `ecs`, `cloudwatch`, `redis`, `sqs`, `lambda`,
//! `http`) parse to one `SkillKind`; a name that parses to none gets a did-you-mean from the loader.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The skills a node can name. The seed's names and ours both parse to the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkillKind {
    Gha,
    Ecs,
    Cloudwatch,
    Postgres,
    Redis,
    Sqs,
    Lambda,
    HttpHealth,
}

impl SkillKind {
    pub const ALL: [SkillKind; 8] = [
        SkillKind::Gha,
        SkillKind::Ecs,
        SkillKind::Cloudwatch,
        SkillKind::Postgres,
        SkillKind::Redis,
        SkillKind::Sqs,
        SkillKind::Lambda,
        SkillKind::HttpHealth,
    ];

    /// Every spelling accepted in a map, ours first, then the seed's and aliases.
    pub const NAMES: &[(&'static str, SkillKind)] = &[
        ("gha", SkillKind::Gha),
        ("ecs", SkillKind::Ecs),
        ("cloudwatch", SkillKind::Cloudwatch),
        ("postgres", SkillKind::Postgres),
        ("redis", SkillKind::Redis),
        ("sqs", SkillKind::Sqs),
        ("lambda", SkillKind::Lambda),
        ("http-health", SkillKind::HttpHealth),
        ("http", SkillKind::HttpHealth),
        ("aws-elasticache", SkillKind::Redis),
        ("aws-sqs", SkillKind::Sqs),
        ("aws-lambda", SkillKind::Lambda),
    ];

    /// Reads AWS through the SDK, and so needs AWS credentials.
    pub fn uses_aws(self) -> bool {
        matches!(
            self,
            SkillKind::Ecs | SkillKind::Cloudwatch | SkillKind::Sqs | SkillKind::Lambda
        )
    }

    /// The canonical name, as written back out and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            SkillKind::Gha => "gha",
            SkillKind::Ecs => "ecs",
            SkillKind::Cloudwatch => "cloudwatch",
            SkillKind::Postgres => "postgres",
            SkillKind::Redis => "redis",
            SkillKind::Sqs => "sqs",
            SkillKind::Lambda => "lambda",
            SkillKind::HttpHealth => "http-health",
        }
    }
}

impl fmt::Display for SkillKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error is the list of accepted names, for the did-you-mean.
impl FromStr for SkillKind {
    type Err = UnknownSkillName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        SkillKind::NAMES
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| UnknownSkillName(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSkillName(pub String);

impl fmt::Display for UnknownSkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = SkillKind::NAMES.iter().map(|(n, _)| *n).collect();
        write!(
            f,
            "unknown skill `{}`, expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl Serialize for SkillKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SkillKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_our_skill_names_map_to_one_kind() {
        for (seed, ours) in [
            ("http-health", "http"),
            ("aws-elasticache", "redis"),
            ("aws-sqs", "sqs"),
            ("aws-lambda", "lambda"),
            ("postgres", "postgres"),
        ] {
            assert_eq!(
                seed.parse::<SkillKind>(),
                ours.parse::<SkillKind>(),
                "{seed}"
            );
        }
        assert!("postgress".parse::<SkillKind>().is_err());
        for kind in SkillKind::ALL {
            assert_eq!(kind.as_str().parse::<SkillKind>(), Ok(kind));
        }
    }
}
