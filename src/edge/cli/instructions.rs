//! `pecwatch instructions DOMAIN`: the customer's DNS instructions for activating PEC
//! ([`crate::instructions`]), from what the DNS says now.

use super::output::{errln, outln};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, Exit, Format, load_profile};
use crate::Lang;
use crate::config::Config;
use crate::instructions::decide;
use crate::name::DomainName;
use crate::probe::{Prober, Resolution, parse_resolver, read_root_hints};

/// Arguments of `pecwatch instructions`.
#[derive(Debug, Args)]
pub struct InstructionsArgs {
    /// The domain (or an e-mail address of it) to activate PEC on.
    pub domain: String,
    /// Provider profile: aruba, infocert, a name from the configuration's profiles or the
    /// path of a TOML profile (default: check.profile in the configuration, aruba). Its
    /// name servers tell which zones are on the provider's DNS.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Recursive resolver to use instead of the system's.
    #[arg(long, value_name = "ADDR[:PORT]", conflicts_with = "root_hints")]
    pub resolver: Option<String>,
    /// Resolve iteratively from these root servers (zone-file format).
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// Output format (json: one object, for the API).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the instructions.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Query name servers at loopback, private and link-local addresses (for labs).
    #[arg(long)]
    pub allow_private: bool,
    /// Timeout of one UDP attempt, in milliseconds (default: dns.timeout_ms, 800).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: Option<u64>,
    /// UDP attempts per query (default: dns.attempts, 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub attempts: Option<u32>,
}

/// `pecwatch instructions`: exit 0 with the instructions (whatever they say), 1 when the
/// domain's DNS is broken (its parent does not resolve, its servers do not answer), 2 for
/// an input that is not a domain name, 3 when the environment fails.
pub async fn run(config: &Config, args: InstructionsArgs) -> Result<Exit, CliError> {
    let profile = match &args.profile {
        Some(name) => load_profile(config, name)?,
        None => config.default_profile()?,
    };
    let domain = match DomainName::parse(&args.domain) {
        Ok(domain) => domain,
        Err(error) => {
            let message = error.message(args.lang);
            match args.format {
                Format::Json => outln!(
                    "{}",
                    crate::report::input_error_json(&args.domain, &message)
                )?,
                Format::Text => errln!("{}: {message}", args.lang.pick("errore", "error")),
            }
            return Ok(Exit::BadInput);
        }
    };
    let mut probe = match (&args.root_hints, &args.resolver) {
        (Some(path), _) => config.probe_config_using(Resolution::Iterative(read_root_hints(path)?)),
        (None, Some(address)) => {
            config.probe_config_using(Resolution::Recursive(parse_resolver(address)?))
        }
        (None, None) => config.probe_config()?,
    };
    probe.allow_private |= args.allow_private;
    if let Some(ms) = args.timeout_ms {
        probe.transport.timeout = Duration::from_millis(ms);
    }
    if let Some(attempts) = args.attempts {
        probe.transport.attempts = attempts;
    }
    let prober = Prober::new(probe)?;
    let observation = prober.observe(&domain).await;
    let instructions = decide(&args.domain, &observation, &profile);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", instructions.to_json(args.lang))?,
        Format::Text => write!(out, "{}", instructions.to_text(args.lang))?,
    }
    out.flush()?;
    Ok(if instructions.case.is_error() {
        Exit::Findings
    } else {
        Exit::Ok
    })
}
