//! Flags every example shares: `--addr proto://host:port` and `--loops N`.

#![allow(dead_code)]

/// Parsed command line of an example.
pub(crate) struct Args {
    pub(crate) addr: String,
    pub(crate) loops: usize,
    pub(crate) rest: Vec<(String, String)>,
}

impl Args {
    /// Parses `--flag value` pairs; exits with a usage line on anything else.
    pub(crate) fn parse(default_addr: &str) -> Args {
        let mut args = Args {
            addr: default_addr.to_owned(),
            loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rest: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let Some(value) = it.next() else { usage(&flag) };
            match flag.as_str() {
                "--addr" => args.addr = value,
                "--loops" => args.loops = value.parse().unwrap_or_else(|_| usage(&flag)),
                f if f.starts_with("--") => args.rest.push((f[2..].to_owned(), value)),
                _ => usage(&flag),
            }
        }
        args
    }

    /// The value of `--name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.rest.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn usage(flag: &str) -> ! {
    eprintln!("bad or incomplete flag {flag:?}; usage: [--addr tcp://HOST:PORT] [--loops N]");
    std::process::exit(2)
}
