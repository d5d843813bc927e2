//! The command line every example shares, parsed with clap: `--addr`,
//! `--loops` and `--help`, plus each example's own flags. `--help` lists
//! them all and exits 0; an unknown flag, a missing value or a bad one exits
//! 2 with a message that names it. `lifecycle` and `pid_file`: how the
//! servers run as a service (signals, upgrades, pid file).

#![allow(dead_code)]

pub(crate) mod lifecycle;
pub(crate) mod pid_file;
pub(crate) mod tls;

use clap::builder::StyledStr;
use clap::{value_parser, Arg, ArgMatches, Command};

/// An example's command line: `--addr` (defaulting to `default_addr`) and
/// `--loops`; add the example's own flags with [`flag`].
pub(crate) fn command(name: &'static str, about: &'static str, default_addr: &'static str) -> Command {
    Command::new(name)
        .about(about)
        .arg(
            flag(
                "addr",
                "ADDR",
                "Where to listen: proto://host:port (tcp, udp), unix:///path or unix://@name",
            )
            .default_value(default_addr),
        )
        .arg(flag("loops", "N", "Event loops [default: one per core]").value_parser(
            |v: &str| match v.parse::<usize>() {
                Ok(0) => Err("at least one loop is needed".to_owned()),
                Ok(n) => Ok(n),
                Err(e) => Err(e.to_string()),
            },
        ))
}

/// A `--name VALUE` flag whose value is a string.
pub(crate) fn flag(name: &'static str, value_name: &'static str, help: impl Into<StyledStr>) -> Arg {
    Arg::new(name).long(name).value_name(value_name).help(help.into())
}

/// A `--name N` flag whose value is a whole number (`usize`).
pub(crate) fn number(name: &'static str, value_name: &'static str, help: impl Into<StyledStr>) -> Arg {
    flag(name, value_name, help).value_parser(value_parser!(usize))
}

/// The parsed command line.
pub(crate) struct Args {
    pub(crate) addr: String,
    pub(crate) loops: usize,
    matches: ArgMatches,
}

impl Args {
    /// Parses the process's arguments against `command`; prints the help
    /// and exits 0 on `--help`, prints the error and exits 2 on a bad flag.
    pub(crate) fn parse(command: Command) -> Args {
        let matches = command.get_matches();
        let addr = matches
            .get_one::<String>("addr")
            .cloned()
            .expect("--addr has a default");
        let loops = matches
            .get_one::<usize>("loops")
            .copied()
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Args { addr, loops, matches }
    }

    /// The value of `--name` as its flag's parser made it, if given (or defaulted).
    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self, name: &str) -> Option<T> {
        self.matches.get_one::<T>(name).cloned()
    }
}
