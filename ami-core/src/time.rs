//! Time: timestamps shown to users, and the one injectable clock workflows read.
//!
//! Workflows never read the wall clock directly and never block a thread: they sleep with
//! `tokio::time::sleep` and read "now" from a [`Clock`]. On the simulator the clock is
//! [`VirtualClock`]: a fixed epoch plus tokio's (pausable) elapsed time, so a simulated day
//! passes in microseconds inside a `start_paused` runtime.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in whole milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// From whole seconds since the Unix epoch.
    pub const fn from_secs(s: i64) -> Self {
        // Saturating: seconds beyond the millisecond range (±292 million years) clamp to its
        // ends instead of overflowing.
        Timestamp(s.saturating_mul(1000))
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This time plus a duration (saturating).
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// This time minus a duration (saturating).
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// The duration from `earlier` to `self`, or zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Rounded to the nearest whole minute, as AWS does for deprecation times.
    pub fn round_to_minute(self) -> Self {
        Timestamp(
            self.0
                .saturating_add(30_000)
                .div_euclid(60_000)
                .saturating_mul(60_000),
        )
    }

    /// The wall clock now. Only for real-AWS use; workflows take time from a [`Clock`].
    pub fn now_wall() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }

    fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }
}

/// The last millisecond RFC 3339 can write: 9999-12-31T23:59:59.999Z.
const LAST_RFC3339_MS: i64 = 253_402_300_799_999;

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with milliseconds only when they are not zero. Before 1970 (reachable
    /// by arithmetic, not by parsing) the same form, with years before 0 as ISO 8601 extends
    /// them (`-000001-…`); outside the years -9999 to 9999, the milliseconds since the epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !(0..=LAST_RFC3339_MS).contains(&self.0) {
            let printer = jiff::fmt::temporal::DateTimePrinter::new()
                .precision(Some(if self.0 % 1000 == 0 { 0 } else { 3 }));
            return match jiff::Timestamp::from_millisecond(self.0) {
                Ok(t) => f.write_str(&printer.timestamp_to_string(&t)),
                Err(_) => write!(f, "{} ms after the Unix epoch", self.0),
            };
        }
        if self.0 % 1000 == 0 {
            write!(
                f,
                "{}",
                humantime::format_rfc3339_seconds(self.to_system_time())
            )
        } else {
            write!(
                f,
                "{}",
                humantime::format_rfc3339_millis(self.to_system_time())
            )
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// A timestamp that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected RFC 3339 such as 2026-01-31T12:00:00Z")]
pub struct TimestampError(pub String);

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = humantime::parse_rfc3339_weak(s).map_err(|_| TimestampError(s.to_owned()))?;
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).map_err(|_| TimestampError(s.to_owned()))?,
            Err(e) => -i64::try_from(e.duration().as_millis())
                .map_err(|_| TimestampError(s.to_owned()))?,
        };
        Ok(Timestamp(ms))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where workflows read "now" from. Sleeping is always `tokio::time::sleep`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock, for real AWS.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now_wall()
    }
}

/// A fixed epoch plus the elapsed time of tokio's clock (virtual in a paused runtime).
///
/// The tokio instant is captured at construction, so it must be built inside a runtime.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    epoch: Timestamp,
    start: tokio::time::Instant,
}

impl VirtualClock {
    /// The default virtual epoch: 2026-01-01T00:00:00Z.
    pub const DEFAULT_EPOCH: Timestamp = Timestamp::from_secs(1_767_225_600);

    /// A clock that reads `epoch` now and advances with tokio's clock.
    pub fn new(epoch: Timestamp) -> Self {
        VirtualClock {
            epoch,
            start: tokio::time::Instant::now(),
        }
    }

    /// The epoch this clock started from.
    pub fn epoch(&self) -> Timestamp {
        self.epoch
    }

    /// The tokio instant that corresponds to `t` (clamped to the clock's start).
    pub fn instant_at(&self, t: Timestamp) -> tokio::time::Instant {
        self.start + t.since(self.epoch)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        self.epoch.add(self.start.elapsed())
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any millisecond prints without panicking: before 1970, after 9999, at the extremes.
    #[test]
    fn display_outside_rfc3339_years() {
        for (ms, text) in [
            (-1_000, "1969-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00Z"),
            (-62_198_755_200_000, "-000001-01-01T00:00:00Z"),
            (LAST_RFC3339_MS, "9999-12-31T23:59:59.999Z"),
            (
                LAST_RFC3339_MS + 1,
                "253402300800000 ms after the Unix epoch",
            ),
            (i64::MAX, "9223372036854775807 ms after the Unix epoch"),
            (i64::MIN, "-9223372036854775808 ms after the Unix epoch"),
        ] {
            assert_eq!(Timestamp::from_millis(ms).to_string(), text, "{ms}");
        }
        // Rounding at the extremes stays within the range.
        for ms in [i64::MIN, i64::MAX] {
            let r = Timestamp::from_millis(ms).round_to_minute().as_millis();
            assert!(r.abs_diff(ms) <= 60_000, "{ms} rounded to {r}");
        }
    }

    proptest::proptest! {
        /// Within the years 1970 to 9999 both printers agree, so the form of every timestamp
        /// the simulator logs is the one it always was.
        #[test]
        fn rfc3339_years_print_as_before(ms in 0..=LAST_RFC3339_MS) {
            let t = Timestamp::from_millis(ms);
            let printer = jiff::fmt::temporal::DateTimePrinter::new()
                .precision(Some(if ms % 1000 == 0 { 0 } else { 3 }));
            let j = printer.timestamp_to_string(&jiff::Timestamp::from_millisecond(ms).unwrap());
            proptest::prop_assert_eq!(t.to_string(), j);
        }
    }

    #[test]
    fn display_and_parse() {
        let t = VirtualClock::DEFAULT_EPOCH;
        assert_eq!(t.to_string(), "2026-01-01T00:00:00Z");
        assert_eq!("2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap(), t);
        let t2 = t.add(Duration::from_millis(1500));
        assert_eq!(t2.to_string(), "2026-01-01T00:00:01.500Z");
        assert_eq!(t2.to_string().parse::<Timestamp>().unwrap(), t2);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn rounding_and_arithmetic() {
        let t = Timestamp::from_secs(90);
        assert_eq!(t.round_to_minute(), Timestamp::from_secs(120));
        assert_eq!(
            Timestamp::from_secs(89).round_to_minute(),
            Timestamp::from_secs(60)
        );
        assert_eq!(t.since(Timestamp::from_secs(30)), Duration::from_secs(60));
        assert_eq!(Timestamp::from_secs(30).since(t), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_tokio() {
        let c = VirtualClock::new(VirtualClock::DEFAULT_EPOCH);
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        assert_eq!(
            c.now(),
            VirtualClock::DEFAULT_EPOCH.add(Duration::from_secs(86_400))
        );
    }
}
