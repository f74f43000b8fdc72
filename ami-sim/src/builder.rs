//! [`SimBuilder`]: seed, Regions, organizations, OUs, accounts, quotas, faults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ami_core::rules::Membership;
use ami_core::{AccountId, OrganizationArn, OrganizationalUnitArn, Region, Result, VirtualClock};

use crate::faults::FaultPlan;
use crate::idmap::IdMap;
use crate::sim::{Inner, Sim};
use crate::state::{err, State};

/// Quotas the simulator enforces, per account and Region (AWS's defaults unless changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Images (pending and available), per account and Region. AWS: 50,000.
    pub images: usize,
    /// Public images, per account and Region. AWS: 5.
    pub public_images: usize,
    /// Sharing entities (accounts, organizations, OUs) per image. AWS: 1,000.
    pub sharing_entities: usize,
    /// Concurrent image copies into one Region, per account. AWS: 100.
    pub concurrent_copies: usize,
    /// Concurrent no-reboot CreateImage requests per instance.
    pub concurrent_no_reboot_images_per_instance: usize,
    /// Instances not terminated, per account and Region.
    pub instances: usize,
    /// Tags per resource. AWS: 50.
    pub tags_per_resource: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        // AWS: §3 "Limits" (50,000 AMIs, 5 public AMIs, 1,000 sharing entities per AMI) and
        // §4 "Limits and timing" (100 concurrent copies per destination Region).
        Quotas {
            images: 50_000,
            public_images: 5,
            sharing_entities: 1_000,
            concurrent_copies: 100,
            concurrent_no_reboot_images_per_instance: 1,
            instances: 1_000,
            tags_per_resource: 50,
        }
    }
}

#[derive(Debug, Clone)]
struct OrgSpec {
    id: String,
    management: AccountId,
}

/// Builds a [`Sim`]. Every setting has a default; bad settings are reported by
/// [`build`](Self::build), naming the value and the fix.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    seed: u64,
    regions: Option<Vec<String>>,
    orgs: Vec<OrgSpec>,
    /// OU id → (org id, parent OU id).
    ous: BTreeMap<String, (String, Option<String>)>,
    /// Account → (org id, OU id) or standalone.
    accounts: BTreeMap<String, Option<(String, Option<String>)>>,
    lag: Duration,
    faults: FaultPlan,
    quotas: Quotas,
    catalogue: bool,
    record_calls: bool,
    errors: Vec<String>,
}

impl Default for SimBuilder {
    fn default() -> Self {
        SimBuilder {
            seed: 0,
            regions: None,
            orgs: Vec::new(),
            ous: BTreeMap::new(),
            accounts: BTreeMap::new(),
            lag: Duration::ZERO,
            faults: FaultPlan::default(),
            quotas: Quotas::default(),
            catalogue: true,
            record_calls: true,
            errors: Vec::new(),
        }
    }
}

impl SimBuilder {
    /// A builder with seed 0, Regions us-east-1, us-west-2, eu-west-1, no accounts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed of every id and every random draw.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The Regions (default: us-east-1, us-west-2, eu-west-1).
    pub fn regions<I, S>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.regions = Some(regions.into_iter().map(|r| r.as_ref().to_owned()).collect());
        self
    }

    /// An organization `o-...` whose management account is `management` (placed in its root).
    /// OUs and accounts added after it belong to it.
    pub fn organization(mut self, org_id: &str, management: &str) -> Self {
        if let Ok(m) = AccountId::parse(management) {
            if let Err(e) = OrganizationArn::new(&m, org_id) {
                self.errors.push(e.to_string());
                return self;
            }
        }
        self.orgs.push(OrgSpec {
            id: org_id.to_owned(),
            management: match AccountId::parse(management) {
                Ok(a) => a,
                Err(e) => {
                    self.errors.push(e.to_string());
                    return self;
                }
            },
        });
        self.accounts
            .insert(management.to_owned(), Some((org_id.to_owned(), None)));
        self
    }

    /// An OU of the last organization; `parent` `None` puts it under the root.
    pub fn organizational_unit(mut self, ou_id: &str, parent: Option<&str>) -> Self {
        let Some(org) = self.orgs.last().cloned() else {
            self.errors.push(format!(
                "OU {ou_id} has no organization: call .organization(..) before .organizational_unit(..)"
            ));
            return self;
        };
        if let Err(e) = OrganizationalUnitArn::new(&org.management, &org.id, ou_id) {
            self.errors.push(e.to_string());
            return self;
        }
        if let Some(p) = parent {
            if !self.ous.contains_key(p) {
                self.errors.push(format!(
                    "parent OU {p} of {ou_id} is unknown: declare the parent first"
                ));
                return self;
            }
        }
        if self.ous.contains_key(ou_id) {
            self.errors.push(format!("OU {ou_id} is declared twice"));
            return self;
        }
        self.ous
            .insert(ou_id.to_owned(), (org.id, parent.map(str::to_owned)));
        self
    }

    /// An account placed in the OU `ou_id` (of its organization).
    pub fn account_in_ou(mut self, account: &str, ou_id: &str) -> Self {
        match self.ous.get(ou_id) {
            Some((org, _)) => {
                let org = org.clone();
                self.accounts
                    .insert(account.to_owned(), Some((org, Some(ou_id.to_owned()))));
            }
            None => self.errors.push(format!(
                "account {account} is placed in unknown OU {ou_id}: declare the OU first"
            )),
        }
        self
    }

    /// An account placed in the root of the last organization.
    pub fn account_in_org(mut self, account: &str) -> Self {
        match self.orgs.last() {
            Some(o) => {
                let id = o.id.clone();
                self.accounts.insert(account.to_owned(), Some((id, None)));
            }
            None => self.errors.push(format!(
                "account {account}: call .organization(..) before .account_in_org(..)"
            )),
        }
        self
    }

    /// A standalone account, outside any organization.
    pub fn account(mut self, account: &str) -> Self {
        self.accounts.insert(account.to_owned(), None);
        self
    }

    /// How long a new id stays invisible (NotFound) after it is created (default zero).
    pub fn consistency_lag(mut self, lag: Duration) -> Self {
        self.lag = lag;
        self
    }

    /// The fault plan (default: no faults).
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// The quotas (default: AWS's).
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Whether to load the default public catalogue of Amazon and Marketplace images
    /// (default: yes). See [`Sim::amazon_image`].
    pub fn catalogue(mut self, yes: bool) -> Self {
        self.catalogue = yes;
        self
    }

    /// Whether to keep the call log (default: yes). Without it, [`Sim::call_log`] is empty
    /// but [`Sim::call_count`] still counts; long benchmarks turn it off to save memory.
    pub fn record_calls(mut self, yes: bool) -> Self {
        self.record_calls = yes;
        self
    }

    /// Builds the simulator. Call it inside a tokio runtime (the virtual clock starts now).
    pub fn build(self) -> Result<Sim> {
        if let Some(e) = self.errors.first() {
            return Err(err("InvalidParameterValue", e.clone()));
        }
        self.faults
            .validate()
            .map_err(|e| err("InvalidParameterValue", e))?;
        let regions = self
            .regions
            .clone()
            .unwrap_or_else(|| vec!["us-east-1".into(), "us-west-2".into(), "eu-west-1".into()]);
        if regions.is_empty() {
            return Err(err(
                "InvalidParameterValue",
                "the simulator needs at least one Region: pass some to .regions(..)",
            ));
        }
        let mut region_set = BTreeSet::new();
        for r in &regions {
            region_set.insert(Region::parse(r)?);
        }
        let mut accounts = BTreeMap::new();
        let mut orgs = BTreeMap::new();
        for o in &self.orgs {
            orgs.insert(o.id.clone(), o.management.clone());
        }
        let mut raw_accounts = self.accounts.clone();
        if raw_accounts.is_empty() {
            raw_accounts.insert("123456789012".into(), None);
        }
        for (a, place) in raw_accounts {
            let account = AccountId::parse(&a)?;
            let membership = match place {
                None => Membership::none(),
                Some((org, ou)) => {
                    let mgmt = orgs.get(&org).cloned().ok_or_else(|| {
                        err(
                            "InvalidParameterValue",
                            format!("account {a} is placed in unknown organization {org}"),
                        )
                    })?;
                    let mut path = Vec::new();
                    let mut cur = ou;
                    while let Some(id) = cur {
                        path.push(OrganizationalUnitArn::new(&mgmt, &org, &id)?);
                        cur = self.ous.get(&id).and_then(|(_, p)| p.clone());
                    }
                    path.reverse();
                    Membership::of(OrganizationArn::new(&mgmt, &org)?, path)
                }
            };
            accounts.insert(account, membership);
        }
        let clock = VirtualClock::new(VirtualClock::DEFAULT_EPOCH);
        let mut streams = crate::streams::Streams::new(self.seed);
        let id_seq = streams.id_bits();
        let mut state = State {
            streams,
            id_seq,
            regions: region_set,
            accounts,
            orgs,
            ou_orgs: self
                .ous
                .iter()
                .map(|(k, (o, _))| (k.clone(), o.clone()))
                .collect(),
            lag: self.lag,
            faults: self.faults,
            quotas: self.quotas,
            scripted: Vec::new(),
            outages: Vec::new(),
            guards: BTreeMap::new(),
            // Counters are issued from `id_seq + 1` on (`State::next_unique`).
            images: IdMap::new(id_seq.wrapping_add(1)),
            snapshots: IdMap::new(id_seq.wrapping_add(1)),
            instances: IdMap::new(id_seq.wrapping_add(1)),
            keys: BTreeMap::new(),
            aliases: BTreeMap::new(),
            bpa: BTreeMap::new(),
            default_keys: BTreeMap::new(),
            tokens: BTreeMap::new(),
            events: std::collections::BinaryHeap::new(),
            event_seq: 0,
            catalogue: BTreeMap::new(),
            log: Vec::new(),
            record_calls: self.record_calls,
            counts: BTreeMap::new(),
            index: Default::default(),
        };
        state.index.regions = state.regions.iter().cloned().collect();
        if self.catalogue {
            crate::catalogue::load(&mut state, clock.epoch());
        }
        Ok(Sim {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                clock,
                seed: self.seed,
            }),
        })
    }
}
