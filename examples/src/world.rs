//! The backend a story runs on, and the accounts and Regions it is told with.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use ami_core::api::{CreateKeyRequest, Owner, RunInstancesRequest};
use ami_core::ops::govern::ApprovalPolicy;
use ami_core::ops::pipeline::ParentSelector;
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{
    AccountId, Connector, Ec2, Error, ImageId, InstanceId, InstanceState, Kms, KmsKeyRef,
    OwnerAlias, Region, Result,
};
use ami_sim::{Durability, Sim};

use crate::args::Target;
use crate::retry::retry;
use crate::timeline::Timeline;

/// The accounts and Regions of a story: who is who, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The accounts, by role name, the owner first.
    pub accounts: Vec<(String, AccountId)>,
    /// The Regions, the home Region first.
    pub regions: Vec<Region>,
}

impl Cast {
    /// A cast from `(role name, account id)` pairs (the owner first) and Regions (the home
    /// Region first). Errors name the bad id.
    pub fn new(accounts: &[(&str, &str)], regions: &[&str]) -> Result<Cast> {
        if accounts.is_empty() || regions.is_empty() {
            return Err(Error::from_code(
                "InvalidParameterValue",
                "a cast needs at least one account (the owner) and one Region (the home Region)",
            ));
        }
        Ok(Cast {
            accounts: accounts
                .iter()
                .map(|(n, a)| Ok(((*n).to_owned(), AccountId::parse(a)?)))
                .collect::<Result<_>>()?,
            regions: regions
                .iter()
                .map(|r| Ok(Region::parse(r)?))
                .collect::<Result<_>>()?,
        })
    }

    /// The account playing role `i` (0 is the owner; past the end, the last one).
    pub fn account(&self, i: usize) -> &AccountId {
        &self.accounts[i.min(self.accounts.len().saturating_sub(1))].1
    }

    /// The Region `i` (0 is the home Region; past the end, the last one).
    pub fn region(&self, i: usize) -> &Region {
        &self.regions[i.min(self.regions.len().saturating_sub(1))]
    }

    /// Every account id.
    pub fn account_ids(&self) -> Vec<AccountId> {
        self.accounts.iter().map(|(_, a)| a.clone()).collect()
    }

    /// `name (id)` of an account of the cast, or the id alone.
    pub fn who(&self, account: &AccountId) -> String {
        match self.accounts.iter().find(|(_, a)| a == account) {
            Some((n, a)) => format!("{n} ({a})"),
            None => account.to_string(),
        }
    }

    /// Replaces accounts and Regions with the command line's, which must name at least as
    /// many as the story needs.
    pub(crate) fn with_overrides(
        mut self,
        accounts: Option<Vec<AccountId>>,
        regions: Option<Vec<Region>>,
    ) -> std::result::Result<Cast, String> {
        if let Some(list) = accounts {
            if list.len() < self.accounts.len() {
                return Err(format!(
                    "--accounts names {} account(s); this story needs {} ({})",
                    list.len(),
                    self.accounts.len(),
                    self.accounts
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (slot, a) in self.accounts.iter_mut().zip(list) {
                slot.1 = a;
            }
        }
        if let Some(list) = regions {
            if list.len() < self.regions.len() {
                return Err(format!(
                    "--regions names {} Region(s); this story needs {}",
                    list.len(),
                    self.regions.len()
                ));
            }
            self.regions = list;
        }
        Ok(self)
    }
}

/// Where the story runs: the connector every workflow takes, and, on the simulator, the
/// simulator itself for what only it can do (write files on an instance's volume, attach a
/// launch guard).
#[derive(Clone)]
pub struct World {
    connector: Arc<dyn Connector>,
    sim: Option<Sim>,
    /// The accounts and Regions of the story.
    pub cast: Cast,
    /// The timeline the story prints on.
    pub timeline: Timeline,
    /// Where it runs.
    pub target: Target,
    /// The seed (meaningful on the simulator).
    pub seed: u64,
    /// Every instance [`launch`](Self::launch) started.
    launched: Arc<Mutex<Vec<(AccountId, Region, InstanceId)>>>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("target", &self.target)
            .field("cast", &self.cast)
            .finish_non_exhaustive()
    }
}

impl World {
    /// A world on the simulator.
    pub fn on_sim(sim: Sim, cast: Cast, timeline: Timeline, seed: u64) -> World {
        World {
            connector: Arc::new(sim.clone()),
            sim: Some(sim),
            cast,
            timeline,
            target: Target::Sim,
            seed,
            launched: Arc::default(),
        }
    }

    /// A world on any connector (AWS, an emulator).
    pub fn on_connector(
        connector: Arc<dyn Connector>,
        cast: Cast,
        timeline: Timeline,
        target: Target,
    ) -> World {
        World {
            connector,
            sim: None,
            cast,
            timeline,
            target,
            seed: 0,
            launched: Arc::default(),
        }
    }

    /// The connector the workflows take.
    pub fn connector(&self) -> &dyn Connector {
        self.connector.as_ref()
    }

    /// The simulator, when the story runs on it.
    pub fn sim(&self) -> Option<&Sim> {
        self.sim.as_ref()
    }

    /// An EC2 client of `account` in `region`.
    pub fn ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>> {
        self.connector.ec2(account, region)
    }

    /// A KMS client of `account` in `region`.
    pub fn kms(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Kms>> {
        self.connector.kms(account, region)
    }

    /// The Amazon Linux 2023 image (x86_64) in `region`, as `account` sees it: the simulator's
    /// catalogue entry, or the newest one Amazon publishes there.
    pub async fn amazon_linux(&self, account: &AccountId, region: &Region) -> Result<ImageId> {
        if let Some(sim) = &self.sim {
            return sim.amazon_image(region, "al2023").ok_or_else(|| {
                Error::from_code(
                    "InvalidAMIID.NotFound",
                    format!("the simulator has no al2023 image in {region}"),
                )
            });
        }
        let ec2 = self.ec2(account, region)?;
        let amazon = [Owner::Alias(OwnerAlias::Amazon)];
        match ParentSelector::newest("al2023-ami-2023.*-x86_64", amazon.clone())
            .resolve(ec2.as_ref())
            .await
        {
            Ok(img) => Ok(img.id),
            // Emulators may only carry Amazon Linux 2 in their catalogue.
            Err(e) if e.is_not_found() => Ok(ParentSelector::newest("amzn2-ami-*-x86_64*", amazon)
                .resolve(ec2.as_ref())
                .await?
                .id),
            Err(e) => Err(e),
        }
    }

    /// Writes a file on the volume at `device` of a running instance, as a build component
    /// would. Only the simulator can; elsewhere it returns `false` and writes nothing (a real
    /// build runs its components through SSM or user data).
    pub fn write_file(
        &self,
        instance: &InstanceId,
        device: &str,
        path: &str,
        contents: &str,
        buffered: bool,
    ) -> Result<bool> {
        match &self.sim {
            Some(sim) => {
                let d = if buffered {
                    Durability::Buffered
                } else {
                    Durability::Flushed
                };
                sim.write_data(instance, device, path, contents, d)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// What the volume at `device` of an instance holds, where that can be read (the
    /// simulator).
    pub fn read_volume(
        &self,
        instance: &InstanceId,
        device: &str,
    ) -> Result<Option<BTreeMap<String, String>>> {
        match &self.sim {
            Some(sim) => Ok(Some(sim.volume_data(instance, device)?)),
            None => Ok(None),
        }
    }

    /// Enforces `policy` on launches in `account`: on the simulator as its launch guard
    /// (RunInstances of an unapproved image fails with `UnauthorizedOperation`); on AWS the
    /// same is done by attaching [`ApprovalPolicy::iam_policy`] to the launching principals,
    /// which an example does not do for you, so this returns `false` there.
    pub fn enforce_policy(&self, account: &AccountId, policy: &ApprovalPolicy) -> bool {
        match &self.sim {
            Some(sim) => {
                sim.set_launch_guard(account, Some(Arc::new(policy.clone())));
                true
            }
            None => false,
        }
    }

    /// Launches one instance of `image` as `account` in `region`, tagged `Name=name`, and
    /// waits until it runs.
    pub async fn launch(
        &self,
        account: &AccountId,
        region: &Region,
        image: &ImageId,
        name: &str,
    ) -> Result<InstanceId> {
        let ec2 = self.ec2(account, region)?;
        let req = RunInstancesRequest::new(image.clone())
            .instance_type("m7i.large")
            .tag("Name", name);
        let inst = retry("RunInstances", || ec2.run_instances(req.clone()))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::workflow(format!("RunInstances of {image} returned no instance"))
            })?;
        self.launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((account.clone(), region.clone(), inst.id.clone()));
        wait_for_instance_state(
            ec2.as_ref(),
            &inst.id,
            InstanceState::Running,
            &WaitOptions::default(),
        )
        .await?;
        Ok(inst.id)
    }

    /// Terminates every instance [`launch`](Self::launch) started (those already terminated
    /// are left as they are); returns how many were asked to terminate. Errors are skipped:
    /// this is the last thing a story does on AWS, so that nothing keeps running.
    pub async fn terminate_launched(&self) -> usize {
        let launched: Vec<_> = self
            .launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let mut n = 0;
        for (account, region, id) in launched {
            let Ok(ec2) = self.ec2(&account, &region) else {
                continue;
            };
            if let Ok(changes) = ec2.terminate_instances(vec![id]).await {
                n += changes
                    .iter()
                    .filter(|c| c.previous != InstanceState::Terminated)
                    .count();
            }
        }
        n
    }

    /// The ARN of the customer managed key behind `alias` of `account` in `region`, created
    /// (with the alias) if it does not exist yet.
    pub async fn ensure_key(
        &self,
        account: &AccountId,
        region: &Region,
        alias: &str,
    ) -> Result<KmsKeyRef> {
        let kms = self.kms(account, region)?;
        let key_ref = alias.parse::<KmsKeyRef>()?;
        match retry("DescribeKey", || kms.describe_key(key_ref.clone())).await {
            Ok(k) => Ok(k.arn),
            Err(e) if e.is_not_found() => {
                let req = CreateKeyRequest::new("images of the ami examples");
                let key = retry("CreateKey", || kms.create_key(req.clone())).await?;
                retry("CreateAlias", || {
                    kms.create_alias(alias.to_owned(), key.arn.clone())
                })
                .await?;
                Ok(key.arn)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_overrides_need_as_many_as_the_story() {
        let cast = Cast::new(
            &[("owner", "111111111111"), ("consumer", "222222222222")],
            &["us-east-1"],
        )
        .unwrap();
        assert_eq!(cast.who(cast.account(1)), "consumer (222222222222)");
        assert_eq!(cast.account(9), cast.account(1));
        let one: Vec<AccountId> = vec!["333333333333".parse().unwrap()];
        let e = cast.clone().with_overrides(Some(one), None).unwrap_err();
        assert!(e.contains("needs 2 (owner, consumer)"), "{e}");
        let two: Vec<AccountId> = vec![
            "333333333333".parse().unwrap(),
            "444444444444".parse().unwrap(),
        ];
        let moved = cast.with_overrides(Some(two), None).unwrap();
        assert_eq!(moved.account(0).as_str(), "333333333333");
        assert_eq!(
            Cast::new(&[], &["us-east-1"]).unwrap_err().code(),
            "InvalidParameterValue"
        );
        assert_eq!(
            Cast::new(&[("owner", "12")], &["us-east-1"])
                .unwrap_err()
                .code(),
            "InvalidUserID.Malformed"
        );
    }
}
