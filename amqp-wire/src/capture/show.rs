//! How captured frames are shown: the frame itself exactly as
//! [`crate::display`] shows it everywhere else (`amqp-decode`, the client's
//! frame tap), after the capture time, the connection and the direction.
//!
//! ```text
//! 10:15:02.123456 127.0.0.1:40312 -> 127.0.0.1:5672 ch=0 connection.start-ok ...
//! 10:15:02.125001 127.0.0.1:40312 <- 127.0.0.1:5672 ch=0 connection.tune ...
//! ```

use std::fmt;
use std::time::Duration;

use super::{CapturedFrame, Direction, Item, Note, ServerBy};
use crate::display::json_str;

impl fmt::Display for CapturedFrame {
    /// One line: UTC time of day (to the microsecond), client, arrow,
    /// server, then the frame or the note. The client is always on the
    /// left, so a connection's lines line up; the arrow shows the way,
    /// `->` to the server and `<-` to the client, as the client's frame tap
    /// (`--trace`) writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.direction {
            Direction::ClientToServer => "->",
            Direction::ServerToClient => "<-",
        };
        write!(
            f,
            "{} {} {arrow} {} {}",
            TimeOfDay(self.time),
            self.connection.client,
            self.connection.server,
            self.item
        )
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProtocolHeader(header) => header.fmt(f),
            Self::Frame(frame) => frame.fmt(f),
            Self::Note(note) => write!(f, "note: {note}"),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MidConnection { server_by } => {
                write!(
                    f,
                    "capture starts mid-connection (no SYN seen): server guessed "
                )?;
                match server_by {
                    ServerBy::AmqpPort(port) => write!(f, "by its AMQP port {port}"),
                    ServerBy::LowerPort => f.write_str("as the side with the lower port"),
                }?;
                f.write_str("; decoding from the next frame boundary")
            }
            Self::Gap { missing } => {
                write!(
                    f,
                    "{missing} octets missing from the capture (TCP sequence gap)"
                )
            }
            Self::Resync { skipped } => {
                write!(
                    f,
                    "resynchronised on a frame boundary after skipping {skipped} octets"
                )
            }
            Self::Malformed { error } => write!(
                f,
                "malformed frame: {error} (reply code {}); looking for the next frame boundary",
                error.reply_code()
            ),
            Self::Unfinished { octets } => {
                write!(
                    f,
                    "stream ends inside a frame: {octets} octets left undecoded"
                )
            }
        }
    }
}

impl CapturedFrame {
    /// One line of JSON: `time` (RFC 3339, UTC), `packet`, `client`,
    /// `server` and `from` (`"client"` or `"server"`), then the members of
    /// [`Frame::to_json`](crate::Frame::to_json) (or
    /// [`ProtocolHeader::to_json`](crate::ProtocolHeader::to_json)) for a
    /// frame, so that filters written for `amqp-decode` work on captures too,
    /// or `note` and its details for a note.
    pub fn to_json(&self) -> String {
        let from = match self.direction {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        };
        let mut out = format!(
            r#"{{"time":"{}","packet":{},"client":"{}","server":"{}","from":"{from}","#,
            Rfc3339(self.time),
            self.packet,
            self.connection.client,
            self.connection.server
        );
        let rest = match &self.item {
            Item::ProtocolHeader(header) => header.to_json(),
            Item::Frame(frame) => frame.to_json(),
            Item::Note(note) => note_json(note),
        };
        // Each of them is an object: its members go on after ours.
        out.push_str(rest.strip_prefix('{').unwrap_or(&rest));
        out
    }
}

fn note_json(note: &Note) -> String {
    let mut text = String::new();
    json_str(&mut text, &note.to_string());
    match note {
        Note::MidConnection { server_by } => {
            let by = match server_by {
                ServerBy::AmqpPort(port) => format!(r#""amqp_port","port":{port}"#),
                ServerBy::LowerPort => r#""lower_port""#.into(),
            };
            format!(r#"{{"note":"mid_connection","server_by":{by},"text":{text}}}"#)
        }
        Note::Gap { missing } => {
            format!(r#"{{"note":"gap","missing":{missing},"text":{text}}}"#)
        }
        Note::Resync { skipped } => {
            format!(r#"{{"note":"resync","skipped":{skipped},"text":{text}}}"#)
        }
        Note::Malformed { error } => format!(
            r#"{{"note":"malformed","reply_code":{},"text":{text}}}"#,
            error.reply_code().0
        ),
        Note::Unfinished { octets } => {
            format!(r#"{{"note":"unfinished","octets":{octets},"text":{text}}}"#)
        }
    }
}

/// `HH:MM:SS.ffffff`, UTC, as tcpdump prints times (in local time).
struct TimeOfDay(Duration);

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:06}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            self.0.subsec_micros()
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, with nine fraction digits when the
/// capture has nanoseconds.
struct Rfc3339(Duration);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let time = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
            time / 3600,
            time / 60 % 60,
            time % 60
        )?;
        let nanos = self.0.subsec_nanos();
        if nanos % 1000 == 0 {
            write!(f, "{:06}Z", nanos / 1000)
        } else {
            write!(f, "{nanos:09}Z")
        }
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01: the calendar's
/// 400-year cycle (146,097 days), counted from a March 1st so that the leap
/// day ends a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 0..=11.
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_across_leap_years_and_centuries() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(47_481), (2099, 12, 31));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    #[test]
    fn rfc3339_with_micro_or_nanoseconds() {
        let t = Duration::new(1_714_557_302, 123_456_000);
        assert_eq!(Rfc3339(t).to_string(), "2024-05-01T09:55:02.123456Z");
        assert_eq!(TimeOfDay(t).to_string(), "09:55:02.123456");
        let t = Duration::new(1_714_557_302, 123_456_789);
        assert_eq!(Rfc3339(t).to_string(), "2024-05-01T09:55:02.123456789Z");
    }
}
