//! The command line every example accepts.

use std::fmt;

use ami_core::{AccountId, Region};

/// Where an example runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The deterministic simulator (the default).
    Sim,
    /// An AWS emulator such as moto or LocalStack at this endpoint URL (feature `aws`).
    Endpoint(String),
    /// Real AWS: credentials and Region from the standard chain (feature `aws`).
    Aws,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sim => f.write_str("the simulator"),
            Target::Endpoint(url) => write!(f, "the endpoint {url}"),
            Target::Aws => f.write_str("AWS"),
        }
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The simulator's seed (`--seed N`, default 1).
    pub seed: u64,
    /// Where to run (`--endpoint URL`, `--aws`; default the simulator).
    pub target: Target,
    /// The accounts of the story, the owner first (`--accounts A,B,C`).
    pub accounts: Option<Vec<AccountId>>,
    /// The Regions of the story, the home Region first (`--regions r1,r2,r3`).
    pub regions: Option<Vec<Region>>,
    /// The role assumed in the other accounts (`--role NAME`; AWS and endpoints only).
    pub role: Option<String>,
    /// Print every workflow event (`--verbose`).
    pub verbose: bool,
    /// Print no progress lines while waiting (`--quiet`).
    pub quiet: bool,
    /// Probability that any simulated call is throttled (`--faults P`, simulator only; a fifth
    /// of it again for internal errors). Default 0.
    pub faults: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            target: Target::Sim,
            accounts: None,
            regions: None,
            role: None,
            verbose: false,
            quiet: false,
            faults: 0.0,
        }
    }
}

/// What `--help` prints after the example's own description.
pub(crate) const USAGE: &str = "\
Options:
  --seed N             seed of the simulator (default 1); the same seed prints the same story
  --endpoint URL       run against an AWS emulator (moto, LocalStack) at URL  [feature aws]
  --aws                run against real AWS, credentials and Region from the standard chain
                       (this creates and deletes real resources, and KMS keys that cost money)
                                                                              [feature aws]
  --accounts A,B,C     the accounts of the story, the owner first (defaults: the simulator's)
  --regions R1,R2,R3   the Regions of the story, the home Region first
  --role NAME          role assumed in the other accounts (default ami-examples)
  --faults P           simulator only: throttle any call with probability P (0 to 0.5),
                       and fail it with an internal error with probability P/5; the
                       workflows (and the stories' own calls) retry, so the story is the same
  --verbose            print every workflow event
  --quiet              no progress lines while waiting
  -h, --help           this help";

impl Options {
    /// Parses `args` (without the program name). `Err` holds the message to print: the help
    /// text for `--help`, or what was wrong and how to fix it.
    pub fn parse<I, S>(args: I) -> Result<Options, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut o = Options::default();
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{name} needs a value; see --help"))
            };
            match flag.as_str() {
                "--seed" => {
                    let v = value("--seed")?;
                    o.seed = v.parse().map_err(|_| {
                        format!("--seed {v:?} is not a whole number; pass e.g. --seed 7")
                    })?;
                }
                "--endpoint" => {
                    let v = value("--endpoint")?;
                    if !(v.starts_with("http://") || v.starts_with("https://")) {
                        return Err(format!(
                            "--endpoint {v:?} is not a URL; pass e.g. --endpoint http://127.0.0.1:5000"
                        ));
                    }
                    o.target = Target::Endpoint(v);
                }
                "--aws" => o.target = Target::Aws,
                "--accounts" => {
                    let v = value("--accounts")?;
                    let list = v
                        .split(',')
                        .map(|a| AccountId::parse(a.trim()).map_err(|e| format!("--accounts: {e}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    o.accounts = Some(list);
                }
                "--regions" => {
                    let v = value("--regions")?;
                    let list = v
                        .split(',')
                        .map(|r| Region::parse(r.trim()).map_err(|e| format!("--regions: {e}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    o.regions = Some(list);
                }
                "--role" => o.role = Some(value("--role")?),
                "--faults" => {
                    let v = value("--faults")?;
                    o.faults = v
                        .parse()
                        .ok()
                        .filter(|p: &f64| (0.0..=0.5).contains(p))
                        .ok_or_else(|| {
                            format!("--faults {v:?} is not a probability from 0 to 0.5; pass e.g. --faults 0.05")
                        })?;
                }
                "--verbose" | "-v" => o.verbose = true,
                "--quiet" | "-q" => o.quiet = true,
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => {
                    return Err(format!("unknown argument {other:?}; see --help"));
                }
            }
        }
        if matches!(o.target, Target::Sim) && o.role.is_some() {
            return Err("--role only applies with --endpoint or --aws".to_owned());
        }
        if !matches!(o.target, Target::Sim) && o.faults > 0.0 {
            return Err("--faults only applies on the simulator".to_owned());
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_refuses_bad_values() {
        let o = Options::parse(["--seed", "7", "--regions=us-east-1,eu-west-1"]).unwrap();
        assert_eq!(o.seed, 7);
        assert_eq!(o.target, Target::Sim);
        assert_eq!(o.regions.unwrap().len(), 2);
        let o = Options::parse(["--endpoint", "http://127.0.0.1:5000", "--role", "r"]).unwrap();
        assert_eq!(o.target, Target::Endpoint("http://127.0.0.1:5000".into()));
        assert!(Options::parse(["--seed", "x"])
            .unwrap_err()
            .contains("--seed \"x\""));
        assert!(Options::parse(["--endpoint", "localhost"])
            .unwrap_err()
            .contains("not a URL"));
        assert!(Options::parse(["--accounts", "12"])
            .unwrap_err()
            .contains("--accounts"));
        assert!(Options::parse(["--bogus"])
            .unwrap_err()
            .contains("unknown argument"));
        assert!(Options::parse(["--role", "r"])
            .unwrap_err()
            .contains("--endpoint"));
        assert!(Options::parse(["--help"]).unwrap_err().contains("--seed N"));
        assert_eq!(Options::parse(["--faults", "0.1"]).unwrap().faults, 0.1);
        assert!(Options::parse(["--faults", "0.9"])
            .unwrap_err()
            .contains("0 to 0.5"));
        assert!(Options::parse(["--aws", "--faults", "0.1"])
            .unwrap_err()
            .contains("only applies on the simulator"));
    }
}
