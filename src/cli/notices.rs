//! `pecwatch notices`: the notices pecwatch sends. `preview` renders one with sample data,
//! through the built-in templates or an operator's directory of overrides.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{CliError, Exit};
use crate::Lang;
use crate::config::Config;
use crate::notice::{NoticeError, Part, Preview, Provider, RenderedNotice, Templates};

/// The subcommands of `pecwatch notices`.
#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// Render a notice with sample data (the domain pec.esempio.it), signed and laid out as
    /// configured ([notices] provider_name, support, templates; [check] profile).
    Preview(PreviewArgs),
}

/// Arguments of `notices preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// What to render: a notice kind (error_found, corrected, removed, under_review,
    /// reinstated, rejected, expired, expiry_warning_30, expiry_warning_7, activated),
    /// reseller_copy (of an error notice; reseller_copy_KIND for another kind) or alert
    /// (a held sweep, to the operators).
    #[arg(value_name = "EVENT")]
    pub event: String,
    /// Language of the notice.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Which part to print.
    #[arg(long, value_enum, default_value_t)]
    pub part: PartChoice,
    /// Directory of template overrides (LANG/EVENT.subject, .txt, .html); default:
    /// notices.templates in the configuration.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// The part(s) of a notice to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PartChoice {
    /// The subject line.
    Subject,
    /// The plain-text part.
    Text,
    /// The HTML part.
    Html,
    /// The subject, then the text and HTML parts, each under a heading.
    #[default]
    All,
}

impl From<NoticeError> for CliError {
    /// A template that does not load or render is the operator's to fix: bad usage.
    fn from(error: NoticeError) -> Self {
        CliError::Usage(error.to_string())
    }
}

/// Runs a `pecwatch notices` subcommand.
pub fn run(config: &Config, command: NoticesCommand) -> Result<Exit, CliError> {
    match command {
        NoticesCommand::Preview(args) => preview(config, args),
    }
}

/// `pecwatch notices preview`: renders the sample notice and prints the chosen part.
fn preview(config: &Config, args: PreviewArgs) -> Result<Exit, CliError> {
    let preview: Preview = args
        .event
        .parse()
        .map_err(|error: crate::lifecycle::UnknownName| {
            CliError::Usage(format!(
                "{error}; or reseller_copy, reseller_copy_KIND, alert"
            ))
        })?;
    // The configured provider, profile and template directory, as real notices get them.
    let dir = args.templates.as_ref().or_else(|| {
        let configured = &config.notices.templates;
        (!configured.as_os_str().is_empty()).then_some(configured)
    });
    let templates = match dir {
        Some(dir) => Templates::load(dir)?,
        None => Templates::built_in()?,
    };
    let provider = Provider {
        name: config.notices.provider_name.clone(),
        support: config.notices.support.clone(),
    };
    let profile = config.default_profile()?;
    let notice = preview.render(args.lang, &profile, &provider, &templates)?;
    let mut out = std::io::stdout().lock();
    out.write_all(shown(&notice, args.part).as_bytes())?;
    out.flush()?;
    Ok(Exit::Ok)
}

/// The text printed for `part`.
fn shown(notice: &RenderedNotice, part: PartChoice) -> String {
    let one = |part: Part| match part {
        Part::Subject => format!("{}\n", notice.subject),
        Part::Text => notice.text.clone(),
        Part::Html => notice.html.clone(),
    };
    match part {
        PartChoice::Subject => one(Part::Subject),
        PartChoice::Text => one(Part::Text),
        PartChoice::Html => one(Part::Html),
        PartChoice::All => Part::ALL
            .into_iter()
            .map(|part| format!("==> {} <==\n{}", part.extension(), one(part)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}
