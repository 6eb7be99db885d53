//! The `postgres` skill (being written: see the sweep issue).

use futures::future::BoxFuture;

use super::{Observation, Skill, SkillContext};
use crate::topology::{CheckTarget, SkillKind};

pub struct Postgres;

impl Skill for Postgres {
    fn kind(&self) -> SkillKind {
        SkillKind::Postgres
    }

    fn check<'a>(
        &'a self,
        target: &'a CheckTarget,
        _ctx: &'a SkillContext,
    ) -> BoxFuture<'a, anyhow::Result<Observation>> {
        Box::pin(async move { Err(super::wrong_target(self.kind(), target)) })
    }
}
