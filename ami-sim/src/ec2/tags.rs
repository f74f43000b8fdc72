//! CreateTags and DeleteTags on owned images, snapshots and instances.

use ami_core::model::ResourceId;
use ami_core::{Result, Tags};

use super::images::validate_tags;
use crate::sim::Ctx;
use crate::state::{err, State};

impl State {
    /// Checks the caller owns every resource (and that the new tag count fits).
    fn check_taggable(
        &self,
        cx: &Ctx<'_>,
        resources: &[ResourceId],
        adding: Option<&Tags>,
    ) -> Result<()> {
        if resources.is_empty() {
            return Err(err(
                "MissingParameter",
                "The request must contain the parameter ResourceId",
            ));
        }
        let limit = self.quotas.tags_per_resource;
        for r in resources {
            let existing: &Tags = match r {
                ResourceId::Image(id) => {
                    let rec = self.owned_image(cx, id)?;
                    &rec.image.tags
                }
                ResourceId::Snapshot(id) => match self.snapshots.get(id) {
                    Some(s)
                        if s.snap.region == *cx.region
                            && s.snap.owner == *cx.account
                            && s.visible_at <= cx.now =>
                    {
                        &s.snap.tags
                    }
                    _ => {
                        return Err(err(
                            "InvalidSnapshot.NotFound",
                            format!("The snapshot '{id}' does not exist."),
                        ))
                    }
                },
                ResourceId::Instance(id) => match self.instances.get(id) {
                    Some(i)
                        if i.inst.region == *cx.region
                            && i.inst.owner == *cx.account
                            && i.visible_at <= cx.now =>
                    {
                        &i.inst.tags
                    }
                    _ => {
                        return Err(err(
                            "InvalidInstanceID.NotFound",
                            format!("The instance ID '{id}' does not exist"),
                        ))
                    }
                },
                ResourceId::Volume(id) => {
                    let found = self.instances.values_unordered().any(|i| {
                        i.inst.owner == *cx.account
                            && i.inst.region == *cx.region
                            && i.inst.volumes.iter().any(|v| v.volume_id == *id)
                    });
                    if !found {
                        return Err(err(
                            "InvalidVolume.NotFound",
                            format!("The volume '{id}' does not exist."),
                        ));
                    }
                    continue;
                }
            };
            if let Some(add) = adding {
                let merged = existing
                    .keys()
                    .chain(add.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                if merged > limit {
                    return Err(err(
                        "TagLimitExceeded",
                        format!("Resource {r} would have {merged} tags; the limit is {limit}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn tags_of_mut(&mut self, r: &ResourceId) -> Option<&mut Tags> {
        match r {
            // Tags are not indexed, so a direct change keeps the indexes right.
            ResourceId::Image(id) => self.images.get_mut(id).map(|r| &mut r.image.tags),
            ResourceId::Snapshot(id) => self.snapshots.get_mut(id).map(|s| &mut s.snap.tags),
            ResourceId::Instance(id) => self.instances.get_mut(id).map(|i| &mut i.inst.tags),
            // Volume tags are accepted but not modelled: volumes are not described.
            ResourceId::Volume(_) => None,
        }
    }

    pub(crate) fn create_tags(
        &mut self,
        cx: &Ctx<'_>,
        resources: Vec<ResourceId>,
        tags: Tags,
    ) -> Result<()> {
        validate_tags(&tags, self.quotas.tags_per_resource)?;
        self.check_taggable(cx, &resources, Some(&tags))?;
        for r in &resources {
            if let Some(t) = self.tags_of_mut(r) {
                t.extend(tags.clone());
            }
        }
        Ok(())
    }

    pub(crate) fn delete_tags(
        &mut self,
        cx: &Ctx<'_>,
        resources: Vec<ResourceId>,
        keys: Vec<String>,
    ) -> Result<()> {
        self.check_taggable(cx, &resources, None)?;
        for r in &resources {
            if let Some(t) = self.tags_of_mut(r) {
                for k in &keys {
                    t.remove(k);
                }
            }
        }
        Ok(())
    }
}
