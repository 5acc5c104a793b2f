//! The notice templates: built in, and an operator's overrides file by file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::Value as Json;

use super::{NoticeError, Preview, Provider, RenderedNotice, lang_code, template_value};
use crate::Lang;
use crate::profile::Profile;

/// The built-in templates, compiled in: `(name, source)`.
macro_rules! built_in {
    ($($name:literal,)*) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/notices/", $name))),)*]
    };
}

/// Every built-in template, by name (`it/error_found.txt`).
pub(super) const BUILT_IN: &[(&str, &str)] = built_in![
    "it/base.txt",
    "it/base.html",
    "it/errors.txt",
    "it/errors.html",
    "it/error_found.subject",
    "it/error_found.txt",
    "it/error_found.html",
    "it/corrected.subject",
    "it/corrected.txt",
    "it/corrected.html",
    "it/removed.subject",
    "it/removed.txt",
    "it/removed.html",
    "it/under_review.subject",
    "it/under_review.txt",
    "it/under_review.html",
    "it/reinstated.subject",
    "it/reinstated.txt",
    "it/reinstated.html",
    "it/rejected.subject",
    "it/rejected.txt",
    "it/rejected.html",
    "it/expired.subject",
    "it/expired.txt",
    "it/expired.html",
    "it/expiry_warning.subject",
    "it/expiry_warning.txt",
    "it/expiry_warning.html",
    "it/activated.subject",
    "it/activated.txt",
    "it/activated.html",
    "it/reseller_copy.subject",
    "it/reseller_copy.txt",
    "it/reseller_copy.html",
    "it/alert.subject",
    "it/alert.txt",
    "it/alert.html",
    "en/base.txt",
    "en/base.html",
    "en/errors.txt",
    "en/errors.html",
    "en/error_found.subject",
    "en/error_found.txt",
    "en/error_found.html",
    "en/corrected.subject",
    "en/corrected.txt",
    "en/corrected.html",
    "en/removed.subject",
    "en/removed.txt",
    "en/removed.html",
    "en/under_review.subject",
    "en/under_review.txt",
    "en/under_review.html",
    "en/reinstated.subject",
    "en/reinstated.txt",
    "en/reinstated.html",
    "en/rejected.subject",
    "en/rejected.txt",
    "en/rejected.html",
    "en/expired.subject",
    "en/expired.txt",
    "en/expired.html",
    "en/expiry_warning.subject",
    "en/expiry_warning.txt",
    "en/expiry_warning.html",
    "en/activated.subject",
    "en/activated.txt",
    "en/activated.html",
    "en/reseller_copy.subject",
    "en/reseller_copy.txt",
    "en/reseller_copy.html",
    "en/alert.subject",
    "en/alert.txt",
    "en/alert.html",
];

/// The three parts of a notice, each a template file (`EVENT.subject`, `EVENT.txt`,
/// `EVENT.html`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Part {
    /// The subject line.
    Subject,
    /// The plain-text part.
    Text,
    /// The HTML part.
    Html,
}

impl Part {
    /// Every part, in the order they are rendered (the subject first: the others show it).
    pub const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    /// The file extension of this part's templates.
    pub const fn extension(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

/// The notice templates: the built-in ones, possibly overridden by an operator's files.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// The templates read from the operator's directory: name → file.
    overrides: BTreeMap<String, PathBuf>,
}

impl Templates {
    /// The built-in templates only.
    pub fn built_in() -> Result<Self, NoticeError> {
        let mut templates = Templates {
            env: environment(),
            overrides: BTreeMap::new(),
        };
        for (name, source) in BUILT_IN {
            templates.add(name, (*source).to_owned())?;
        }
        Ok(templates)
    }

    /// The built-in templates, each overridden by the file of the same name in `dir`
    /// (`dir/it/error_found.txt`). Files in `dir/it` and `dir/en` ending in `.subject`,
    /// `.txt` or `.html` are read (other files are ignored); a file that is not a built-in
    /// template's name is added too, for the others to include. A file that cannot be
    /// read or does not compile is an error naming it.
    pub fn load(dir: &Path) -> Result<Self, NoticeError> {
        let mut templates = Self::built_in()?;
        let io = |path: &Path, error: std::io::Error| NoticeError::Io {
            path: path.display().to_string(),
            message: error.to_string(),
        };
        if !dir.is_dir() {
            return Err(NoticeError::Io {
                path: dir.display().to_string(),
                message: "not a directory".to_owned(),
            });
        }
        for lang in [Lang::It, Lang::En] {
            let lang_dir = dir.join(lang_code(lang));
            if !lang_dir.is_dir() {
                continue;
            }
            let mut entries = std::fs::read_dir(&lang_dir)
                .map_err(|e| io(&lang_dir, e))?
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<PathBuf>, _>>()
                .map_err(|e| io(&lang_dir, e))?;
            entries.sort();
            for path in entries {
                let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let is_template = Part::ALL
                    .iter()
                    .any(|part| file_name.ends_with(&format!(".{}", part.extension())));
                if !is_template || !path.is_file() {
                    continue;
                }
                let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                let name = format!("{}/{file_name}", lang_code(lang));
                templates.overrides.insert(name.clone(), path);
                templates.add(&name, source)?;
            }
        }
        Ok(templates)
    }

    /// The templates taken from the operator's directory, by name, with their files.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.overrides
            .iter()
            .map(|(name, path)| (name.as_str(), path.as_path()))
    }

    /// Renders every template set in both languages with sample data for `profile`,
    /// signed by `provider`: a broken override shows
    /// up here (at startup, or in `pecwatch notices preview`) rather than when a notice
    /// is due.
    pub fn verify(&self, profile: &Profile, provider: &Provider) -> Result<(), NoticeError> {
        for lang in [Lang::It, Lang::En] {
            for preview in Preview::every() {
                preview.render(lang, profile, provider, self)?;
            }
        }
        Ok(())
    }

    /// Renders the three parts of `event` in `lang`. `original_html` (reseller copies) is
    /// passed to the templates as `original.html`, already safe HTML.
    pub(super) fn render_event(
        &self,
        lang: Lang,
        event: &str,
        variables: &Json,
        original_html: Option<String>,
    ) -> Result<RenderedNotice, NoticeError> {
        let mut context: BTreeMap<String, Value> = variables
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .map(|(key, value)| (key.clone(), template_value(value)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(html) = original_html {
            let mut original: BTreeMap<String, Value> = variables
                .get("original")
                .and_then(Json::as_object)
                .map(|object| {
                    object
                        .iter()
                        .map(|(key, value)| (key.clone(), template_value(value)))
                        .collect()
                })
                .unwrap_or_default();
            original.insert("html".into(), Value::from_safe_string(html));
            context.insert("original".into(), Value::from(original));
        }
        let name = |part: Part| format!("{}/{event}.{}", lang_code(lang), part.extension());
        let subject = self.render_one(&name(Part::Subject), &context)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        context.insert("subject".into(), Value::from(subject.as_str()));
        let text = tidy(&self.render_one(&name(Part::Text), &context)?);
        let html = tidy(&self.render_one(&name(Part::Html), &context)?);
        Ok(RenderedNotice {
            subject,
            text,
            html,
        })
    }

    fn render_one(
        &self,
        name: &str,
        context: &BTreeMap<String, Value>,
    ) -> Result<String, NoticeError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|error| self.error(name, &error))
    }

    fn add(&mut self, name: &str, source: String) -> Result<(), NoticeError> {
        self.env
            .add_template_owned(name.to_owned(), source)
            .map_err(|error| self.error(name, &error))
    }

    /// A template error, naming the file where it happened (an included or extended
    /// template may be the culprit rather than `top`).
    fn error(&self, top: &str, error: &minijinja::Error) -> NoticeError {
        let name = error.name().unwrap_or(top).to_owned();
        let file = match self.overrides.get(&name) {
            Some(path) => path.display().to_string(),
            None => format!("built-in {name}"),
        };
        let mut message = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(" ({cause})"));
            source = cause.source();
        }
        if name != top {
            message.push_str(&format!(" (while rendering {top})"));
        }
        NoticeError::Template {
            name,
            file,
            line: error.line(),
            message,
        }
    }
}

/// The template engine as notices use it: HTML files auto-escaped, block tags trimmed,
/// undefined variables an error.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build();
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    env
}

/// Trailing spaces removed, at most one blank line in a row, one final newline.
fn tidy(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len());
    let mut blank = 0;
    for line in rendered.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
