//! RunInstances, DescribeInstances and the instance state machine over virtual time.

use std::time::Duration;

use ami_core::api::{DescribeInstancesRequest, InstanceStateChange, Page, RunInstancesRequest};
use ami_core::model::AttachedVolume;
use ami_core::{ImageState, Instance, InstanceId, InstanceState, Result, StateReason};

use super::describe::{check_filters, matches_any, page_of, tag_filter};
use crate::sim::Ctx;
use crate::state::{err, Event, InstRec, State, TokenRec, VolData};

/// Virtual time from `pending` to `running`.
pub(crate) const BOOT: Duration = Duration::from_secs(15);
/// Virtual time from `stopping` to `stopped`.
pub(crate) const STOP: Duration = Duration::from_secs(30);
/// Virtual time from `shutting-down` to `terminated`.
pub(crate) const SHUTDOWN: Duration = Duration::from_secs(20);

pub(crate) fn image_not_found(id: &impl std::fmt::Display) -> ami_core::Error {
    err(
        "InvalidAMIID.NotFound",
        format!("The image id '[{id}]' does not exist"),
    )
}

fn instances_not_found(ids: &[&InstanceId]) -> ami_core::Error {
    if ids.len() == 1 {
        err(
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{}' does not exist", ids[0]),
        )
    } else {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        err(
            "InvalidInstanceID.NotFound",
            format!("The instance IDs '{}' do not exist", list.join(", ")),
        )
    }
}

impl State {
    /// The caller's instances with these ids, or `InvalidInstanceID.NotFound` naming the
    /// missing ones.
    fn own_instances(&self, cx: &Ctx, ids: &[InstanceId]) -> Result<()> {
        if ids.is_empty() {
            return Err(err(
                "MissingParameter",
                "The request must contain the parameter InstanceId",
            ));
        }
        let missing: Vec<&InstanceId> = ids
            .iter()
            .filter(|id| {
                !self.instances.get(*id).is_some_and(|r| {
                    r.inst.owner == cx.account
                        && r.inst.region == cx.region
                        && r.visible_at <= cx.now
                })
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(instances_not_found(&missing))
        }
    }

    fn transition(
        &mut self,
        id: &InstanceId,
        now: ami_core::Timestamp,
        to: InstanceState,
        then: Option<(Duration, InstanceState)>,
    ) {
        let Some(rec) = self.instances.get_mut(id) else {
            return;
        };
        rec.generation += 1;
        rec.inst.state = to;
        let generation = rec.generation;
        if let Some((after, state)) = then {
            self.schedule(
                now.add(after),
                Event::InstanceTo {
                    id: id.clone(),
                    generation,
                    state,
                    reason: None,
                },
            );
        }
    }

    pub(crate) fn run_instances(
        &mut self,
        cx: &Ctx,
        req: RunInstancesRequest,
    ) -> Result<Vec<Instance>> {
        if req.count == 0 || req.count > 1000 {
            return Err(err(
                "InvalidParameterValue",
                format!(
                    "Value ({}) for parameter count is invalid: launch between 1 and 1000 instances",
                    req.count
                ),
            ));
        }
        for v in &req.extra_volumes {
            if v.kms_key_id.is_some() && !v.encrypted {
                return Err(err(
                    "InvalidParameterDependency",
                    "The parameter KmsKeyId requires the parameter Encrypted to be set.",
                ));
            }
        }
        // AWS: §4 "Idempotency": same token + same parameters returns the original result.
        let token_key = req.client_token.as_ref().map(|t| {
            (
                cx.account.clone(),
                cx.region.clone(),
                "RunInstances",
                t.to_string(),
            )
        });
        let fingerprint = {
            let mut r = req.clone();
            r.client_token = None;
            format!("{r:?}")
        };
        if let Some(k) = &token_key {
            if let Some(t) = self.tokens.get(k) {
                if t.fingerprint != fingerprint {
                    return Err(err(
                        "IdempotentParameterMismatch",
                        format!(
                            "The client token {} was already used with different parameters; \
                             use a new token for a different request",
                            k.3
                        ),
                    ));
                }
                let ids = t.ids.clone();
                return Ok(ids
                    .iter()
                    .filter_map(|i| InstanceId::parse(i).ok())
                    .filter_map(|i| self.instances.get(&i).map(|r| r.inst.clone()))
                    .collect());
            }
        }
        let image = match self.images.get(&req.image_id) {
            Some(r) if r.image.region == cx.region && r.visible_at <= cx.now => r,
            _ => return Err(image_not_found(&req.image_id)),
        };
        if !self.can_launch(image, &cx.account) {
            // AWS: §10 "launch without permission": AuthFailure.
            return Err(err(
                "AuthFailure",
                format!("Not authorized for images: [{}]", req.image_id),
            ));
        }
        if image.image.state != ImageState::Available {
            // AWS: §10 "non-launchable state": InvalidAMIID.Unavailable.
            return Err(err(
                "InvalidAMIID.Unavailable",
                format!(
                    "The image id '[{}]' is not available for launch: it is {}",
                    req.image_id, image.image.state
                ),
            ));
        }
        let image = image.clone();
        if let Some(g) = self.guards.get(&cx.account) {
            if let Err(reason) = g.check(&image.image, cx.now) {
                return Err(err(
                    "UnauthorizedOperation",
                    format!("You are not authorized to perform this operation. {reason}"),
                ));
            }
        }
        let live = self
            .instances
            .values()
            .filter(|r| {
                r.inst.owner == cx.account
                    && r.inst.region == cx.region
                    && r.inst.state != InstanceState::Terminated
            })
            .count();
        if live + req.count as usize > self.quotas.instances {
            return Err(err(
                "InstanceLimitExceeded",
                format!(
                    "You have requested more instances ({}) than your current instance limit of {} allows",
                    live + req.count as usize,
                    self.quotas.instances
                ),
            ));
        }
        // Resolve the keys of extra volumes before creating anything.
        let mut extra_enc = Vec::new();
        for v in &req.extra_volumes {
            let enc = if v.encrypted {
                let id = match &v.kms_key_id {
                    Some(k) => self.resolve_key(&cx.account, &cx.region, k, cx.now)?,
                    None => self.ensure_default_key(&cx.account, &cx.region, cx.now),
                };
                self.encryption_of(&id)
            } else {
                None
            };
            extra_enc.push(enc);
        }
        let mut out = Vec::new();
        for _ in 0..req.count {
            let id = self.new_instance_id();
            let mut volumes = Vec::new();
            let mut data = Vec::new();
            let mut key_ok = true;
            for bd in &image.image.block_devices {
                let enc = match &bd.encryption {
                    None => None,
                    Some(e) => {
                        let key_id = self.key_id_of(e);
                        if !key_id
                            .as_deref()
                            .is_some_and(|k| self.can_use_key_for_ebs(k, &cx.account))
                        {
                            key_ok = false;
                        }
                        if image.image.owner == cx.account {
                            Some(e.clone())
                        } else {
                            // AWS: §3 "Encryption rules": a shared encrypted AMI launches with
                            // volumes encrypted by the launcher's default EBS key.
                            let d = self.ensure_default_key(&cx.account, &cx.region, cx.now);
                            self.encryption_of(&d).or(Some(e.clone()))
                        }
                    }
                };
                let content = bd
                    .snapshot_id
                    .as_ref()
                    .and_then(|s| self.snapshots.get(s))
                    .map(|s| (*s.data).clone())
                    .unwrap_or_default();
                volumes.push(AttachedVolume {
                    device_name: bd.device_name.clone(),
                    volume_id: self.new_volume_id(),
                    size_gib: bd.volume_size_gib,
                    encryption: enc,
                    delete_on_termination: bd.delete_on_termination,
                });
                data.push(VolData {
                    flushed: content,
                    buffered: Default::default(),
                });
            }
            for (v, enc) in req.extra_volumes.iter().zip(&extra_enc) {
                volumes.push(AttachedVolume {
                    device_name: v.device_name.clone(),
                    volume_id: self.new_volume_id(),
                    size_gib: v.size_gib,
                    encryption: enc.clone(),
                    delete_on_termination: true,
                });
                data.push(VolData::default());
            }
            let inst = Instance {
                id: id.clone(),
                region: cx.region.clone(),
                owner: cx.account.clone(),
                image_id: image.image.id.clone(),
                instance_type: req.instance_type.clone(),
                state: InstanceState::Pending,
                state_reason: None,
                launch_time: cx.now,
                volumes,
                tags: req.tags.clone(),
            };
            let (after, state, reason) = if key_ok {
                (BOOT, InstanceState::Running, None)
            } else {
                // AWS: an instance launched from an image whose KMS key the launcher cannot
                // use goes from pending to terminated with `Client.InternalError` (§3
                // "Encryption rules": KMS access is checked at use time).
                (
                    Duration::from_secs(5),
                    InstanceState::Terminated,
                    Some(StateReason {
                        code: "Client.InternalError".into(),
                        message: "Client.InternalError: Client error on launch: the account \
                                  cannot use the KMS key of the image's encrypted snapshots"
                            .into(),
                    }),
                )
            };
            self.instances.insert(
                id.clone(),
                InstRec {
                    inst: inst.clone(),
                    data,
                    product_codes: image.image.product_codes.clone(),
                    architecture: image.image.architecture.clone(),
                    generation: 0,
                    visible_at: cx.now.add(self.lag),
                },
            );
            self.schedule(
                cx.now.add(after),
                Event::InstanceTo {
                    id,
                    generation: 0,
                    state,
                    reason,
                },
            );
            out.push(inst);
        }
        if let Some(r) = self.images.get_mut(&image.image.id) {
            r.image.last_launched_time = Some(cx.now);
        }
        if let Some(k) = token_key {
            self.tokens.insert(
                k,
                TokenRec {
                    fingerprint,
                    ids: out.iter().map(|i| i.id.to_string()).collect(),
                },
            );
        }
        Ok(out)
    }

    pub(crate) fn describe_instances(
        &mut self,
        cx: &Ctx,
        req: DescribeInstancesRequest,
    ) -> Result<Page<Instance>> {
        check_filters(
            &req.filters,
            &[
                "instance-id",
                "image-id",
                "instance-state-name",
                "instance-type",
                "tag-key",
            ],
        )?;
        if !req.instance_ids.is_empty() {
            self.own_instances(cx, &req.instance_ids)?;
        }
        let items: Vec<Instance> = self
            .instances
            .values()
            .filter(|r| {
                r.inst.owner == cx.account && r.inst.region == cx.region && r.visible_at <= cx.now
            })
            .filter(|r| req.instance_ids.is_empty() || req.instance_ids.contains(&r.inst.id))
            .filter(|r| {
                req.filters.iter().all(|f| {
                    let i = &r.inst;
                    match f.name.as_str() {
                        "instance-id" => matches_any(&f.values, i.id.as_str()),
                        "image-id" => matches_any(&f.values, i.image_id.as_str()),
                        "instance-state-name" => matches_any(&f.values, i.state.as_str()),
                        "instance-type" => matches_any(&f.values, &i.instance_type),
                        _ => tag_filter(f, &i.tags),
                    }
                })
            })
            .map(|r| r.inst.clone())
            .collect();
        page_of(items, |i| i.id.to_string(), req.max_results, req.next_token)
    }

    pub(crate) fn stop_instances(
        &mut self,
        cx: &Ctx,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.own_instances(cx, &ids)?;
        for id in &ids {
            let st = self.instances[id].inst.state;
            if matches!(st, InstanceState::ShuttingDown | InstanceState::Terminated) {
                return Err(err(
                    "IncorrectInstanceState",
                    format!(
                        "This instance '{id}' is not in a state from which it can be stopped: it is {st}"
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let previous = self.instances[&id].inst.state;
            if matches!(previous, InstanceState::Running | InstanceState::Pending) {
                if let Some(r) = self.instances.get_mut(&id) {
                    // A clean shutdown flushes the page cache.
                    for d in &mut r.data {
                        d.flush();
                    }
                }
                self.transition(
                    &id,
                    cx.now,
                    InstanceState::Stopping,
                    Some((STOP, InstanceState::Stopped)),
                );
            }
            let current = self.instances[&id].inst.state;
            out.push(InstanceStateChange {
                instance_id: id,
                previous,
                current,
            });
        }
        Ok(out)
    }

    pub(crate) fn start_instances(
        &mut self,
        cx: &Ctx,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.own_instances(cx, &ids)?;
        for id in &ids {
            let st = self.instances[id].inst.state;
            if matches!(
                st,
                InstanceState::Stopping | InstanceState::ShuttingDown | InstanceState::Terminated
            ) {
                return Err(err(
                    "IncorrectInstanceState",
                    format!(
                        "The instance '{id}' is not in a state from which it can be started: it is {st}"
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let previous = self.instances[&id].inst.state;
            if previous == InstanceState::Stopped {
                self.transition(
                    &id,
                    cx.now,
                    InstanceState::Pending,
                    Some((BOOT, InstanceState::Running)),
                );
            }
            let current = self.instances[&id].inst.state;
            out.push(InstanceStateChange {
                instance_id: id,
                previous,
                current,
            });
        }
        Ok(out)
    }

    pub(crate) fn reboot_instances(&mut self, cx: &Ctx, ids: Vec<InstanceId>) -> Result<()> {
        self.own_instances(cx, &ids)?;
        for id in &ids {
            let st = self.instances[id].inst.state;
            if !matches!(st, InstanceState::Running | InstanceState::Pending) {
                return Err(err(
                    "IncorrectInstanceState",
                    format!("The instance '{id}' is not in a state from which it can be rebooted: it is {st}"),
                ));
            }
        }
        for id in &ids {
            if let Some(r) = self.instances.get_mut(id) {
                for d in &mut r.data {
                    d.flush();
                }
            }
        }
        Ok(())
    }

    pub(crate) fn terminate_instances(
        &mut self,
        cx: &Ctx,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.own_instances(cx, &ids)?;
        let mut out = Vec::new();
        for id in ids {
            let previous = self.instances[&id].inst.state;
            if !matches!(
                previous,
                InstanceState::ShuttingDown | InstanceState::Terminated
            ) {
                self.transition(
                    &id,
                    cx.now,
                    InstanceState::ShuttingDown,
                    Some((SHUTDOWN, InstanceState::Terminated)),
                );
            }
            let current = self.instances[&id].inst.state;
            out.push(InstanceStateChange {
                instance_id: id,
                previous,
                current,
            });
        }
        Ok(out)
    }
}
