//! DescribeImages and the pieces every describe call shares: filters with `*`/`?` wildcards,
//! and pagination in a stable order.

use ami_core::api::{DescribeImagesRequest, ExecutableBy, Filter, Owner, Page};
use ami_core::rules;
use ami_core::{Image, ImageId, ImageState, LaunchPermission, Result, Tags};

use crate::sim::Ctx;
use crate::state::{err, ImageRec, State, DEREGISTERED_GRACE};

/// Whether any filter value matches `value`.
pub(crate) fn matches_any(values: &[String], value: &str) -> bool {
    // AWS: §5 "DescribeImages scoping" (filter values accept wildcards).
    values.iter().any(|p| ami_core::wildcard::matches(p, value))
}

/// `tag:<key>` (value match) and `tag-key` (key match) filters.
pub(crate) fn tag_filter(f: &Filter, tags: &Tags) -> bool {
    if let Some(key) = f.name.strip_prefix("tag:") {
        tags.get(key).is_some_and(|v| matches_any(&f.values, v))
    } else if f.name == "tag-key" {
        tags.keys().any(|k| matches_any(&f.values, k))
    } else {
        false
    }
}

/// Refuses filter names the call does not know (`tag:<key>` is always known).
pub(crate) fn check_filters(filters: &[Filter], known: &[&str]) -> Result<()> {
    for f in filters {
        if !(f.name.starts_with("tag:") || known.contains(&f.name.as_str())) {
            return Err(err(
                "InvalidParameterValue",
                format!(
                    "The filter '{}' is invalid; known filters are tag:<key>, {}",
                    f.name,
                    known.join(", ")
                ),
            ));
        }
        if f.values.is_empty() {
            return Err(err(
                "InvalidParameterValue",
                format!("The filter '{}' has no values; give at least one", f.name),
            ));
        }
    }
    Ok(())
}

const TOKEN_PREFIX: &str = "sim-page:";

/// A describe call's paging: how many items a page holds, and the id the page starts after.
#[derive(Debug, Clone)]
pub(crate) struct Paging {
    /// The page size (no limit without `MaxResults`).
    pub limit: usize,
    /// The last id of the previous page, from the token.
    pub after: Option<String>,
}

/// Whether `id` has the form of a resource id: a prefix, a dash, 8 or 17 lowercase hex digits.
fn looks_like_id(id: &str) -> bool {
    id.rsplit_once('-').is_some_and(|(prefix, hex)| {
        !prefix.is_empty()
            && (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Paging {
    /// Checks `MaxResults` (5 to 1000) and reads the token (one this simulator returned).
    pub fn of(max_results: Option<u32>, next_token: Option<String>) -> Result<Paging> {
        if let Some(n) = max_results {
            if !(5..=1000).contains(&n) {
                return Err(err(
                    "InvalidParameterValue",
                    format!(
                        "Value ( {n} ) for parameter maxResults is invalid. Parameter may only be \
                         between 5 and 1000."
                    ),
                ));
            }
        }
        let after = match next_token {
            None => None,
            Some(t) => match t.strip_prefix(TOKEN_PREFIX).filter(|id| looks_like_id(id)) {
                Some(after) => Some(after.to_owned()),
                None => {
                    return Err(err(
                        "InvalidPaginationToken",
                        format!(
                            "The pagination token '{t}' is invalid; pass back a next_token \
                             exactly as returned"
                        ),
                    ))
                }
            },
        };
        Ok(Paging {
            limit: max_results.map_or(usize::MAX, |n| n as usize),
            after,
        })
    }

    /// The token of a page whose last item has id `last`.
    fn token_after(last: &str) -> String {
        format!("{TOKEN_PREFIX}{last}")
    }
}

/// One page of `items` in the order of `key`, starting after the token's key.
///
/// The token names the last key returned, so a page boundary stays put when items are added
/// or removed between calls: every item present throughout is returned exactly once.
pub(crate) fn page_of<T, K: AsRef<str>>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    paging: Paging,
) -> Page<T> {
    let Paging { limit, after } = paging;
    // Each key is computed once (an id: a reference count, not a copy of the text); the order
    // is by the key's text, so pages are stable. Only the page itself is sorted: the smallest
    // `limit` keys are selected first, in linear time, whatever the number of items.
    let mut keyed: Vec<(K, T)> = items
        .into_iter()
        .map(|i| (key(&i), i))
        .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_ref() > a))
        .collect();
    let by_key = |a: &(K, T), b: &(K, T)| a.0.as_ref().cmp(b.0.as_ref());
    let more = keyed.len() > limit;
    if more {
        keyed.select_nth_unstable_by(limit - 1, by_key);
        keyed.truncate(limit);
    }
    keyed.sort_unstable_by(by_key);
    let next = more.then(|| Paging::token_after(keyed[limit - 1].0.as_ref()));
    Page {
        items: keyed.into_iter().map(|(_, i)| i).collect(),
        next_token: next,
    }
}

/// [`page_of`] over records: the page is chosen among references, and only its records are
/// turned into owned values.
pub(crate) fn page_of_records<'a, R, T, K: AsRef<str>>(
    records: Vec<&'a R>,
    key: impl Fn(&R) -> K,
    view: impl Fn(&'a R) -> T,
    paging: Paging,
) -> Page<T> {
    let page = page_of(records, |r| key(r), paging);
    Page {
        items: page.items.into_iter().map(view).collect(),
        next_token: page.next_token,
    }
}

/// One page of the records `in_order` (already in id order, starting after the page's start)
/// that `keep` keeps: reads only as far as the page needs (one record past it, to know
/// whether another page follows), so listing a large world page by page costs each page its
/// own length, not the world's size.
pub(crate) fn page_in_order<'a, R: 'a, T>(
    in_order: impl Iterator<Item = &'a R>,
    mut keep: impl FnMut(&'a R) -> bool,
    id_of: impl Fn(&R) -> &str,
    view: impl Fn(&'a R) -> T,
    limit: usize,
) -> Page<T> {
    let mut kept: Vec<&'a R> = Vec::new();
    for r in in_order {
        if keep(r) {
            if kept.len() == limit {
                let next = kept.last().map(|l| Paging::token_after(id_of(l)));
                return Page {
                    items: kept.into_iter().map(view).collect(),
                    next_token: next,
                };
            }
            kept.push(r);
        }
    }
    Page {
        items: kept.into_iter().map(view).collect(),
        next_token: None,
    }
}

const IMAGE_FILTERS: &[&str] = &[
    "name",
    "description",
    "state",
    "is-public",
    "image-id",
    "owner-id",
    "owner-alias",
    "source-image-id",
    "source-image-region",
    "source-instance-id",
    "product-code",
    "architecture",
    "root-device-name",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.encrypted",
    "tag-key",
];

/// Whether image `i` passes filter `f`, the caller seeing `tags` of it.
fn image_filter(f: &Filter, i: &Image, tags: &Tags) -> bool {
    let opt = |o: Option<String>| o.is_some_and(|v| matches_any(&f.values, &v));
    match f.name.as_str() {
        "name" => matches_any(&f.values, &i.name),
        "description" => opt(i.description.clone()),
        "state" => matches_any(&f.values, i.state.as_str()),
        "is-public" => matches_any(&f.values, if i.public { "true" } else { "false" }),
        "image-id" => matches_any(&f.values, i.id.as_str()),
        "owner-id" => matches_any(&f.values, i.owner.as_str()),
        "owner-alias" => opt(i.owner_alias.map(|a| a.to_string())),
        "source-image-id" => opt(i.source_image_id.as_ref().map(ToString::to_string)),
        "source-image-region" => opt(i.source_region.as_ref().map(ToString::to_string)),
        "source-instance-id" => opt(i.source_instance_id.as_ref().map(ToString::to_string)),
        "product-code" => i
            .product_codes
            .iter()
            .any(|p| matches_any(&f.values, &p.id)),
        "architecture" => matches_any(&f.values, &i.architecture),
        "root-device-name" => matches_any(&f.values, &i.root_device_name),
        "block-device-mapping.snapshot-id" => i
            .snapshot_ids()
            .iter()
            .any(|s| matches_any(&f.values, s.as_str())),
        "block-device-mapping.encrypted" => i.block_devices.iter().any(|d| {
            matches_any(
                &f.values,
                if d.encryption.is_some() {
                    "true"
                } else {
                    "false"
                },
            )
        }),
        _ => tag_filter(f, tags),
    }
}

/// The tags of an image that someone other than its owner sees: none.
pub(crate) const NO_TAGS: Tags = Tags::new();

impl State {
    /// The image as `account` sees it: tags only for the owner.
    pub(crate) fn view(rec: &ImageRec, account: &ami_core::AccountId) -> Image {
        let mut i = rec.image.clone();
        if i.owner != *account {
            // AWS: §3 "Other": tags are never visible to grantees.
            i.tags = Tags::new();
        }
        i
    }

    pub(crate) fn describe_images(
        &mut self,
        cx: &Ctx<'_>,
        req: DescribeImagesRequest,
    ) -> Result<Page<Image>> {
        check_filters(&req.filters, IMAGE_FILTERS)?;
        // AWS: §1 "Visibility of deregistered and disabled AMIs": filtering on
        // state=disabled needs IncludeDisabled.
        rules::check_describe_images(&req)?;
        let by_id = !req.image_ids.is_empty();
        let mut missing: Vec<&ImageId> = Vec::new();
        for id in &req.image_ids {
            let found = self.images.get(id).is_some_and(|r| {
                r.image.region == *cx.region
                    && r.visible_at <= cx.now
                    && self.can_launch(r, cx.account)
                    && r.deregistered_at
                        .is_none_or(|t| cx.now < t.add(DEREGISTERED_GRACE))
            });
            if !found {
                missing.push(id);
            }
        }
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|i| i.to_string()).collect();
            return Err(if list.len() == 1 {
                err(
                    "InvalidAMIID.NotFound",
                    format!("The image id '[{}]' does not exist", list[0]),
                )
            } else {
                err(
                    "InvalidAMIID.NotFound",
                    format!("The image ids '[{}]' do not exist", list.join(", ")),
                )
            });
        }
        let me = cx.account;
        let paging = Paging::of(req.max_results, req.next_token.clone())?;
        if !by_id {
            self.images.prepare_order();
        }
        let keep = |r: &ImageRec| -> bool {
            let i = &r.image;
            if i.region != *cx.region || r.visible_at > cx.now {
                return false;
            }
            // AWS: §1 and §5: deregistered images show only briefly when named by id; disabled
            // ones only to their owner with IncludeDisabled; deprecated images of others only
            // with IncludeDeprecated or by id.
            let listed = if i.state == ImageState::Deregistered {
                by_id && i.owner == *me
            } else {
                rules::image_listed(i, Self::perms_of(r), me, self.membership(me), &req, cx.now)
            };
            if !listed {
                return false;
            }
            if !req.owners.is_empty()
                && !req.owners.iter().any(|o| match o {
                    Owner::SelfAccount => i.owner == *me,
                    Owner::Account(a) => i.owner == *a,
                    Owner::Alias(al) => i.owner_alias == Some(*al),
                })
            {
                return false;
            }
            // AWS: §5 "ExecutableUsers": self = shared with me (org/OU included), not owned;
            // another account = shared explicitly with it; all = public.
            if !req.executable_by.is_empty()
                && !req.executable_by.iter().any(|e| match e {
                    ExecutableBy::SelfAccount => i.owner != *me && self.shared_with(r, me),
                    ExecutableBy::Account(a) if a == me => {
                        i.owner != *me && self.shared_with(r, me)
                    }
                    ExecutableBy::Account(a) => {
                        r.perms.contains(&LaunchPermission::Account(a.clone()))
                    }
                    ExecutableBy::All => r.perms.contains(&LaunchPermission::Public),
                })
            {
                return false;
            }
            // AWS: §3 "Other": tags are never visible to grantees (nor filtered on by them).
            let tags = if i.owner == *me { &i.tags } else { &NO_TAGS };
            req.filters.iter().all(|f| image_filter(f, i, tags))
        };
        if by_id {
            // Each named image once.
            let named: Vec<&ImageRec> = self
                .images
                .selected(&req.image_ids)
                .map(|b| &**b)
                .filter(|r| keep(r))
                .collect();
            return Ok(page_of_records(
                named,
                |r| r.image.id.clone(),
                |r| Self::view(r, me),
                paging,
            ));
        }
        Ok(page_in_order(
            self.images
                .ordered_after(paging.after.as_deref())
                .map(|b| &**b),
            keep,
            |r| r.image.id.as_str(),
            |r| Self::view(r, me),
            paging.limit,
        ))
    }
}
