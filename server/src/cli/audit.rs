//! `outbox-sync-server audit --event-id ID`: finds one event in the audit
//! trail of the database (SQLite file or PostgreSQL), for support: did the
//! server apply it, when, as which version, for whom.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::DEFAULT_DATA;
use crate::audit::Entry;
use crate::config::Database;

/// Flags of the `audit` subcommand.
#[derive(Debug, ClapArgs)]
pub struct AuditArgs {
    /// The event id to find (the outbox event's id, also its idempotency key).
    #[arg(long, value_name = "ID")]
    pub event_id: String,

    /// Only this user's entries (event ids are unique per user).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// The server's SQLite file (default ./data/outbox-sync.sqlite3).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// The server's PostgreSQL database instead of SQLite.
    #[arg(
        long,
        env = "OUTBOX_SYNC_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// A PEM file of CA certificates for TLS to PostgreSQL.
    #[arg(long, env = "OUTBOX_SYNC_DATABASE_CA_FILE", value_name = "PATH")]
    pub database_ca_file: Option<PathBuf>,

    /// One JSON object per entry instead of text lines.
    #[arg(long)]
    pub json: bool,
}

impl AuditArgs {
    /// The database to read; a SQLite file must exist (this command never
    /// creates one).
    pub fn database(&self) -> Result<Database, String> {
        let url = self.database_url.as_deref().map(str::trim);
        match url.filter(|url| !url.is_empty()) {
            Some(_) if self.data.is_some() => Err(
                "both --data (SQLite) and --database-url (PostgreSQL, also read from \
                 OUTBOX_SYNC_DATABASE_URL) are set: pass only one"
                    .to_owned(),
            ),
            Some(url) => Ok(Database::Postgres {
                url: url.to_owned(),
                pool: 1,
                ca_file: self.database_ca_file.clone(),
            }),
            None => {
                let path = self.data.clone().unwrap_or_else(|| DEFAULT_DATA.into());
                if !path.is_file() {
                    return Err(format!(
                        "there is no database at {}: pass --data with the server's SQLite \
                         file, or --database-url for PostgreSQL",
                        path.display()
                    ));
                }
                Ok(Database::Sqlite {
                    path,
                    durable: true,
                })
            }
        }
    }
}

/// The lines to print for `entries`: text, or JSON with `json`.
pub fn render(entries: &[Entry], json: bool) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            if json {
                serde_json::to_string(entry).unwrap_or_default()
            } else {
                let version = entry
                    .version
                    .map_or_else(|| "-".to_owned(), |v| v.to_string());
                format!(
                    "#{} {} user={} event={} {}/{} {} {} version={}",
                    entry.id,
                    utc(entry.at_ms),
                    entry.user,
                    entry.event_id.as_deref().unwrap_or("-"),
                    entry.collection,
                    entry.record_id,
                    entry.op,
                    entry.outcome,
                    version
                )
            }
        })
        .collect()
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_764_576_000_123), "2025-12-01T08:00:00.123Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn entries_print_one_line_each() {
        let entry = Entry {
            id: 3,
            user: "alice".into(),
            event_id: Some("e1".into()),
            collection: "notes".into(),
            record_id: "n1".into(),
            version: Some(7),
            op: "put".into(),
            outcome: "applied".into(),
            at_ms: 0,
        };
        assert_eq!(
            render(std::slice::from_ref(&entry), false),
            ["#3 1970-01-01T00:00:00.000Z user=alice event=e1 notes/n1 put applied version=7"]
        );
        let json: serde_json::Value = serde_json::from_str(&render(&[entry], true)[0]).unwrap();
        assert_eq!(json["event_id"], "e1");
    }
}
