//! Image names and descriptions: the allowed characters and lengths, and one name per account
//! and Region.

use crate::error::{Error, Result};
use crate::id::{AccountId, Region};
use crate::model::{Image, ImageState};

/// The shortest image name AWS accepts.
pub const NAME_MIN_LEN: usize = 3;
/// The longest image name AWS accepts.
pub const NAME_MAX_LEN: usize = 128;
/// The longest image description AWS accepts.
pub const DESCRIPTION_MAX_LEN: usize = 255;

/// The characters AWS allows in an image name, `[A-Za-z0-9 ()[]./\-'@_]` in AWS's notation,
/// where the backslash only escapes the dash: a backslash itself is not allowed.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ()[]./-'@_".contains(c)
}

/// Checks an image name (CreateImage, CopyImage, RegisterImage): 3 to 128 characters of
/// `A-Z a-z 0-9 space ( ) [ ] . / - ' @ _` (no backslash). Else `InvalidAMIName.Malformed`,
/// naming the name and the first offending character or the length.
pub fn validate_image_name(name: &str) -> Result<()> {
    let len = name.chars().count();
    let problem = if len < NAME_MIN_LEN {
        Some(format!(
            "it has {len} characters, at least {NAME_MIN_LEN} are required"
        ))
    } else if len > NAME_MAX_LEN {
        Some(format!(
            "it has {len} characters, at most {NAME_MAX_LEN} are allowed"
        ))
    } else {
        name.chars()
            .find(|c| !is_name_char(*c))
            .map(|c| format!("the character {c:?} is not allowed"))
    };
    match problem {
        None => Ok(()),
        Some(p) => {
            let shown: String = name.chars().take(NAME_MAX_LEN + 8).collect();
            Err(Error::from_code(
                "InvalidAMIName.Malformed",
                format!(
                    "AMI name {shown:?} is invalid: {p}. Use 3 to 128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _."
                ),
            ))
        }
    }
}

/// Checks an image description: at most 255 characters, else `InvalidParameterValue`.
pub fn validate_description(description: &str) -> Result<()> {
    let len = description.chars().count();
    if len <= DESCRIPTION_MAX_LEN {
        Ok(())
    } else {
        Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "The image description has {len} characters; at most {DESCRIPTION_MAX_LEN} are allowed. Shorten it."
            ),
        ))
    }
}

/// Checks that `owner` has no other image named `name` in `region` among `images` (any images;
/// those of other owners or Regions, and deregistered ones, are ignored). Else
/// `InvalidAMIName.Duplicate` "AMI name N is already in use by AMI ami-…".
pub fn check_name_available<'a>(
    name: &str,
    owner: &AccountId,
    region: &Region,
    images: impl IntoIterator<Item = &'a Image>,
) -> Result<()> {
    match images.into_iter().find(|i| {
        i.name == name
            && &i.owner == owner
            && &i.region == region
            && i.state != ImageState::Deregistered
    }) {
        None => Ok(()),
        Some(other) => Err(Error::from_code(
            "InvalidAMIName.Duplicate",
            format!(
                "AMI name {name} is already in use by AMI {}. Choose another name, or deregister {} first.",
                other.id, other.id
            ),
        )),
    }
}
