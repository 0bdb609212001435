//! A small hand-written command-line parser: `--name value`, `--name=value`, flags, words, and
//! `--` to end the options. Each binary matches on the option names it knows; the ones all
//! binaries share (`--url`, `--queue`, `--trace`) are handled by [`Common`].

use std::collections::VecDeque;
use std::str::FromStr;

use crate::output::Fail;

/// The queue of the tutorial.
pub const DEFAULT_QUEUE: &str = "task_queue";

/// One command-line argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `--name`, `--name=value` or `-h`; `value` is the part after `=`.
    Opt {
        /// The name without the dashes.
        name: String,
        /// The value given with `=`, if any.
        value: Option<String>,
    },
    /// Anything else (and everything after `--`).
    Word(String),
}

/// The arguments still to be read.
#[derive(Debug, Clone)]
pub struct Args {
    args: VecDeque<String>,
    only_words: bool,
}

impl Args {
    /// The process's arguments, without the program name.
    pub fn from_env() -> Self {
        Self::new(std::env::args().skip(1))
    }

    /// The given arguments (for tests).
    pub fn new(args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            args: args.into_iter().map(Into::into).collect(),
            only_words: false,
        }
    }

    /// The next argument, if any.
    pub fn next_arg(&mut self) -> Option<Arg> {
        let arg = self.args.pop_front()?;
        if self.only_words {
            return Some(Arg::Word(arg));
        }
        if arg == "--" {
            self.only_words = true;
            return self.next_arg();
        }
        if arg == "-h" {
            return Some(Arg::Opt {
                name: "help".into(),
                value: None,
            });
        }
        match arg.strip_prefix("--") {
            Some(opt) => {
                let (name, value) = match opt.split_once('=') {
                    Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                    None => (opt.to_owned(), None),
                };
                Some(Arg::Opt { name, value })
            }
            None => Some(Arg::Word(arg)),
        }
    }

    /// The value of option `--name`: the part after `=`, else the next argument.
    pub fn value(&mut self, name: &str, inline: Option<String>) -> Result<String, Fail> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .args
                .pop_front()
                .ok_or_else(|| Fail::usage(format!("--{name} needs a value (see --help)"))),
        }
    }

    /// The value of option `--name`, parsed as a number (or anything else that parses).
    pub fn number<T: FromStr>(&mut self, name: &str, inline: Option<String>) -> Result<T, Fail> {
        let text = self.value(name, inline)?;
        text.trim().parse().map_err(|_| {
            Fail::usage(format!(
                "--{name} needs a whole number, got {text:?} (see --help)"
            ))
        })
    }
}

/// An argument for a binary's own parser: what is left once [`Common::next_own`] has taken the
/// shared options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Own {
    /// `--help` (or `-h`), without a value.
    Help,
    /// An option the binary must know, or reject with [`unknown`].
    Opt {
        /// The name without the dashes.
        name: String,
        /// The value given with `=`, if any.
        value: Option<String>,
    },
    /// A word (not an option).
    Word(String),
}

impl Own {
    /// For a binary that takes no words: the option's name and value; `None` for `--help`; a
    /// word is an error ([`unexpected`]).
    pub fn into_option(self) -> Result<Option<(String, Option<String>)>, Fail> {
        match self {
            Self::Help => Ok(None),
            Self::Word(word) => Err(unexpected(&word)),
            Self::Opt { name, value } => Ok(Some((name, value))),
        }
    }
}

/// The error for a word a binary takes none of.
pub fn unexpected(word: &str) -> Fail {
    Fail::usage(format!("unexpected argument {word:?} (see --help)"))
}

/// The error for an option a binary does not know.
pub fn unknown(name: &str) -> Fail {
    Fail::usage(format!("unknown option --{name} (see --help)"))
}

/// The error for a flag that was given a value (`--trace=yes`).
pub fn no_value(name: &str, value: &Option<String>) -> Result<(), Fail> {
    match value {
        Some(v) => Err(Fail::usage(format!(
            "--{name} takes no value, got {v:?} (see --help)"
        ))),
        None => Ok(()),
    }
}

/// The options every binary takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `--url`: the broker; `None` means `AMQP_URL`, else the default (see
    /// [`crate::broker::resolve_url`]).
    pub url: Option<String>,
    /// `--queue`: the work queue (default `task_queue`).
    pub queue: String,
    /// `--trace`: print every frame sent and received.
    pub trace: bool,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            url: None,
            queue: DEFAULT_QUEUE.to_owned(),
            trace: false,
        }
    }
}

impl Common {
    /// The next argument that is the binary's own: takes the shared options (`--url`,
    /// `--queue`, `--trace`) on the way, and turns `--help` into [`Own::Help`].
    pub fn next_own(&mut self, args: &mut Args) -> Result<Option<Own>, Fail> {
        while let Some(arg) = args.next_arg() {
            let (name, value) = match arg {
                Arg::Word(word) => return Ok(Some(Own::Word(word))),
                Arg::Opt { name, value } => (name, value),
            };
            if self.take(&name, value.clone(), args)? {
                continue;
            }
            if name == "help" {
                no_value(&name, &value)?;
                return Ok(Some(Own::Help));
            }
            return Ok(Some(Own::Opt { name, value }));
        }
        Ok(None)
    }

    /// Takes option `name` if it is one of the common ones; `Ok(false)` if not.
    pub fn take(
        &mut self,
        name: &str,
        value: Option<String>,
        args: &mut Args,
    ) -> Result<bool, Fail> {
        match name {
            "url" => self.url = Some(args.value(name, value)?),
            "queue" => {
                let queue = args.value(name, value)?;
                if queue.is_empty() || queue.len() > 200 {
                    return Err(Fail::usage(
                        "--queue needs a name of 1 to 200 characters (see --help)",
                    ));
                }
                self.queue = queue;
            }
            "trace" => {
                no_value(name, &value)?;
                self.trace = true;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The help text for the common options, shared by every binary's `--help`.
pub const COMMON_HELP: &str =
    "  --queue NAME   the work queue (default: task_queue; the demo adds -<pid> per run)
  --url URL      the broker (default: $AMQP_URL, else amqp://guest:guest@localhost:5672/%2f)
  --trace        print every AMQP frame sent and received, decoded
  -h, --help     this help";

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, value: Option<&str>) -> Arg {
        Arg::Opt {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn splits_options_values_and_words() {
        let mut args = Args::new(["--count", "3", "--url=amqp://h", "-h", "a", "--", "--b"]);
        assert_eq!(args.next_arg(), Some(opt("count", None)));
        assert_eq!(args.number::<u32>("count", None), Ok(3));
        assert_eq!(args.next_arg(), Some(opt("url", Some("amqp://h"))));
        assert_eq!(args.next_arg(), Some(opt("help", None)));
        assert_eq!(args.next_arg(), Some(Arg::Word("a".into())));
        assert_eq!(args.next_arg(), Some(Arg::Word("--b".into())));
        assert_eq!(args.next_arg(), None);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let mut args = Args::new(["x"]);
        let e = args.number::<u32>("workers", None).unwrap_err();
        assert_eq!(e.status, 2);
        assert!(e.message.contains("--workers needs a whole number"), "{e}");
        let e = Args::new(Vec::<String>::new())
            .value("url", None)
            .unwrap_err();
        assert!(e.message.contains("--url needs a value"), "{e}");
        assert!(no_value("trace", &Some("1".into())).is_err());
    }

    #[test]
    fn next_own_takes_the_shared_options_and_leaves_the_rest() {
        let mut common = Common::default();
        let mut args = Args::new(["--queue", "q", "w", "--count=2", "--trace", "--help"]);
        let own = |name: &str, value: Option<&str>| Own::Opt {
            name: name.into(),
            value: value.map(Into::into),
        };
        assert_eq!(
            common.next_own(&mut args).unwrap(),
            Some(Own::Word("w".into()))
        );
        assert_eq!(
            common.next_own(&mut args).unwrap(),
            Some(own("count", Some("2")))
        );
        assert_eq!(common.next_own(&mut args).unwrap(), Some(Own::Help));
        assert_eq!(common.next_own(&mut args).unwrap(), None);
        assert_eq!((common.queue.as_str(), common.trace), ("q", true));
        let mut args = Args::new(["--help=me"]);
        assert!(common.next_own(&mut args).is_err(), "--help takes no value");
    }

    #[test]
    fn common_options() {
        let mut common = Common::default();
        let mut args = Args::new(["q1"]);
        assert_eq!(common.take("queue", None, &mut args), Ok(true));
        assert_eq!(common.take("trace", None, &mut args), Ok(true));
        assert_eq!(common.take("workers", None, &mut args), Ok(false));
        assert_eq!(common.queue, "q1");
        assert!(common.trace);
        assert!(common
            .take("queue", Some(String::new()), &mut args)
            .is_err());
    }
}
