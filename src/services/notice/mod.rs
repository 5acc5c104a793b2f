//! Notices: what pecwatch tells holders, resellers and operators (content and templates).
//!
//! This module is the pure content layer: it turns plain data about one notice (a
//! [`NoticeContext`], or an [`AlertContext`] for operators) into a [`RenderedNotice`]
//! (subject, plain text, HTML) through [`Templates`]. It does no I/O except reading an
//! operator's template directory once ([`Templates::load`]); sending, retries and
//! acceptance belong to the outbox sender.
//!
//! # Templates
//!
//! Every notice is three files in `templates/notices/LANG/` (compiled into the binary):
//! `EVENT.subject`, `EVENT.txt` and `EVENT.html`, where `EVENT` is a
//! [`NoticeKind`] name (`error_found`, `corrected`, `removed`, `under_review`, `reinstated`,
//! `rejected`, `expired`, `activated`; one `expiry_warning` for every
//! `expiry_warning_N`), `reseller_copy` (the copy of any notice for the domain's reseller)
//! or `alert` (a held sweep, to the operators). They extend `base.txt` / `base.html` and
//! include `errors.txt` / `errors.html`. An operator's directory with the same layout
//! overrides them file by file. `.html` files are auto-escaped: holder names and other
//! user data cannot inject markup.
//!
//! The variables every template sees (absent values are `none`):
//!
//! | variable | example |
//! |---|---|
//! | `lang`, `event`, `kind` | `it`, `expiry_warning`, `expiry_warning_30` |
//! | `days` | `30` (expiry warnings only) |
//! | `domain.ascii`, `domain.display`, `domain.idn` | `pec.xn--caff-8oa.it`, `pec.caffè.it`, `true` |
//! | `holder.name`, `holder.email` | `Mario Rossi`, `mario@esempio.it` |
//! | `reseller`, `for_reseller` | `Rivenditore Srl`, `false` |
//! | `profile.name`, `profile.mx_host`, `profile.mx_preference`, `profile.mx_record` | `aruba`, `mx.pec.aruba.it`, `10`, `pec.esempio.it. IN MX 10 mx.pec.aruba.it.` |
//! | `deadline`, `expires` | a [`LocalTime`]: `deadline.datetime` = `30 novembre 2026 alle 04:00` |
//! | `episode` | `3` |
//! | `errors` | a list of [`ErrorDetail`] (with `fixes`, a list of [`FixLines`]) |
//! | `set_password_link` | `https://…` (activation) |
//! | `provider.name`, `provider.support` | the provider's display name and support contact |
//! | `subject` | the rendered subject (in `.txt` and `.html`) |
//! | `original.subject`, `original.text`, `original.html` | `reseller_copy` only: the holder's notice |
//! | `sweep`, `reason`, `at` | `alert` only |
//!
//! Templates are rendered with strict undefined values: a misspelt variable is an error
//! naming the file and line ([`NoticeError::Template`]), never a silent blank.

mod config;
mod dates;
mod errors;
mod sample;
mod templates;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value as Json, json};

pub use config::NoticesConfig;
pub use dates::{LocalTime, ZONE};
pub use errors::{ErrorDetail, FixLines};
pub use sample::{Preview, SAMPLE_DOMAIN, sample_check};
pub use templates::{Part, Templates};

use crate::Lang;
use crate::lifecycle::NoticeKind;
use crate::name::DomainName;
use crate::profile::Profile;
use crate::registry::Domain;

/// The provider as notices name it: from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The display name (`Esempio PEC S.p.A.`), used in the text and the signature.
    pub name: String,
    /// How to reach support, as one line (`assistenza@esempio.it, tel. 06 000000`).
    pub support: String,
}

/// What a notice says about the provider profile: the MX record it expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileSummary {
    /// The profile's name (`aruba`).
    pub name: String,
    /// The host the MX must point to.
    pub mx_host: DomainName,
    /// The MX preference.
    pub mx_preference: u16,
}

impl From<&Profile> for ProfileSummary {
    fn from(profile: &Profile) -> Self {
        ProfileSummary {
            name: profile.name.clone(),
            mx_host: profile.mx_host.clone(),
            mx_preference: profile.mx_preference,
        }
    }
}

/// Everything one notice about one domain needs, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeContext {
    /// What the notice is about.
    pub kind: NoticeKind,
    /// The certified domain (A-label form; shown in its Unicode form).
    pub domain: DomainName,
    /// The holder's name, for the salutation (`None`: a generic one).
    pub holder_name: Option<String>,
    /// The holder's e-mail address.
    pub holder_email: String,
    /// The language of the notice (the holder's).
    pub lang: Lang,
    /// The reseller that sold the domain, if any.
    pub reseller: Option<String>,
    /// The provider profile the domain is checked against.
    pub profile: ProfileSummary,
    /// When the domain will be removed unless corrected. For an error notice rendered
    /// before it is sent, the stored deadline is not set yet (the grace period starts at
    /// acceptance): pass the instant it would end if the notice were accepted now.
    pub deadline: Option<Timestamp>,
    /// When the certification expires.
    pub expires: Option<Timestamp>,
    /// The error episode the notice belongs to.
    pub episode: u32,
    /// The errors of the last failing check (see [`NoticeContext::with_check`]).
    pub errors: Vec<ErrorDetail>,
    /// The link to set the postmaster box's password (activation notices).
    pub set_password_link: Option<String>,
    /// The provider's display name and support contact.
    pub provider: Provider,
    /// This copy goes to the reseller ([`reseller_copy`](Self::reseller_copy)).
    pub for_reseller: bool,
}

impl NoticeContext {
    /// The context of a `kind` notice about a registered domain, for its `episode`: the
    /// holder, language, reseller, deadline, expiry from the registry. Add the errors
    /// with [`with_check`](Self::with_check) and, for an error notice, the expected
    /// deadline (see [`deadline`](Self::deadline)).
    pub fn for_domain(
        kind: NoticeKind,
        episode: u32,
        domain: &Domain,
        profile: &Profile,
        provider: Provider,
    ) -> Self {
        NoticeContext {
            kind,
            domain: domain.name.clone(),
            // Rows older than the checks at entry may hold control characters or
            // 100,000 characters: the notice carries a printable name, and goes out.
            holder_name: domain
                .holder
                .name
                .as_deref()
                .and_then(crate::contact::printable_name),
            holder_email: domain.holder.email.clone(),
            lang: domain.holder.lang,
            reseller: domain
                .reseller
                .as_deref()
                .and_then(crate::contact::printable_name),
            profile: profile.into(),
            deadline: domain.status.deadline,
            expires: domain.status.expires,
            episode,
            errors: Vec::new(),
            set_password_link: None,
            provider,
            for_reseller: false,
        }
    }

    /// Takes the errors of a failing check from its stored JSON (the `checks.result`
    /// column: the [`Report::view`](crate::report::Report::view) a sweep records).
    pub fn with_check(mut self, result: &Json) -> Result<Self, NoticeError> {
        self.errors = ErrorDetail::from_check(result, self.lang)?;
        Ok(self)
    }

    /// The reseller's copy of this notice, if the domain has a reseller. The copy never
    /// carries the holder's set-password link: it is personal.
    pub fn reseller_copy(&self) -> Option<Self> {
        self.reseller.as_ref().map(|_| NoticeContext {
            for_reseller: true,
            set_password_link: None,
            ..self.clone()
        })
    }

    /// The variables the templates see (see the module documentation).
    fn variables(&self) -> Result<Json, NoticeError> {
        let local = |at: Option<Timestamp>| -> Result<Json, NoticeError> {
            at.map(|at| LocalTime::new(at, self.lang))
                .transpose()
                .map(|time| json!(time))
        };
        let days = match self.kind {
            NoticeKind::ExpiryWarning { days } => Some(days),
            _ => None,
        };
        let display = self.domain.to_unicode();
        Ok(json!({
            "lang": lang_code(self.lang),
            "event": event_name(self.kind),
            "kind": self.kind.key(),
            "days": days,
            "domain": {
                "ascii": self.domain.as_str(),
                "idn": display != self.domain.as_str(),
                "display": display,
            },
            "holder": { "name": self.holder_name, "email": self.holder_email },
            "reseller": self.reseller,
            "for_reseller": self.for_reseller,
            "profile": {
                "name": self.profile.name,
                "mx_host": self.profile.mx_host.as_str(),
                "mx_preference": self.profile.mx_preference,
                "mx_record": format!(
                    "{}. IN MX {} {}.",
                    self.domain, self.profile.mx_preference, self.profile.mx_host
                ),
            },
            "deadline": local(self.deadline)?,
            "expires": local(self.expires)?,
            "episode": self.episode,
            "errors": self.errors,
            "set_password_link": self.set_password_link,
            "provider": provider_json(&self.provider),
        }))
    }
}

/// An alert for the operators: a sweep was held (its lifecycle changes were not
/// applied), or a domain needs them (an error notice bounced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertContext {
    /// The sweep, if known.
    pub sweep: Option<i64>,
    /// The domain the alert is about, if it is about one.
    pub domain: Option<String>,
    /// Why it was held, as recorded.
    pub reason: String,
    /// When it was raised, if known.
    pub at: Option<Timestamp>,
    /// The operators' language.
    pub lang: Lang,
    /// The provider's display name and support contact.
    pub provider: Provider,
}

impl AlertContext {
    /// The alert of an outbox payload (`{"alert": "sweep_held", "sweep": 12, "reason":
    /// "…"}`, or `{"domain": "pec.x.it", "reason": "…"}` for a domain's); `at` is when it
    /// was queued. Fails when the payload has no `reason`.
    pub fn from_payload(
        payload: &Json,
        at: Option<Timestamp>,
        lang: Lang,
        provider: Provider,
    ) -> Result<Self, NoticeError> {
        let reason = payload
            .get("reason")
            .and_then(Json::as_str)
            .ok_or_else(|| NoticeError::BadAlert("no \"reason\"".to_owned()))?;
        Ok(AlertContext {
            sweep: payload.get("sweep").and_then(Json::as_i64),
            domain: payload
                .get("domain")
                .and_then(Json::as_str)
                .map(str::to_owned),
            reason: reason.to_owned(),
            at,
            lang,
            provider,
        })
    }

    fn variables(&self) -> Result<Json, NoticeError> {
        Ok(json!({
            "lang": lang_code(self.lang),
            "event": "alert",
            "kind": "alert",
            "sweep": self.sweep,
            "domain": self.domain,
            "reason": self.reason,
            "at": self.at.map(|at| LocalTime::new(at, self.lang)).transpose()?,
            "provider": provider_json(&self.provider),
        }))
    }
}

/// A notice ready to send: one subject line, a plain-text part and an HTML part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedNotice {
    /// The subject, on one line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Why a notice could not be rendered (or its templates loaded).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// The operator's template directory (or a file in it) could not be read.
    #[error("cannot read notice templates {path}: {message}")]
    Io {
        /// The directory or file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A template does not compile or does not render.
    #[error("notice template {file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Template {
        /// The template's name (`it/error_found.txt`).
        name: String,
        /// Where it comes from: the file's path, or `built-in it/error_found.txt`.
        file: String,
        /// The line of the error, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The stored check result is not a check result.
    #[error("not a check result: {0}")]
    BadCheck(String),
    /// The alert payload is not a held-sweep alert.
    #[error("not an alert payload: {0}")]
    BadAlert(String),
    /// An instant cannot be shown in the notices' time zone.
    #[error("cannot show a time in {zone}: {message}")]
    TimeZone {
        /// The time zone.
        zone: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Renders a notice about a domain: the holder's (or operators') notice, or, for a
/// [`reseller_copy`](NoticeContext::reseller_copy), the reseller's copy that quotes it.
pub fn render(
    context: &NoticeContext,
    templates: &Templates,
) -> Result<RenderedNotice, NoticeError> {
    let mut variables = context.variables()?;
    let notice =
        templates.render_event(context.lang, event_name(context.kind), &variables, None)?;
    if !context.for_reseller {
        return Ok(notice);
    }
    if let Some(object) = variables.as_object_mut() {
        object.insert(
            "original".into(),
            json!({ "subject": notice.subject, "text": notice.text }),
        );
    }
    templates.render_event(context.lang, RESELLER_COPY, &variables, Some(notice.html))
}

/// Renders an operators' alert about a held sweep.
pub fn render_alert(
    alert: &AlertContext,
    templates: &Templates,
) -> Result<RenderedNotice, NoticeError> {
    templates.render_event(alert.lang, ALERT, &alert.variables()?, None)
}

/// The template set of the reseller's copy.
pub const RESELLER_COPY: &str = "reseller_copy";
/// The template set of the operators' alert.
pub const ALERT: &str = "alert";

/// The template set of a kind: its key, but one `expiry_warning` for every threshold.
pub fn event_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::ErrorFound => "error_found",
        NoticeKind::Corrected => "corrected",
        NoticeKind::Removed => "removed",
        NoticeKind::UnderReview => "under_review",
        NoticeKind::Reinstated => "reinstated",
        NoticeKind::Rejected => "rejected",
        NoticeKind::Expired => "expired",
        NoticeKind::ExpiryWarning { .. } => "expiry_warning",
        NoticeKind::Activated => "activated",
    }
}

/// Every template set: the kinds', the reseller's copy and the alert.
pub const EVENTS: [&str; 11] = [
    "error_found",
    "corrected",
    "removed",
    "under_review",
    "reinstated",
    "rejected",
    "expired",
    "expiry_warning",
    "activated",
    RESELLER_COPY,
    ALERT,
];

/// The directory of a language's templates (`it`, `en`).
pub fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

fn provider_json(provider: &Provider) -> Json {
    json!({ "name": provider.name, "support": provider.support })
}

/// A JSON value as a template value (maps keep their keys sorted).
fn template_value(value: &Json) -> minijinja::Value {
    use minijinja::Value;
    match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(template_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from(
            map.iter()
                .map(|(key, value)| (key.clone(), template_value(value)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}
