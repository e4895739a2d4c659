//! What a pull does with the server's answer, and reading `Retry-After`.
//!
//! The HTTP adapter (`net`) turns the server's answer to `GET /v1/changes`
//! into a [`PullReply`]; [`next_pull_step`] decides what it means (a page
//! to apply, a full resync, a stop and why) and the engine carries it out.
//! The `Retry-After` reader is shared by push and pull answers and lives
//! here so that it is tested natively.

use outbox_sync_protocol::ChangesResponse;

use super::drain_machine::Halt;
use super::reply::Reply;
use super::retry::RetryPolicy;
use super::verdict::{judge, Verdict, NOT_ANSWERING, OFFLINE, UNREACHABLE};
use super::words::{self, Reason};

/// What the pull does after one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum PullStep {
    /// Save this page with its token; pull again after it when `more`.
    Apply {
        /// The page.
        page: ChangesResponse,
        /// The server has more after this page (and its token moved on).
        more: bool,
    },
    /// The token is older than the server keeps (`410`): forget it and
    /// pull everything again, keeping pending local changes.
    Resync,
    /// Stop pulling.
    Halt(Halt),
}

/// Decides what a pull answer means. `token` is the one the pull was sent
/// with; `resynced` says this pull already started again once (a second
/// `410` in a row stops it).
pub fn next_pull_step(
    reply: PullReply,
    token: Option<&str>,
    resynced: bool,
    policy: &RetryPolicy,
    now_ms: u64,
    random: f64,
) -> PullStep {
    let wait = |retry_after_ms: Option<u64>, what: &str| {
        let delay = retry_after_ms
            .map(|ms| policy.server_delay_ms(ms))
            .unwrap_or_else(|| policy.delay_ms(1, random));
        PullStep::Halt(Halt::Wait {
            until_ms: now_ms + delay,
            reason: what.to_owned(),
        })
    };
    match reply {
        PullReply::Answer(page) => {
            // A token that does not move would pull the same page for ever.
            let more = page.has_more && page.next_token.as_str() != token.unwrap_or("");
            PullStep::Apply { page, more }
        }
        PullReply::Status { status: 410, .. } if !resynced => PullStep::Resync,
        PullReply::Status { status: 410, .. } => PullStep::Halt(Halt::Failed(
            Reason::new(words::PULL_NOT_FETCHED)
                .with_detail("the server asked for a full resync (410) twice in a row")
                .encode(),
        )),
        PullReply::Status {
            status,
            retry_after_ms,
            code,
            message,
        } => {
            let detail = words::http_detail(status, code.as_deref(), message.as_deref());
            match judge(status) {
                Verdict::AuthRequired => PullStep::Halt(Halt::AuthRequired),
                Verdict::Wait(what) => wait(
                    retry_after_ms,
                    &Reason::new(what).with_detail(detail).encode(),
                ),
                Verdict::Refused => PullStep::Halt(Halt::Failed(
                    Reason::new(words::PULL_REFUSED)
                        .with_detail(detail)
                        .encode(),
                )),
            }
        }
        PullReply::Network => wait(None, OFFLINE),
        PullReply::Unreachable => wait(None, UNREACHABLE),
        PullReply::Timeout => wait(None, NOT_ANSWERING),
        PullReply::Malformed(why) => PullStep::Halt(Halt::Failed(
            Reason::new(words::PULL_UNREADABLE)
                .with_detail(format!("malformed pull page: {why}"))
                .encode(),
        )),
    }
}

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

    fn step(reply: PullReply, token: Option<&str>, resynced: bool) -> PullStep {
        next_pull_step(reply, token, resynced, &RetryPolicy::default(), 1_000, 0.5)
    }

    fn status(status: u16, retry_after_ms: Option<u64>) -> PullReply {
        PullReply::Status {
            status,
            retry_after_ms,
            code: None,
            message: None,
        }
    }

    #[test]
    fn a_page_pulls_again_only_when_the_server_has_more_and_the_token_moved() {
        let page = |token: &str, has_more| {
            PullReply::Answer(ChangesResponse {
                changes: vec![],
                next_token: token.into(),
                has_more,
            })
        };
        let more = |s: PullStep| matches!(s, PullStep::Apply { more, .. } if more);
        assert!(more(step(page("t2", true), Some("t1"), false)));
        assert!(!more(step(page("t2", false), Some("t1"), false)));
        assert!(
            !more(step(page("t1", true), Some("t1"), false)),
            "stuck token"
        );
    }

    #[test]
    fn gone_resyncs_once_then_stops() {
        assert_eq!(step(status(410, None), Some("t"), false), PullStep::Resync);
        assert!(matches!(
            step(status(410, None), None, true),
            PullStep::Halt(Halt::Failed(_))
        ));
    }

    #[test]
    fn the_server_s_status_says_whether_to_wait_sign_in_or_stop() {
        assert_eq!(
            step(status(401, None), None, false),
            PullStep::Halt(Halt::AuthRequired)
        );
        let PullStep::Halt(Halt::Wait { until_ms, .. }) =
            step(status(503, Some(7_000)), None, false)
        else {
            panic!("a busy server is waited for")
        };
        assert_eq!(until_ms, 8_000, "Retry-After is honoured");
        let PullStep::Halt(Halt::Wait { until_ms, reason }) = step(PullReply::Network, None, false)
        else {
            panic!("offline is waited for")
        };
        assert!((1_000..=2_000).contains(&until_ms));
        assert_eq!(reason, OFFLINE);
        assert!(matches!(
            step(status(400, None), None, false),
            PullStep::Halt(Halt::Failed(_))
        ));
    }

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
