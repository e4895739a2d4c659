//! What the transport reports for a pull, and reading `Retry-After`.
//!
//! The HTTP adapter (`net`) turns the server's answer to `GET /v1/changes`
//! into a [`PullReply`]; the engine decides what to do with it. The
//! `Retry-After` reader is shared by push and pull answers and lives here so
//! that it is tested natively.

use outbox_sync_protocol::ChangesResponse;

use super::reply::Reply;

/// The server's answer to one pull, as the transport saw it: `Answer` holds
/// a page of changes. A `410` (`Status { status: 410, .. }`) means the token
/// is older than the server keeps deletions for, or comes from another
/// database: pull again without `since`.
pub type PullReply = Reply<ChangesResponse>;

/// Reads a `Retry-After` value as a delay in milliseconds from `now_ms`.
///
/// Accepts delay-seconds (`"120"`) and the three HTTP-date forms of RFC 9110
/// (`"Sun, 06 Nov 1994 08:49:37 GMT"`, the obsolete RFC 850 and asctime
/// forms). A date in the past is a delay of `0`; anything else is `None`.
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time".
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(seconds.saturating_mul(1000));
    }
    let at_ms = http_date_ms(value)?;
    Some(at_ms.saturating_sub(now_ms))
}

/// An HTTP-date as milliseconds since the Unix epoch.
fn http_date_ms(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value
        .split([' ', ',', '-'])
        .filter(|p| !p.is_empty())
        .collect();
    // The weekday comes first in every form and says nothing we need.
    let (day, month, year, time) = match parts.as_slice() {
        // asctime: `Sun Nov  6 08:49:37 1994`
        [_, month, day, time, year] if month.bytes().all(|b| b.is_ascii_alphabetic()) => {
            (*day, *month, *year, *time)
        }
        // IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`
        [_, day, month, year, time, "GMT"] => (*day, *month, *year, *time),
        _ => return None,
    };
    let day: u32 = number(day, 2)?;
    let month = month_number(month)?;
    let year = match (year.len(), number::<i64>(year, 4)?) {
        // RFC 850's two-digit years: the RFC asks for the nearest past
        // century; 70 keeps the Unix epoch on the right side.
        (2, y) if y < 70 => 2000 + y,
        (2, y) => 1900 + y,
        (4, y) => y,
        _ => return None,
    };
    let mut clock = time.split(':');
    let hour: u64 = number(clock.next()?, 2)?;
    let minute: u64 = number(clock.next()?, 2)?;
    let second: u64 = number(clock.next()?, 2)?;
    if clock.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000)
}

/// A run of at most `digits` ASCII digits as a number.
fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    let ok = !text.is_empty() && text.len() <= digits && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten()
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|m| *m == name)?;
    u32::try_from(index + 1).ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, the RFC's example date.
    const EXAMPLE_MS: u64 = 784_111_777_000;

    #[test]
    fn delay_seconds_become_milliseconds() {
        assert_eq!(retry_after_ms("120", 0), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", 5), Some(0));
        assert_eq!(retry_after_ms("99999999999999999999999", 0), Some(u64::MAX));
    }

    #[test]
    fn all_three_http_date_forms_are_read() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                retry_after_ms(form, EXAMPLE_MS - 30_000),
                Some(30_000),
                "{form}"
            );
        }
    }

    #[test]
    fn a_date_in_the_past_means_now() {
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_MS + 1),
            Some(0)
        );
    }

    #[test]
    fn dates_after_february_and_in_leap_years_are_right() {
        // 2024-03-01T00:00:00Z, the day after a leap day.
        assert_eq!(
            http_date_ms("Fri, 01 Mar 2024 00:00:00 GMT"),
            Some(1_709_251_200_000)
        );
        assert_eq!(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    #[test]
    fn anything_else_is_not_a_delay() {
        for bad in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Wed, 01 Jan 1969 00:00:00 GMT",
        ] {
            assert_eq!(retry_after_ms(bad, 0), None, "{bad:?}");
        }
    }
}
