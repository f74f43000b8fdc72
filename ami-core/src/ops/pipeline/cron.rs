//! A 5-field cron expression, in UTC or in an IANA time zone, evaluated on any [`Timestamp`],
//! never on the wall clock.
//!
//! Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or `JAN`-`DEC`), day of
//! week (0-7, 0 and 7 are Sunday, or `SUN`-`SAT`). Each field is `*`, `?` (same as `*`, as in
//! AWS's `cron()` syntax), a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma
//! list of those. As in Vixie cron, when both day fields are restricted a day matches if
//! **either** matches. The macros `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and
//! `@yearly` (`@annually`) are accepted.
//!
//! ```
//! use ami_core::ops::pipeline::CronSchedule;
//! use ami_core::Timestamp;
//!
//! let nightly: CronSchedule = "30 2 * * MON-FRI".parse()?;
//! let friday: Timestamp = "2026-01-02T12:00:00Z".parse()?; // a Friday
//! assert_eq!(nightly.next_after(friday).unwrap().to_string(), "2026-01-05T02:30:00Z");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Time zones
//!
//! An expression without a zone is evaluated in UTC. A zone is given with
//! [`CronSchedule::in_zone`] or written before the fields as `TZ=<IANA name>` (or
//! `CRON_TZ=<IANA name>`), e.g. `TZ=Europe/Berlin 30 2 * * MON-FRI`; [`Display`](fmt::Display)
//! and serde write it back as `TZ=<name> <fields>`. The fields then describe civil (wall-clock)
//! minutes in that zone, and daylight-saving changes follow the rules of Vixie cron:
//!
//! - A civil minute that does not exist (skipped by a spring-forward gap) runs at the first
//!   instant after the gap, once however many skipped minutes match: `30 2 * * *` in
//!   `Europe/Berlin` runs at 03:00 CEST (01:00 UTC) on 2026-03-29.
//! - A civil minute that happens twice (repeated by a fall-back fold) runs once, at its first
//!   occurrence: `30 2 * * *` in `Europe/Berlin` runs at 02:30 CEST (00:30 UTC) on 2026-10-25,
//!   not again at 02:30 CET.
//!
//! The time zone database is bundled into the binary, so a schedule gives the same instants on
//! every machine. Zoned schedules are evaluated within the years -9999 to 9999.
//!
//! ```
//! use ami_core::ops::pipeline::CronSchedule;
//! use ami_core::Timestamp;
//!
//! let nightly = CronSchedule::parse("30 2 * * *")?.in_zone("Europe/Berlin")?;
//! assert_eq!(nightly.to_string(), "TZ=Europe/Berlin 30 2 * * *");
//! let winter: Timestamp = "2026-01-01T12:00:00Z".parse()?;
//! assert_eq!(nightly.next_after(winter).unwrap().to_string(), "2026-01-02T01:30:00Z");
//! let summer: Timestamp = "2026-07-01T12:00:00Z".parse()?;
//! assert_eq!(nightly.next_after(summer).unwrap().to_string(), "2026-07-02T00:30:00Z");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Timestamp;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// How far ahead to look for a matching day: 28 years is the period of the Gregorian weekday
/// pattern outside century years, enough for `29 2 * * MON` and similar.
const SEARCH_DAYS: i64 = 366 * 29;

/// A cron expression that cannot be parsed: the expression, the field, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {field} field {value:?}: {expected}")]
pub struct CronError {
    /// The whole expression.
    pub expr: String,
    /// The field name (`minute`, `hour`, `day of month`, `month`, `day of week`, `time zone`,
    /// or `expression`).
    pub field: &'static str,
    /// The offending part.
    pub value: String,
    /// What is expected instead.
    pub expected: String,
}

/// A parsed 5-field cron schedule, in UTC or in an IANA time zone (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The expression as displayed: the fields as written, after `TZ=<name> ` when zoned.
    expr: String,
    /// The time zone, `None` for plain UTC.
    zone: Option<Zone>,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    dom_restricted: bool,
    dow_restricted: bool,
}

/// A named time zone from the bundled database.
#[derive(Clone)]
struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// Looks `name` up in the bundled database; `expr` is the expression for the error.
    fn get(expr: &str, name: &str) -> Result<Zone, CronError> {
        let unknown = || CronError {
            expr: expr.to_owned(),
            field: "time zone",
            value: name.to_owned(),
            expected: "an IANA time zone name such as Europe/Berlin, America/New_York or UTC"
                .to_owned(),
        };
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(unknown());
        }
        let tz = TimeZone::get(name).map_err(|_| unknown())?;
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Zone { name, tz })
    }
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: FieldSpec = FieldSpec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DOW: FieldSpec = FieldSpec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl CronSchedule {
    /// Parses an expression (see the module docs for the syntax), optionally preceded by
    /// `TZ=<IANA name>` or `CRON_TZ=<IANA name>`.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let trimmed = expr.trim();
        let prefixed = trimmed
            .strip_prefix("TZ=")
            .or_else(|| trimmed.strip_prefix("CRON_TZ="));
        if let Some(rest) = prefixed {
            let (name, fields) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let zone = Zone::get(expr, name)?;
            let mut schedule = Self::parse_fields(expr, fields.trim())?;
            schedule.expr = format!("TZ={} {}", zone.name, schedule.expr);
            schedule.zone = Some(zone);
            return Ok(schedule);
        }
        Self::parse_fields(expr, trimmed)
    }

    /// The same schedule evaluated in the IANA time zone `tz` (`Europe/Berlin`,
    /// `America/New_York`, `UTC`), replacing any zone it had. An unknown name is a
    /// [`CronError`] whose field is `time zone`.
    pub fn in_zone(self, tz: &str) -> Result<Self, CronError> {
        let zone = Zone::get(&self.expr, tz)?;
        let fields = match &self.zone {
            Some(old) => self
                .expr
                .strip_prefix(&format!("TZ={} ", old.name))
                .unwrap_or(&self.expr),
            None => &self.expr,
        };
        let expr = format!("TZ={} {}", zone.name, fields);
        Ok(CronSchedule {
            expr,
            zone: Some(zone),
            ..self
        })
    }

    /// The IANA name of the schedule's time zone, `None` for a plain UTC schedule.
    pub fn time_zone(&self) -> Option<&str> {
        self.zone.as_ref().map(|z| z.name.as_str())
    }

    /// Parses the five fields (or a macro) in `trimmed`; `expr` is the whole expression.
    fn parse_fields(expr: &str, trimmed: &str) -> Result<Self, CronError> {
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError {
                expr: expr.to_owned(),
                field: "expression",
                value: expr.to_owned(),
                expected: format!(
                    "5 fields (minute hour day-of-month month day-of-week), found {}",
                    fields.len()
                ),
            });
        }
        let parse = |i: usize, spec: &FieldSpec| parse_field(expr, fields[i], spec);
        let minutes = parse(0, &MINUTE)?;
        let hours = parse(1, &HOUR)?;
        let dom = parse(2, &DOM)?;
        let months = parse(3, &MONTH)?;
        let mut dow = parse(4, &DOW)?;
        if dow & (1 << 7) != 0 {
            dow = (dow & !(1 << 7)) | 1;
        }
        Ok(CronSchedule {
            expr: trimmed.to_owned(),
            zone: None,
            minutes,
            hours: hours as u32,
            days_of_month: dom as u32,
            months: months as u16,
            days_of_week: dow as u8,
            dom_restricted: !is_star(fields[2]),
            dow_restricted: !is_star(fields[4]),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// Whether a run falls in the minute that starts at `t` (rounded down to the minute): in
    /// UTC, whether that minute matches; in a zone, whether [`next_after`](Self::next_after)
    /// from just before that minute lands in it.
    pub fn matches(&self, t: Timestamp) -> bool {
        let ms = t.as_millis();
        let minute_start = ms - ms.rem_euclid(MINUTE_MS);
        if self.zone.is_some() {
            return minute_start
                .checked_sub(1)
                .and_then(|before| self.next_after(Timestamp::from_millis(before)))
                .is_some_and(|next| next.as_millis() - minute_start < MINUTE_MS);
        }
        self.civil_minute_matches(minute_start)
    }

    /// The first run strictly after `t`, or `None` if none comes within 29 years (e.g.
    /// `0 0 30 2 *`, which never matches). In UTC that is the first matching minute; in a zone
    /// it is the first matching civil minute after `t`'s civil time, as an instant, with the
    /// gap and fold rules of the module docs.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let Some(zone) = &self.zone else {
            // The first whole minute strictly after t (None past the end of time).
            let start = (t.as_millis().div_euclid(MINUTE_MS) + 1).checked_mul(MINUTE_MS)?;
            return self.next_civil_from(start).map(Timestamp::from_millis);
        };
        // Zoned schedules live within the years -9999 to 9999.
        let t_ms = t.as_millis();
        let at = jiff::Timestamp::from_millisecond(t_ms.max(jiff::Timestamp::MIN.as_millisecond()))
            .ok()?;
        let offset_ms = i64::from(zone.tz.to_offset(at).seconds()) * 1000;
        let local = at.as_millisecond().checked_add(offset_ms)?;
        // Civil minutes before this one all run at or before t (resolution is monotonic).
        let mut from = (local.div_euclid(MINUTE_MS) + 1).checked_mul(MINUTE_MS)?;
        let limit = from.checked_add(SEARCH_DAYS * DAY_MS)?;
        while from < limit {
            let civil = self.next_civil_from(from)?;
            let run = resolve(&zone.tz, civil)?;
            if run > t_ms {
                return Some(Timestamp::from_millis(run));
            }
            // A minute repeated by a fold whose first occurrence is already past.
            from = civil + MINUTE_MS;
        }
        None
    }

    /// The first matching civil minute at or after `start` (a whole minute), as milliseconds
    /// since 1970-01-01T00:00 civil time.
    fn next_civil_from(&self, start: i64) -> Option<i64> {
        let first_day = start.div_euclid(DAY_MS);
        let mut from_minute = start.rem_euclid(DAY_MS) / MINUTE_MS;
        for day in first_day..first_day.saturating_add(SEARCH_DAYS) {
            if self.day_matches(day) {
                if let Some(m) = self.first_minute_from(from_minute) {
                    return day.checked_mul(DAY_MS)?.checked_add(m * MINUTE_MS);
                }
            }
            from_minute = 0;
        }
        None
    }

    /// Whether the civil minute starting at `ms` (a whole minute) matches the fields.
    fn civil_minute_matches(&self, ms: i64) -> bool {
        let day = ms.div_euclid(DAY_MS);
        let minute_of_day = ms.rem_euclid(DAY_MS) / MINUTE_MS;
        self.day_matches(day)
            && self.hours & (1 << (minute_of_day / 60)) != 0
            && self.minutes & (1 << (minute_of_day % 60)) != 0
    }

    /// Every matching minute in `(after, until]`, in order.
    pub fn occurrences(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut t = after;
        while let Some(next) = self.next_after(t) {
            if next > until {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    fn first_minute_from(&self, minute_of_day: i64) -> Option<i64> {
        (minute_of_day..1440)
            .find(|m| self.hours & (1 << (m / 60)) != 0 && self.minutes & (1 << (m % 60)) != 0)
    }

    fn day_matches(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        if self.months & (1 << month) == 0 {
            return false;
        }
        // 1970-01-01 was a Thursday (4).
        let dow = (day + 4).rem_euclid(7) as u32;
        let dom_ok = self.days_of_month & (1 << dom) != 0;
        let dow_ok = self.days_of_week & (1 << dow) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom_ok || dow_ok,
            _ => dom_ok && dow_ok,
        }
    }
}

/// The instant at which the civil minute `civil` (milliseconds since 1970-01-01T00:00 civil
/// time) runs in `tz`: its only instant, the first of two in a fold, or the end of the gap it
/// falls in. `None` outside the supported years.
fn resolve(tz: &TimeZone, civil: i64) -> Option<i64> {
    let utc = |offset: jiff::tz::Offset| civil.checked_sub(i64::from(offset.seconds()) * 1000);
    let datetime = TimeZone::UTC.to_datetime(jiff::Timestamp::from_millisecond(civil).ok()?);
    match tz.to_ambiguous_timestamp(datetime).offset() {
        AmbiguousOffset::Unambiguous { offset } => utc(offset),
        AmbiguousOffset::Fold { before, .. } => utc(before),
        AmbiguousOffset::Gap { after, .. } => {
            // `civil` read with the later offset falls just before the gap's transition.
            let before_gap = jiff::Timestamp::from_millisecond(utc(after)?).ok()?;
            let end = tz.following(before_gap).next()?.timestamp();
            Some(end.as_millisecond())
        }
    }
}

fn is_star(field: &str) -> bool {
    field == "*" || field == "?"
}

fn parse_field(expr: &str, field: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let err = |value: &str, expected: String| CronError {
        expr: expr.to_owned(),
        field: spec.name,
        value: value.to_owned(),
        expected,
    };
    let range_text = || {
        let mut s = format!("a number from {} to {}", spec.min, spec.max);
        if let (Some(first), Some(last)) = (spec.names.first(), spec.names.last()) {
            s.push_str(&format!(" or a name {first}-{last}"));
        }
        s
    };
    let value = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Names count from the field's minimum (JAN = 1, SUN = 0).
            return Ok(spec.min + i as u32);
        }
        match s.parse::<u32>() {
            Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
            _ => Err(err(s, range_text())),
        }
    };
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => match s.parse::<u32>() {
                Ok(n) if n > 0 => (r, n),
                _ => {
                    return Err(err(
                        part,
                        "a step that is a positive number, as in */15".into(),
                    ))
                }
            },
            None => (part, 1),
        };
        let (lo, hi) = if is_star(range) {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(err(
                    part,
                    format!("a range whose start ({a}) is not after its end ({b})"),
                ));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `a/n` means from a to the maximum, every n.
            (a, if part.contains('/') { spec.max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            match v.checked_add(step) {
                Some(n) => v = n,
                None => break,
            }
        }
    }
    Ok(bits)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

impl FromStr for CronSchedule {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, CronError> {
        CronSchedule::parse(s)
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CronSchedule::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<CronError> for crate::Error {
    fn from(e: CronError) -> Self {
        crate::Error::workflow(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        CronSchedule::parse(expr)
            .unwrap()
            .next_after(ts(after))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    }

    #[test]
    fn next_after_table() {
        let cases = [
            ("* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"),
            ("* * * * *", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"),
            ("0 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
            ("@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
            ("30 2 * * *", "2026-01-01T02:29:59Z", "2026-01-01T02:30:00Z"),
            ("30 2 * * *", "2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"),
            (
                "*/15 9-17 * * MON-FRI",
                "2026-01-02T17:50:00Z",
                "2026-01-05T09:00:00Z",
            ),
            ("0 0 1 * *", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("0 0 31 * *", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z"),
            ("0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("0 0 30 2 *", "2026-01-01T00:00:00Z", "never"),
            (
                "0 12 * DEC SUN",
                "2026-01-01T00:00:00Z",
                "2026-12-06T12:00:00Z",
            ),
            ("0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
            // Both day fields restricted: the 13th OR a Friday.
            ("0 0 13 * 5", "2026-01-03T00:00:00Z", "2026-01-09T00:00:00Z"),
            ("0 0 13 * 5", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z"),
            (
                "5/20 * * * *",
                "2026-01-01T00:06:00Z",
                "2026-01-01T00:25:00Z",
            ),
            (
                "0 0 1,15 * *",
                "2026-01-02T00:00:00Z",
                "2026-01-15T00:00:00Z",
            ),
            ("0 0 ? * 1", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
            ("@yearly", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            (
                "59 23 31 12 *",
                "2026-12-31T23:59:00Z",
                "2027-12-31T23:59:00Z",
            ),
        ];
        for (expr, after, want) in cases {
            assert_eq!(next(expr, after), want, "{expr} after {after}");
        }
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let cases = [
            ("* * * *", "expression"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * FOO *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "minute"),
            ("5-1 * * * *", "minute"),
            ("1,,2 * * * *", "minute"),
        ];
        for (expr, field) in cases {
            let e = CronSchedule::parse(expr).unwrap_err();
            assert_eq!(e.field, field, "{expr}: {e}");
            assert!(e.to_string().contains(expr), "{e}");
        }
        let e = CronSchedule::parse("61 * * * *").unwrap_err();
        assert_eq!(e.value, "61");
        assert!(e.expected.contains("0 to 59"), "{e}");
    }

    #[test]
    fn serde_and_display() {
        let c: CronSchedule = serde_json::from_str("\"0 3 * * *\"").unwrap();
        assert_eq!(c.to_string(), "0 3 * * *");
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"0 3 * * *\"");
        assert!(serde_json::from_str::<CronSchedule>("\"nope\"").is_err());
    }

    #[test]
    fn extremes_do_not_overflow() {
        let c = CronSchedule::parse("*/4294967295 * * * *").unwrap();
        assert_eq!(
            c.next_after(ts("2026-01-01T00:00:00Z"))
                .unwrap()
                .to_string(),
            "2026-01-01T01:00:00Z"
        );
        assert_eq!(c.next_after(Timestamp::from_millis(i64::MAX)), None);
        assert!(c.next_after(Timestamp::from_millis(i64::MIN / 2)).is_some());
        // In a zone, outside the years -9999 to 9999 nothing runs after, and before them the
        // first run is at the start of that range.
        let z = c.in_zone("Europe/Berlin").unwrap();
        assert_eq!(z.next_after(Timestamp::from_millis(i64::MAX)), None);
        let first = z.next_after(Timestamp::from_millis(i64::MIN / 2)).unwrap();
        let since_min = first.as_millis() - jiff::Timestamp::MIN.as_millisecond();
        assert!((1..=DAY_MS).contains(&since_min), "{since_min}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    // Invariant: `next_after(t)` is the smallest minute strictly after `t` that `matches`,
    // checked against a brute-force minute-by-minute scan.
    proptest! {
        #[test]
        fn next_after_agrees_with_brute_force(
            minute in prop::sample::select(vec!["*", "0", "*/7", "10-20", "5,35"]),
            hour in prop::sample::select(vec!["*", "3", "*/5", "22-23"]),
            dom in prop::sample::select(vec!["*", "1", "15-17", "*/10"]),
            dow in prop::sample::select(vec!["*", "0", "1-5", "SAT"]),
            start_min in 0i64..(60 * 24 * 60),
        ) {
            let expr = format!("{minute} {hour} {dom} * {dow}");
            let c = CronSchedule::parse(&expr).unwrap();
            let t = Timestamp::from_millis(1_767_225_600_000 + start_min * MINUTE_MS + 1234);
            let got = c.next_after(t).unwrap();
            let mut m = (t.as_millis() / MINUTE_MS + 1) * MINUTE_MS;
            while !c.matches(Timestamp::from_millis(m)) {
                m += MINUTE_MS;
            }
            prop_assert_eq!(got, Timestamp::from_millis(m), "{}", expr);
        }
    }

    fn jts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn dst_changes_of_2026_are_where_the_tables_expect() {
        let changes = |zone: &str| -> Vec<String> {
            let tz = TimeZone::get(zone).unwrap();
            tz.following(jts("2026-01-01T00:00:00Z"))
                .take(2)
                .map(|tr| tr.timestamp().to_string())
                .collect()
        };
        // Berlin: 02:00 CET -> 03:00 CEST, then 03:00 CEST -> 02:00 CET.
        assert_eq!(
            changes("Europe/Berlin"),
            ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"]
        );
        // New York: 02:00 EST -> 03:00 EDT, then 02:00 EDT -> 01:00 EST.
        assert_eq!(
            changes("America/New_York"),
            ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"]
        );
    }

    #[test]
    fn next_after_in_a_zone_table() {
        let berlin = "TZ=Europe/Berlin";
        let ny = "TZ=America/New_York";
        let cases = [
            // Winter (CET, +01:00) and summer (CEST, +02:00).
            (
                berlin,
                "30 2 * * *",
                "2026-01-01T12:00:00Z",
                "2026-01-02T01:30:00Z",
            ),
            (
                berlin,
                "30 2 * * *",
                "2026-07-01T12:00:00Z",
                "2026-07-02T00:30:00Z",
            ),
            // Gap day: 02:30 does not exist, the run is at 03:00 CEST, the end of the gap.
            (
                berlin,
                "30 2 * * *",
                "2026-03-28T12:00:00Z",
                "2026-03-29T01:00:00Z",
            ),
            (
                berlin,
                "30 2 * * *",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ),
            // Fold day: 02:30 happens twice, the run is at the first (CEST) one only.
            (
                berlin,
                "30 2 * * *",
                "2026-10-24T12:00:00Z",
                "2026-10-25T00:30:00Z",
            ),
            (
                berlin,
                "30 2 * * *",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ),
            // From inside the second occurrence of the repeated hour.
            (
                berlin,
                "30 2 * * *",
                "2026-10-25T01:15:00Z",
                "2026-10-26T01:30:00Z",
            ),
            (
                berlin,
                "* * * * *",
                "2026-10-25T01:15:00Z",
                "2026-10-25T02:00:00Z",
            ),
            // Weekdays at 02:30 Berlin time across the spring change (Fri 27 to Mon 30 March).
            (
                berlin,
                "30 2 * * MON-FRI",
                "2026-03-26T12:00:00Z",
                "2026-03-27T01:30:00Z",
            ),
            (
                berlin,
                "30 2 * * MON-FRI",
                "2026-03-27T12:00:00Z",
                "2026-03-30T00:30:00Z",
            ),
            // Several matching minutes in the gap run once, at its end.
            (
                berlin,
                "*/15 * * * *",
                "2026-03-29T00:50:00Z",
                "2026-03-29T01:00:00Z",
            ),
            (
                berlin,
                "*/15 * * * *",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:15:00Z",
            ),
            // New York: 02:30 on the gap day runs at 03:00 EDT.
            (
                ny,
                "30 2 * * *",
                "2026-03-07T12:00:00Z",
                "2026-03-08T07:00:00Z",
            ),
            (
                ny,
                "30 2 * * *",
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
            ),
            // 02:30 is not repeated in New York (01:00-01:59 is): one run at 02:30 EST.
            (
                ny,
                "30 2 * * *",
                "2026-10-31T12:00:00Z",
                "2026-11-01T07:30:00Z",
            ),
            // 01:30 is repeated: it runs at 01:30 EDT only.
            (
                ny,
                "30 1 * * *",
                "2026-10-31T12:00:00Z",
                "2026-11-01T05:30:00Z",
            ),
            (
                ny,
                "30 1 * * *",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ),
            // An explicit UTC zone is plain UTC.
            (
                "TZ=UTC",
                "30 2 * * *",
                "2026-03-28T12:00:00Z",
                "2026-03-29T02:30:00Z",
            ),
        ];
        for (zone, fields, after, want) in cases {
            let expr = format!("{zone} {fields}");
            assert_eq!(next(&expr, after), want, "{expr} after {after}");
        }
    }

    #[test]
    fn daily_job_runs_once_on_change_days() {
        let c = CronSchedule::parse("30 2 * * *")
            .unwrap()
            .in_zone("Europe/Berlin")
            .unwrap();
        let runs = |from: &str, to: &str| -> Vec<String> {
            c.occurrences(ts(from), ts(to))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            runs("2026-03-28T12:00:00Z", "2026-03-29T21:59:00Z"),
            ["2026-03-29T01:00:00Z"]
        );
        assert_eq!(
            runs("2026-10-24T12:00:00Z", "2026-10-25T22:59:00Z"),
            ["2026-10-25T00:30:00Z"]
        );
        assert!(c.matches(ts("2026-03-29T01:00:30Z")));
        assert!(c.matches(ts("2026-10-25T00:30:00Z")));
        assert!(!c.matches(ts("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn hourly_job_around_the_changes() {
        let hourly = |zone: &str, from: &str, to: &str| -> Vec<String> {
            CronSchedule::parse("0 * * * *")
                .unwrap()
                .in_zone(zone)
                .unwrap()
                .occurrences(ts(from), ts(to))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        // Berlin fall-back: 02:00 CEST (00:00Z) runs, 02:00 CET (01:00Z) does not run again,
        // 03:00 CET (02:00Z) does.
        assert_eq!(
            hourly(
                "Europe/Berlin",
                "2026-10-24T22:30:00Z",
                "2026-10-25T03:30:00Z"
            ),
            [
                "2026-10-24T23:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z",
            ]
        );
        // Berlin spring-forward: the skipped 02:00 and the real 03:00 CEST are one instant.
        assert_eq!(
            hourly(
                "Europe/Berlin",
                "2026-03-28T22:30:00Z",
                "2026-03-29T03:30:00Z"
            ),
            [
                "2026-03-28T23:00:00Z",
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z",
                "2026-03-29T03:00:00Z",
            ]
        );
        // New York fall-back: 01:00 EDT (05:00Z) runs, 01:00 EST (06:00Z) does not.
        assert_eq!(
            hourly(
                "America/New_York",
                "2026-11-01T03:30:00Z",
                "2026-11-01T08:30:00Z"
            ),
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z",
            ]
        );
    }

    #[test]
    fn zoned_parse_display_and_serde_round_trip() {
        let c = CronSchedule::parse("TZ=Europe/Berlin 30 2 * * MON-FRI").unwrap();
        assert_eq!(c.to_string(), "TZ=Europe/Berlin 30 2 * * MON-FRI");
        assert_eq!(c.time_zone(), Some("Europe/Berlin"));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"TZ=Europe/Berlin 30 2 * * MON-FRI\"");
        assert_eq!(serde_json::from_str::<CronSchedule>(&json).unwrap(), c);
        assert_eq!(c.to_string().parse::<CronSchedule>().unwrap(), c);
        let built = CronSchedule::parse("30 2 * * MON-FRI")
            .unwrap()
            .in_zone("Europe/Berlin")
            .unwrap();
        assert_eq!(built, c);

        // CRON_TZ= is read and written back as TZ=; macros work after the zone.
        let d = CronSchedule::parse("  CRON_TZ=America/New_York   @daily ").unwrap();
        assert_eq!(d.to_string(), "TZ=America/New_York @daily");
        assert_eq!(d.to_string().parse::<CronSchedule>().unwrap(), d);

        // in_zone replaces the zone.
        let u = c.clone().in_zone("UTC").unwrap();
        assert_eq!(u.to_string(), "TZ=UTC 30 2 * * MON-FRI");
        assert_eq!(u.time_zone(), Some("UTC"));

        // A UTC schedule is shown exactly as before.
        let plain = CronSchedule::parse("  30 2 * * MON-FRI ").unwrap();
        assert_eq!(plain.to_string(), "30 2 * * MON-FRI");
        assert_eq!(plain.time_zone(), None);
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            "\"30 2 * * MON-FRI\""
        );
        assert_ne!(plain, u);
    }

    #[test]
    fn unknown_zone_is_a_time_zone_error() {
        let e = CronSchedule::parse("0 * * * *")
            .unwrap()
            .in_zone("Mars/Olympus_Mons")
            .unwrap_err();
        assert_eq!(e.field, "time zone");
        assert_eq!(e.value, "Mars/Olympus_Mons");
        let msg = e.to_string();
        assert!(msg.contains("Mars/Olympus_Mons"), "{msg}");
        assert!(
            msg.contains("IANA") && msg.contains("Europe/Berlin"),
            "{msg}"
        );

        let e = CronSchedule::parse("TZ=Mars/Olympus_Mons 0 * * * *").unwrap_err();
        assert_eq!(
            (e.field, e.value.as_str()),
            ("time zone", "Mars/Olympus_Mons")
        );
        assert_eq!(e.expr, "TZ=Mars/Olympus_Mons 0 * * * *");
        let e = CronSchedule::parse("TZ= 0 * * * *").unwrap_err();
        assert_eq!((e.field, e.value.as_str()), ("time zone", ""));
        // Errors in the fields of a zoned expression still name the field.
        let e = CronSchedule::parse("TZ=Europe/Berlin 61 * * * *").unwrap_err();
        assert_eq!((e.field, e.value.as_str()), ("minute", "61"));
        let e = CronSchedule::parse("TZ=Europe/Berlin").unwrap_err();
        assert_eq!(e.field, "expression");
        // Zone names are matched without regard to case and shown as the database spells them.
        let c = CronSchedule::parse("TZ=europe/berlin 0 * * * *").unwrap();
        assert_eq!(c.to_string(), "TZ=Europe/Berlin 0 * * * *");
        assert!(
            serde_json::from_str::<CronSchedule>("\"TZ=Nowhere 0 * * * *\"")
                .unwrap_err()
                .to_string()
                .contains("time zone")
        );
    }

    /// Brute force for a zoned schedule: walks instants minute by minute from a day before `t`,
    /// keeping the latest civil minute seen; an instant whose civil minute is past it runs if
    /// that minute or any civil minute skipped on the way (a gap) matches; an instant whose
    /// civil minute was already seen (a fold) never runs.
    fn brute_zoned(c: &CronSchedule, tz: &TimeZone, t: i64) -> i64 {
        let civil = |u: i64| {
            let at = jiff::Timestamp::from_millisecond(u).unwrap();
            u + i64::from(tz.to_offset(at).seconds()) * 1000
        };
        let mut u = t - t.rem_euclid(MINUTE_MS) - DAY_MS;
        let mut latest = civil(u);
        loop {
            u += MINUTE_MS;
            let now = civil(u);
            if now > latest {
                let runs = (latest / MINUTE_MS + 1..=now / MINUTE_MS)
                    .any(|m| c.civil_minute_matches(m * MINUTE_MS));
                latest = now;
                if runs && u > t {
                    return u;
                }
            }
        }
    }

    // Invariant: in any zone, `next_after(t)` is the first instant after `t` at which a
    // minute-by-minute walk over instants, reading each as civil time in the zone, runs the
    // schedule (skipped matching minutes run at the end of a gap, repeated ones only at their
    // first occurrence), for start times anywhere in 2024-2029 and near every DST change.
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]
        #[test]
        fn zoned_next_after_agrees_with_brute_force(
            zone in prop::sample::select(vec![
                "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                "America/St_Johns", "Asia/Kathmandu", "UTC",
            ]),
            minute in prop::sample::select(vec!["*", "0", "30", "*/7", "15,45", "0-10"]),
            hour in prop::sample::select(vec!["*", "2", "1-3", "*/5", "0", "23"]),
            dom in prop::sample::select(vec!["*", "1", "*/10", "13-17"]),
            dow in prop::sample::select(vec!["*", "0", "1-5", "SAT"]),
            year in 2024i16..2030,
            near_change in any::<bool>(),
            change in 0usize..2,
            minute_of_year in 0i64..(365 * 24 * 60),
            around in -(6 * 60i64)..(6 * 60),
            sub_minute in 0i64..MINUTE_MS,
        ) {
            let expr = format!("TZ={zone} {minute} {hour} {dom} * {dow}");
            let c = CronSchedule::parse(&expr).unwrap();
            let tz = TimeZone::get(zone).unwrap();
            let year_start = jts(&format!("{year}-01-01T00:00:00Z"));
            let transition = tz.following(year_start).nth(change).map(|tr| tr.timestamp());
            let t = match (near_change, transition) {
                (true, Some(tr)) => tr.as_millisecond() + around * MINUTE_MS + sub_minute,
                _ => year_start.as_millisecond() + minute_of_year * MINUTE_MS + sub_minute,
            };
            let got = c.next_after(Timestamp::from_millis(t)).unwrap();
            prop_assert_eq!(got.as_millis(), brute_zoned(&c, &tz, t), "{} after {}", expr, t);
        }
    }
}
