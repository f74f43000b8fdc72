//! A 5-field cron expression (UTC), evaluated on any [`Timestamp`], never on the wall clock.
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

use std::fmt;
use std::str::FromStr;

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
    /// The field name (`minute`, `hour`, `day of month`, `month`, `day of week`, or
    /// `expression`).
    pub field: &'static str,
    /// The offending part.
    pub value: String,
    /// What is expected instead.
    pub expected: String,
}

/// A parsed 5-field cron schedule, in UTC.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    expr: String,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    dom_restricted: bool,
    dow_restricted: bool,
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
    /// Parses an expression (see the module docs for the syntax).
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let trimmed = expr.trim();
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
            expr: expr.trim().to_owned(),
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

    /// Whether the minute that starts at `t` (rounded down to the minute) matches.
    pub fn matches(&self, t: Timestamp) -> bool {
        let ms = t.as_millis();
        let day = ms.div_euclid(DAY_MS);
        let minute_of_day = ms.rem_euclid(DAY_MS) / MINUTE_MS;
        self.day_matches(day)
            && self.hours & (1 << (minute_of_day / 60)) != 0
            && self.minutes & (1 << (minute_of_day % 60)) != 0
    }

    /// The first matching minute strictly after `t`, or `None` if none comes within 29 years
    /// (e.g. `0 0 30 2 *`, which never matches).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        // The first whole minute strictly after t (None past the end of time).
        let start = (t.as_millis().div_euclid(MINUTE_MS) + 1).checked_mul(MINUTE_MS)?;
        let first_day = start.div_euclid(DAY_MS);
        let mut from_minute = start.rem_euclid(DAY_MS) / MINUTE_MS;
        for day in first_day..first_day.saturating_add(SEARCH_DAYS) {
            if self.day_matches(day) {
                if let Some(m) = self.first_minute_from(from_minute) {
                    let ms = day.checked_mul(DAY_MS)?.checked_add(m * MINUTE_MS)?;
                    return Some(Timestamp::from_millis(ms));
                }
            }
            from_minute = 0;
        }
        None
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
}
