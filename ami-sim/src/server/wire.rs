//! What every protocol of the server shares: the decoded form parameters of a Query request
//! and a protocol-neutral error that each protocol renders in its own envelope.

use std::collections::BTreeMap;

/// The parameters of a Query-protocol request (EC2, STS): the form body's `name=value` pairs,
/// percent-decoded, by name (`ImageId.1`, `Filter.1.Value.2`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pairs: BTreeMap<String, String>,
}

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body. A name given twice is refused with
    /// `InvalidParameterValue` naming it (AWS answers the same for a repeated parameter).
    pub(crate) fn from_form(body: &[u8]) -> Result<Params, WireError> {
        let mut pairs = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if k.is_empty() {
                continue;
            }
            if pairs.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(WireError::client(
                    "InvalidParameterValue",
                    format!("the parameter {k} is given more than once; give it once"),
                ));
            }
        }
        Ok(Params { pairs })
    }

    /// The value of `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.get(name).map(String::as_str)
    }

    /// Every `(name, value)` pair, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// An error answer before any protocol envelope: an HTTP status, an AWS error code and a
/// message. Each protocol writes it in its own envelope (EC2 `<Response><Errors>`, STS
/// `<ErrorResponse>`, JSON `{"__type": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// The HTTP status: 400 for client errors, 503 for throttling, 500 for internal errors,
    /// 412 for a dry run that would have succeeded.
    pub status: u16,
    /// The AWS error code, verbatim.
    pub code: String,
    /// The message.
    pub message: String,
}

impl WireError {
    /// A client error (status 400).
    pub(crate) fn client(code: impl Into<String>, message: impl Into<String>) -> Self {
        WireError {
            status: 400,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `MissingParameter` naming the parameter.
    pub(crate) fn missing(name: &str) -> Self {
        WireError::client(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `InvalidParameterValue` naming the parameter and the value.
    pub(crate) fn invalid(name: &str, value: &str, why: impl std::fmt::Display) -> Self {
        WireError::client(
            "InvalidParameterValue",
            format!("Value ({value}) for parameter {name} is invalid. {why}"),
        )
    }
}

impl From<ami_core::Error> for WireError {
    /// An error of the simulator, with the status AWS answers it with.
    fn from(e: ami_core::Error) -> Self {
        let code = e.code().to_owned();
        let status = match &e {
            ami_core::Error::Throttled(_) => 503,
            ami_core::Error::Internal(_) => {
                if code == "ServiceUnavailable" || code == "Unavailable" {
                    503
                } else {
                    500
                }
            }
            ami_core::Error::DryRun(_) => 412,
            _ => 400,
        };
        WireError {
            status,
            code,
            message: e.message(),
        }
    }
}
