//! RunInstances, DescribeInstances and the instance state machine over virtual time.

use std::time::Duration;

use ami_core::api::{DescribeInstancesRequest, InstanceStateChange, Page, RunInstancesRequest};
use ami_core::lifecycle::{instance_transition, CreateImageEffect, InstanceEvent};
use ami_core::model::{AttachedVolume, Encryption};
use ami_core::rules::{self, LaunchContext};
use ami_core::{Instance, InstanceId, InstanceState, Result};

use super::describe::{
    check_filters, matches_any, page_in_order, page_of_records, tag_filter, Paging,
};
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
    fn own_instances(&self, cx: &Ctx<'_>, ids: &[InstanceId]) -> Result<()> {
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
                    r.inst.owner == *cx.account
                        && r.inst.region == *cx.region
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

    /// The reboot CreateImage performs on a running instance: it passes through stopping,
    /// stopped and pending, and is running again about a minute later.
    pub(crate) fn reboot_for_image(&mut self, id: &InstanceId, now: ami_core::Timestamp) {
        let Some(rec) = self.instances.get_mut(id) else {
            return;
        };
        rec.generation += 1;
        let generation = rec.generation;
        // AWS: §1 "NoReboot=false": EC2 shuts the instance down and boots it again
        // (lifecycle::CreateImageEffect::REBOOT_STATES).
        let steps = CreateImageEffect::REBOOT_STATES;
        rec.inst.state = steps[0];
        for (i, state) in steps.iter().enumerate().skip(1) {
            self.schedule(
                now.add(Duration::from_secs(15 * i as u64)),
                Event::InstanceTo {
                    id: id.clone(),
                    generation,
                    state: *state,
                    reason: None,
                },
            );
        }
    }

    pub(crate) fn run_instances(
        &mut self,
        cx: &Ctx<'_>,
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
        // Only idempotent requests need the fingerprint (Debug of the request sans token).
        let fingerprint = if token_key.is_some() {
            let mut r = req.clone();
            r.client_token = None;
            format!("{r:?}")
        } else {
            String::new()
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
            Some(r) if r.image.region == *cx.region && r.visible_at <= cx.now => r,
            _ => return Err(image_not_found(&req.image_id)),
        };
        let perms = Self::perms_of(image);
        let membership = self.membership(cx.account);
        let launch = LaunchContext {
            caller: cx.account,
            membership,
            image: &image.image,
            permissions: perms,
        };
        // AWS: §10 "launch without permission" (AuthFailure) and "non-launchable state"
        // (InvalidAMIID.Unavailable).
        rules::check_launch(&launch)?;
        // AWS: §3 "Encryption rules": KMS access is checked when the image is used; an
        // instance whose keys cannot be used terminates right after launch.
        // A key that no longer exists (deleted once its deletion window ended) fails the
        // launch the same way, with NotFoundException.
        let mut views = Vec::new();
        let mut deleted: Option<String> = None;
        for e in image.image.kms_keys() {
            match self.key_id_of(e).and_then(|id| self.key_view(&id)) {
                Some(v) => views.push(v),
                None => {
                    deleted.get_or_insert_with(|| e.key.to_string());
                }
            }
        }
        let key_failure = match deleted {
            Some(key) => Some(rules::launch_failure_reason(&Self::key_not_found(&key))),
            None => rules::check_launch_keys(&launch, &views)
                .err()
                .map(|e| rules::launch_failure_reason(&e)),
        };
        if let Some(g) = self.guards.get(cx.account) {
            if let Err(reason) = g.check(&image.image, cx.now) {
                return Err(err(
                    "UnauthorizedOperation",
                    format!("You are not authorized to perform this operation. {reason}"),
                ));
            }
        }
        // Only what the instances take from the image, not a copy of its whole record.
        let owned = image.image.owner == *cx.account;
        let (image_id, block_devices, product_codes, architecture) = (
            image.image.id.clone(),
            image.image.block_devices.clone(),
            image.image.product_codes.clone(),
            image.image.architecture.clone(),
        );
        let live = self.count_in(&self.index.live_instances, cx.account, cx.region);
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
        let mut extra_enc = Vec::with_capacity(req.extra_volumes.len());
        for v in &req.extra_volumes {
            let enc = if v.encrypted {
                let id = match &v.kms_key_id {
                    Some(k) => self.resolve_key(cx.account, cx.region, k, cx.now)?,
                    None => self.ensure_default_key(cx.account, cx.region, cx.now),
                };
                self.encryption_of(&id)
            } else {
                None
            };
            extra_enc.push(enc);
        }
        // Launch-time encryption of the image's own devices: every named device must be one
        // of the image's, and its key is resolved before anything is created.
        // AWS: §3 "Encryption rules": `Encrypted=true` on a mapping of the image's device
        // encrypts its volume (under `KmsKeyId`, else the default EBS key); an encrypted
        // snapshot's volume is re-encrypted under the named key.
        let mut launch_enc: Vec<Option<Encryption>> = vec![None; block_devices.len()];
        for ev in &req.encrypt_volumes {
            let Some(pos) = block_devices
                .iter()
                .position(|bd| bd.device_name == ev.device_name)
            else {
                let devices: Vec<&str> = block_devices
                    .iter()
                    .map(|bd| bd.device_name.as_str())
                    .collect();
                return Err(err(
                    "InvalidBlockDeviceMapping",
                    format!(
                        "The device {} is not a device of image {image_id} (its devices: {}); name one of them, or add a new volume with an extra volume",
                        ev.device_name,
                        devices.join(", ")
                    ),
                ));
            };
            let id = match &ev.kms_key_id {
                Some(k) => self.resolve_key(cx.account, cx.region, k, cx.now)?,
                None => self.ensure_default_key(cx.account, cx.region, cx.now),
            };
            launch_enc[pos] = self.encryption_of(&id);
        }
        // Sized up front: no vector grows while the instances are made.
        let mut out = Vec::with_capacity(req.count as usize);
        let per_instance = block_devices.len() + req.extra_volumes.len();
        for _ in 0..req.count {
            let id = self.new_instance_id();
            let mut volumes = Vec::with_capacity(per_instance);
            let mut data = Vec::with_capacity(per_instance);
            for (bd, at_launch) in block_devices.iter().zip(&launch_enc) {
                let enc = match &bd.encryption {
                    _ if at_launch.is_some() => at_launch.clone(),
                    None => None,
                    Some(e) => {
                        if owned {
                            Some(e.clone())
                        } else {
                            // AWS: §3 "Encryption rules": a shared encrypted AMI launches with
                            // volumes encrypted by the launcher's default EBS key.
                            let d = self.ensure_default_key(cx.account, cx.region, cx.now);
                            self.encryption_of(&d).or(Some(e.clone()))
                        }
                    }
                };
                let content = bd
                    .snapshot_id
                    .as_ref()
                    .and_then(|s| self.snapshots.get(s))
                    .map(|s| s.data.clone())
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
                image_id: image_id.clone(),
                instance_type: req.instance_type.clone(),
                state: InstanceState::Pending,
                state_reason: None,
                launch_time: cx.now,
                volumes,
                // AWS: §5 "Product codes": an instance carries its image's product codes.
                product_codes: product_codes.clone(),
                tags: req.tags.clone(),
            };
            let (after, state, reason) = match &key_failure {
                None => (BOOT, InstanceState::Running, None),
                Some(reason) => (
                    Duration::from_secs(5),
                    InstanceState::Terminated,
                    Some(reason.clone()),
                ),
            };
            self.instances.insert(
                id.clone(),
                Box::new(InstRec {
                    inst: inst.clone(),
                    data,
                    architecture: architecture.clone(),
                    generation: 0,
                    visible_at: cx.now.add(self.lag),
                }),
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
        // Not through `with_image`: the launch time is in no index.
        if let Some(r) = self.images.get_mut(&image_id) {
            r.image.last_launched_time = Some(cx.now);
        }
        let key = self.scope(cx.account, cx.region);
        *self.index.live_instances.entry(key).or_default() += out.len();
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
        cx: &Ctx<'_>,
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
        let paging = Paging::of(req.max_results, req.next_token.clone())?;
        let listing = req.instance_ids.is_empty();
        if listing {
            self.instances.prepare_order();
        }
        let keep = |r: &InstRec| {
            let i = &r.inst;
            i.owner == *cx.account
                && i.region == *cx.region
                && r.visible_at <= cx.now
                && req.filters.iter().all(|f| match f.name.as_str() {
                    "instance-id" => matches_any(&f.values, i.id.as_str()),
                    "image-id" => matches_any(&f.values, i.image_id.as_str()),
                    "instance-state-name" => matches_any(&f.values, i.state.as_str()),
                    "instance-type" => matches_any(&f.values, &i.instance_type),
                    _ => tag_filter(f, &i.tags),
                })
        };
        if listing {
            return Ok(page_in_order(
                self.instances
                    .ordered_after(paging.after.as_deref())
                    .map(|b| &**b),
                keep,
                |r| r.inst.id.as_str(),
                |r| r.inst.clone(),
                paging.limit,
            ));
        }
        // Named instances are looked up, not searched for among all of them.
        let items: Vec<&InstRec> = self
            .instances
            .selected(&req.instance_ids)
            .map(|b| &**b)
            .filter(|r| keep(r))
            .collect();
        Ok(page_of_records(
            items,
            |r| r.inst.id.clone(),
            |r| r.inst.clone(),
            paging,
        ))
    }

    /// Applies a Start/Stop/Reboot/Terminate call to every instance, all or nothing.
    fn instance_call(
        &mut self,
        cx: &Ctx<'_>,
        ids: Vec<InstanceId>,
        event: InstanceEvent,
    ) -> Result<Vec<InstanceStateChange>> {
        self.own_instances(cx, &ids)?;
        let mut plan = Vec::new();
        for id in &ids {
            let previous = self.instances.get(id).map(|r| r.inst.state);
            let Some(previous) = previous else {
                return Err(instances_not_found(&[id]));
            };
            let next = instance_transition(id, previous, event)?;
            plan.push((id.clone(), previous, next));
        }
        let mut out = Vec::new();
        for (id, previous, next) in plan {
            if matches!(event, InstanceEvent::Stop | InstanceEvent::Reboot) {
                if let Some(r) = self.instances.get_mut(&id) {
                    // A clean shutdown or reboot flushes the page cache to the volumes.
                    for d in &mut r.data {
                        d.flush();
                    }
                }
            }
            if next != previous {
                let then = match next {
                    InstanceState::Pending => Some((BOOT, InstanceState::Running)),
                    InstanceState::Stopping => Some((STOP, InstanceState::Stopped)),
                    InstanceState::ShuttingDown => Some((SHUTDOWN, InstanceState::Terminated)),
                    _ => None,
                };
                self.transition(&id, cx.now, next, then);
            }
            out.push(InstanceStateChange {
                instance_id: id,
                previous,
                current: next,
            });
        }
        Ok(out)
    }

    pub(crate) fn stop_instances(
        &mut self,
        cx: &Ctx<'_>,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.instance_call(cx, ids, InstanceEvent::Stop)
    }

    pub(crate) fn start_instances(
        &mut self,
        cx: &Ctx<'_>,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.instance_call(cx, ids, InstanceEvent::Start)
    }

    pub(crate) fn reboot_instances(&mut self, cx: &Ctx<'_>, ids: Vec<InstanceId>) -> Result<()> {
        self.instance_call(cx, ids, InstanceEvent::Reboot)
            .map(|_| ())
    }

    pub(crate) fn terminate_instances(
        &mut self,
        cx: &Ctx<'_>,
        ids: Vec<InstanceId>,
    ) -> Result<Vec<InstanceStateChange>> {
        self.instance_call(cx, ids, InstanceEvent::Terminate)
    }
}
