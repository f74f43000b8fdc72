//! The EC2 Query protocol (API version 2016-11-15): decoding a request's parameters into the
//! simulator's calls and encoding their results as EC2's XML.
//!
//! Wire names come from botocore's EC2 model (`queryName`, else `locationName` capitalised,
//! else the member name; lists flattened with 1-based indexes).

use std::sync::Arc;

use ami_core::{AccountId, Ec2, Region};

use super::wire::{Params, WireError};
use crate::Sim;

/// One EC2 request, as the server hands it over: who calls, where, which action, with which
/// parameters.
#[derive(Debug)]
pub(crate) struct Ec2Call<'a> {
    /// The simulator (for what the `Ec2` trait does not carry: Regions, zones, ...).
    pub sim: &'a Sim,
    /// The caller's EC2 client (its account and Region).
    pub ec2: Arc<dyn Ec2>,
    /// The caller's account.
    pub account: &'a AccountId,
    /// The Region from the request's signature scope.
    pub region: &'a Region,
    /// The `Action` parameter.
    pub action: &'a str,
    /// Every parameter of the request (`Action` and `Version` included).
    pub params: &'a Params,
}

/// Runs one EC2 action and answers the XML elements that go inside
/// `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`, after `<requestId>`
/// (the caller writes the envelope and the request id).
pub(crate) async fn handle(call: &Ec2Call<'_>) -> Result<String, WireError> {
    Err(WireError::client(
        "InvalidAction",
        format!(
            "The action {} is not valid for this web service.",
            call.action
        ),
    ))
}
