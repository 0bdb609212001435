//! Output: whole lines, flushed as they are written (so a pipe sees them live), coloured only
//! on a terminal, and errors as one `error: ...` line.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// The colours (and two text styles) used by the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Errors, killed connections.
    Red,
    /// Done, OK, frames sent.
    Green,
    /// Redeliveries, warnings.
    Yellow,
    /// Frames received.
    Blue,
    /// A worker's colour.
    Magenta,
    /// A worker's colour.
    Cyan,
    /// Less important text: time offsets, progress.
    Dim,
    /// Headings.
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Self::Red => "31",
            Self::Green => "32",
            Self::Yellow => "33",
            Self::Blue => "34",
            Self::Magenta => "35",
            Self::Cyan => "36",
            Self::Dim => "2",
            Self::Bold => "1",
        }
    }
}

/// Whether to colour text: on a terminal only, and never when `NO_COLOR` is set
/// (<https://no-color.org>) or `TERM=dumb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour if standard output is a terminal.
    pub fn stdout() -> Self {
        Self {
            colour: wants_colour(std::io::stdout().is_terminal()),
        }
    }

    /// Colour if standard error is a terminal.
    pub fn stderr() -> Self {
        Self {
            colour: wants_colour(std::io::stderr().is_terminal()),
        }
    }

    /// Never colour.
    pub fn plain() -> Self {
        Self { colour: false }
    }

    /// Whether this style colours at all.
    pub fn is_coloured(self) -> bool {
        self.colour
    }

    /// `text` in `colour` (or unchanged when not colouring).
    pub fn paint(self, colour: Color, text: impl Display) -> String {
        if self.colour {
            format!("\x1b[{}m{text}\x1b[0m", colour.code())
        } else {
            text.to_string()
        }
    }

    /// A worker's name in that worker's colour (numbered from 1), so that a terminal shows at a
    /// glance who is doing what.
    pub fn worker(self, number: usize, name: &str) -> String {
        const PALETTE: [Color; 4] = [Color::Cyan, Color::Magenta, Color::Yellow, Color::Blue];
        self.paint(PALETTE[number.saturating_sub(1) % PALETTE.len()], name)
    }
}

fn wants_colour(is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    is_terminal && !no_color && !dumb
}

/// `1 worker`, `3 workers`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Prints one line on standard output and flushes it. A closed pipe (`demo | head`) is not an
/// error worth a panic: the line is dropped.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints one line on standard error and flushes it.
pub fn warn(line: impl Display) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// A failure that ends a binary: one line for the user and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// What went wrong and, where it helps, what to do about it. One line.
    pub message: String,
    /// 1 for a failure at run time, 2 for a bad command line.
    pub status: u8,
}

impl Fail {
    /// A failure at run time (exit status 1).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: one_line(&message.into()),
            status: 1,
        }
    }

    /// A bad command line (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: one_line(&message.into()),
            status: 2,
        }
    }

    /// The reply to `method` (`queue.declare`, ...) did not come. amqp-client returns `None`
    /// for a reply only when the method was sent with `nowait`, which the demo never does.
    pub fn no_reply(method: &str) -> Self {
        Self::new(format!("{method}: no reply from the broker"))
    }

    /// The same failure with `context: ` in front.
    pub fn context(self, context: impl Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            status: self.status,
        }
    }
}

impl Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<amqp_client::Error> for Fail {
    fn from(e: amqp_client::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// Joins the lines of `text` with `; ` so that an error is always one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ends `main`: prints `error: ...` on standard error for a failure and turns it into the exit
/// status (no panic, no backtrace).
pub fn finish(result: Result<(), Fail>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            let style = Style::stderr();
            warn(format!(
                "{} {}",
                style.paint(Color::Red, "error:"),
                fail.message
            ));
            ExitCode::from(fail.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_leaves_text_alone() {
        assert_eq!(Style::plain().paint(Color::Red, "x"), "x");
        assert_eq!(Style::plain().worker(2, "worker-2"), "worker-2");
        let coloured = Style { colour: true };
        assert_eq!(coloured.paint(Color::Green, "ok"), "\x1b[32mok\x1b[0m");
        assert_eq!(count(1u32, "task"), "1 task");
        assert_eq!(count(12u32, "task"), "12 tasks");
    }

    #[test]
    fn failures_are_one_line() {
        let f = Fail::new("first\n\n  second  \nthird");
        assert_eq!(f.message, "first; second; third");
        assert_eq!(f.status, 1);
        assert_eq!(Fail::usage("bad").context("--x").to_string(), "--x: bad");
    }
}
