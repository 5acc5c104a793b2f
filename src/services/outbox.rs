//! Delivering the outbox: notices to holders, resellers and operators, over SMTP.
//!
//! Every notice was queued in the outbox in the same transaction as the lifecycle change
//! that called for it. The [`Sender`] claims due items (a lease, so several senders never
//! take the same one), renders each ([`crate::notice`]), and hands it to the configured
//! relay (lettre: plain, STARTTLS or TLS, optional authentication — never in clear unless
//! `smtp.allow_plaintext_auth`). Then:
//!
//! - **accepted** (2xx): the item is recorded as sent with the server's reply and the
//!   acceptance time, *in the same transaction* as the domain's lifecycle update: an
//!   accepted error notice starts the grace period ([`Event::NoticeAccepted`]);
//! - **deferred** (4xx, no connection, timeout): tried again after 1, 2, 4, … minutes up
//!   to `smtp.retry_max`; given up after `smtp.give_up_after`;
//! - **refused** (5xx) or impossible (no recipient, an address the composer refuses, a
//!   template that does not render): failed at once, kept for the operators; the grace
//!   period does not start.
//!
//! Every notice given up (refused, impossible, or retried until `give_up_after`) raises
//! an operator alert naming the domain and the reason, recorded and mailed to the
//! operators. The reseller's copy goes after the holder's notice, best effort: a bad
//! reseller address (or a refused copy) never stops the notice nor its effect on the
//! domain; it raises an alert of its own. Stored names are made printable (no control
//! characters, a length cap) before they go into a header or a salutation.
//!
//! Each item keeps one Message-ID for all its attempts (derived from the item, recorded
//! at the first attempt), so a message resent after a crash between the server's
//! acceptance and our commit carries the same Message-ID and can be recognised as a
//! duplicate. SMTP has no two-phase commit: that window is the only way a notice can be
//! sent twice, and the Message-ID is what makes it harmless.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::clock::Clock;
use crate::lifecycle::duration_serde as duration_text;
use crate::lifecycle::{self, Event, NoticeKind, Policy};
use crate::notice::{
    AlertContext, NoticeContext, Provider, RenderedNotice, Templates, render, render_alert,
};
use crate::profile::ProfileLoader;
use crate::registry::{
    AlertKind, Attempt, Delivery, DomainAlert, DomainUpdate, OutboxItem, OutboxKind, Registry,
    RegistryError,
};
use crate::settings::{Invalid, REDACTED, positive, redact_url};

/// `[smtp]`: the relay notices are handed to, and how long they are retried.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay: `smtp://HOST:PORT` (STARTTLS when offered) or `smtps://HOST:PORT`.
    /// Default `smtp://127.0.0.1:25`.
    pub url: String,
    /// The sender of notices. Default `PEC monitor <noreply@localhost>`.
    pub from: String,
    /// User name for SMTP authentication. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for SMTP authentication (secret). After loading it also holds the password
    /// read from `password_file`. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A file holding the password (trailing newlines ignored), read at load. Exclusive
    /// with `password`. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM certificates to trust for the relay's TLS, besides the system's (a relay with a
    /// private CA). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long one SMTP conversation may take. Default 30 seconds.
    #[serde(with = "duration_text")]
    pub timeout: SignedDuration,
    /// The longest wait between two attempts of a notice after temporary failures (the
    /// waits double from one minute up to this). Default 10 minutes.
    #[serde(with = "duration_text")]
    pub retry_max: SignedDuration,
    /// After temporary failures for this long since it was queued, a notice is given up
    /// (failed, shown to the operators). Default 3 days.
    #[serde(with = "duration_text")]
    pub give_up_after: SignedDuration,
    /// Whether the user name and password may be sent without TLS, to a relay that does
    /// not offer STARTTLS on `smtp://`. When false (the default) such a relay gets no
    /// AUTH and no message: the notices wait, with a reason naming this key.
    pub allow_plaintext_auth: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: "smtp://127.0.0.1:25".into(),
            from: "PEC monitor <noreply@localhost>".into(),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            timeout: SignedDuration::from_secs(30),
            retry_max: SignedDuration::from_mins(10),
            give_up_after: SignedDuration::from_hours(72),
            allow_plaintext_auth: false,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &crate::settings::redact_url(&self.url))
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .field("retry_max", &self.retry_max)
            .field("give_up_after", &self.give_up_after)
            .field("allow_plaintext_auth", &self.allow_plaintext_auth)
            .finish()
    }
}

/// Accepted `[smtp] url` schemes.
const SMTP_SCHEMES: [&str; 2] = ["smtp://", "smtps://"];

impl SmtpConfig {
    /// Checks the section: an `smtp://` or `smtps://` relay, a sender mailbox, a user
    /// name with any password, positive durations.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !SMTP_SCHEMES
            .iter()
            .any(|scheme| self.url.starts_with(scheme))
        {
            return Err(Invalid::new(
                "url",
                format!("{:?}", redact_url(&self.url)),
                "must be smtp://HOST[:PORT] or smtps://HOST[:PORT]",
            ));
        }
        check_mailbox(&self.from)
            .map_err(|problem| Invalid::new("from", format!("{:?}", self.from), problem))?;
        if self.password.is_some() && self.username.is_none() {
            return Err(Invalid::new(
                "password",
                REDACTED,
                "a password needs [smtp] username too",
            ));
        }
        positive(&[
            ("timeout", self.timeout),
            ("retry_max", self.retry_max),
            ("give_up_after", self.give_up_after),
        ])
    }
}

/// Checks `user@domain` or `Name <user@domain>` (a sender, an operator's mailbox).
pub fn check_mailbox(text: &str) -> Result<(), &'static str> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner.get(open + 1..).unwrap_or(""),
        (None, None) => text,
        _ => return Err("expected user@domain or Name <user@domain>"),
    };
    if !address.contains('@') {
        return Err("not an e-mail address (no @)");
    }
    // The one check of an address; a local relay may serve a single-label host.
    crate::contact::parse_address(address, crate::contact::Hosts::Local)
        .map(drop)
        .map_err(|_| "not an e-mail address: expected user@domain or Name <user@domain>")
}

/// How many items a sender claims at a time.
const BATCH: u64 = 20;
/// How long a claimed item stays reserved to one sender (longer than an SMTP conversation
/// with its timeout).
const CLAIM: Duration = Duration::from_secs(300);
/// The first wait after a temporary failure; it doubles at each attempt.
const FIRST_RETRY: SignedDuration = SignedDuration::from_mins(1);
/// Attempts at recording a delivery whose domain keeps changing under us.
const COMMIT_ATTEMPTS: u32 = 5;

/// Why the sender could not run.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The relay's configuration is unusable.
    #[error("cannot use the SMTP relay {url}: {problem}")]
    Relay {
        /// The relay URL, without its password.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// A message ready to go: who to, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    /// The recipients.
    pub to: Vec<Mailbox>,
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// What the sender needs besides the registry and the relay.
pub struct SenderSettings {
    /// This sender's name in claims (`host:pid`).
    pub owner: String,
    /// The sender of every message.
    pub from: Mailbox,
    /// The longest wait between attempts.
    pub retry_max: SignedDuration,
    /// How long temporary failures are retried, from the moment the item was queued.
    pub give_up_after: SignedDuration,
    /// The lifecycle's rules (for the acceptance of error notices).
    pub policy: Policy,
    /// The time.
    pub clock: Clock,
    /// The provider as notices name it.
    pub provider: Provider,
    /// The templates.
    pub templates: Templates,
    /// Where operator notices go (alerts carry their own list).
    pub operators: Vec<String>,
    /// Whether resellers with an e-mail address get a copy.
    pub reseller_copy: bool,
    /// Loads the domains' profiles (for the MX record notices quote).
    pub profiles: ProfileLoader,
    /// The rules of activation (the set-password link of activation notices).
    pub activation: crate::activation::Settings,
}

/// What one pass of the sender did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SendSummary {
    /// Items accepted by the relay.
    pub sent: u64,
    /// Items deferred, to be tried again.
    pub deferred: u64,
    /// Items given up.
    pub failed: u64,
}

impl SendSummary {
    /// One line for people.
    pub fn to_text(&self, lang: Lang) -> String {
        match lang {
            Lang::It => format!(
                "comunicazioni: {} inviate, {} rimandate, {} non recapitabili",
                self.sent, self.deferred, self.failed
            ),
            Lang::En => format!(
                "notices: {} sent, {} deferred, {} failed",
                self.sent, self.deferred, self.failed
            ),
        }
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    /// Accepted, with the server's reply.
    Accepted(String),
    /// Refused for now, or no answer.
    Deferred(String),
    /// Refused for good.
    Refused(String),
}

/// Delivers the outbox over SMTP.
pub struct Sender {
    registry: Registry,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: SenderSettings,
    /// The longest one message may take, all steps together (connection, TLS, AUTH,
    /// DATA): a relay that stops answering mid-conversation defers the message instead
    /// of holding the sender (and, in `serve`, the sweeps) until it hangs up.
    deadline: std::time::Duration,
    /// Whether the relay must offer STARTTLS (a password is set; see
    /// [`NO_STARTTLS`]).
    starttls_for_auth: bool,
}

/// How many `smtp.timeout`s one message may take in all (connection, greeting, TLS,
/// AUTH, envelope, data).
const SEND_STEPS: u32 = 4;

impl Sender {
    /// A sender through the relay `smtp` describes. Must be called inside a tokio
    /// runtime (the relay keeps a pool of connections).
    pub fn new(
        registry: Registry,
        smtp: &SmtpConfig,
        settings: SenderSettings,
    ) -> Result<Self, SendError> {
        Ok(Self {
            registry,
            transport: transport(smtp)?,
            settings,
            deadline: smtp.timeout.unsigned_abs().saturating_mul(SEND_STEPS),
            starttls_for_auth: auth_needs_starttls(smtp),
        })
    }

    /// Delivers every item due now, claiming them a batch at a time; returns what
    /// happened. Items another sender holds are left to it.
    pub async fn send_due(&self) -> Result<SendSummary, SendError> {
        let mut summary = SendSummary::default();
        loop {
            let now = self.settings.clock.now();
            let items = self
                .registry
                .claim_outbox(&self.settings.owner, now, CLAIM, BATCH)
                .await?;
            if items.is_empty() {
                return Ok(summary);
            }
            for item in items {
                match self.deliver(&item).await? {
                    Sent::Accepted(_) => summary.sent += 1,
                    Sent::Deferred(_) => summary.deferred += 1,
                    Sent::Refused(_) => summary.failed += 1,
                }
            }
            if self.settings.clock.is_fixed() && summary.deferred > 0 {
                // With the clock stopped, a deferred item would come due again at once.
                return Ok(summary);
            }
        }
    }

    /// One attempt at one item, recorded. A notice given up for good (refused by the
    /// composer or the relay, or retried until `give_up_after`) raises an operator alert
    /// naming the domain and the reason.
    async fn deliver(&self, item: &OutboxItem) -> Result<Sent, SendError> {
        let now = self.settings.clock.now();
        let message_id = item
            .message_id
            .clone()
            .unwrap_or_else(|| message_id(item, &self.settings.from));
        let messages = match self.compose(item, now).await {
            Ok(messages) => messages,
            Err(problem) => {
                let attempt = Attempt::Failed {
                    error: problem.clone(),
                    message_id: None,
                };
                self.record(item, now, &attempt).await?;
                self.failed(item, now, &problem).await?;
                return Ok(Sent::Refused(problem));
            }
        };
        // The first message is the one that counts (the holder's, or the operators');
        // copies (the reseller's) are sent after it, best effort: whatever becomes of
        // them, the holder's notice and its effect on the domain stand.
        let outcome = self.send(&messages.first, &message_id, now).await;
        match &outcome {
            Sent::Accepted(reply) => {
                self.accepted(item, now, &message_id, reply).await?;
                let mut copy_problems = messages.copy_problems;
                for (n, copy) in messages.copies.iter().enumerate() {
                    let id = copy_id(&message_id, n + 1);
                    if let Sent::Deferred(error) | Sent::Refused(error) =
                        self.send(copy, &id, now).await
                    {
                        copy_problems.push(error);
                    }
                }
                for problem in copy_problems {
                    self.copy_failed(item, now, &problem).await?;
                }
            }
            Sent::Deferred(error) => {
                let queued_for = now.duration_since(item.created);
                if queued_for >= self.settings.give_up_after {
                    let error = format!("given up after {queued_for:#}: {error}");
                    let attempt = Attempt::Failed {
                        error: error.clone(),
                        message_id: Some(message_id),
                    };
                    self.record(item, now, &attempt).await?;
                    self.failed(item, now, &error).await?;
                } else {
                    let attempt = Attempt::Retry {
                        error: error.clone(),
                        message_id,
                        next_attempt: lifecycle::plus(
                            now,
                            backoff(item.attempts, self.settings.retry_max),
                        ),
                    };
                    self.record(item, now, &attempt).await?;
                }
            }
            Sent::Refused(error) => {
                let attempt = Attempt::Failed {
                    error: error.clone(),
                    message_id: Some(message_id),
                };
                self.record(item, now, &attempt).await?;
                self.failed(item, now, error).await?;
            }
        }
        Ok(outcome)
    }

    /// The domain an item is about, by name: from its payload, or its key
    /// (`NAME/v3/0/error_found`).
    fn domain_of(item: &OutboxItem) -> String {
        item.payload
            .get("domain")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| item.key.split('/').next().unwrap_or_default().to_owned())
    }

    /// An item given up for good: the operators must find another way to tell the
    /// holder. A notice about a domain raises an alert (recorded, and mailed to the
    /// operators); an alert that cannot be mailed is recorded only (no alert about an
    /// alert).
    async fn failed(
        &self,
        item: &OutboxItem,
        now: Timestamp,
        error: &str,
    ) -> Result<(), SendError> {
        let error = shorten(error);
        if self.settings.operators.is_empty() {
            // Nobody to alert: an alert would fail the same way. The item stays failed
            // (the console, `notices list` and the metrics show it) and the log says why.
            tracing::error!(
                item = item.id,
                key = %item.key,
                %error,
                "an outbox item could not be delivered and no operator can be told: set sweep.operators"
            );
            return Ok(());
        }
        match item.domain_id {
            Some(domain_id) if item.kind != OutboxKind::Alert => {
                let domain = Self::domain_of(item);
                let what = item
                    .payload
                    .get("kind")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(item.kind.as_str());
                let reason = format!(
                    "the notice {what} (outbox item {}) could not be delivered, the holder \
                     was not told: {error}",
                    item.id
                );
                tracing::warn!(item = item.id, %domain, %error, "a notice could not be delivered");
                let alert = DomainAlert {
                    kind: AlertKind::NoticeFailed,
                    domain_id,
                    domain: &domain,
                    reason: &reason,
                    key: format!("alert/notice/{}/{}", item.id, item.attempts),
                };
                self.registry
                    .alert_about_domain(now, &alert, &self.settings.operators)
                    .await?;
            }
            _ => {
                let message = format!(
                    "operator alert {} ({}) could not be delivered: {error}",
                    item.id, item.key
                );
                tracing::error!(item = item.id, %error, "an operator alert could not be delivered");
                self.registry
                    .add_alert(now, AlertKind::AlertFailed, &message)
                    .await?;
            }
        }
        Ok(())
    }

    /// A reseller's copy that could not be sent (its notice went out): the operators
    /// are told, by an alert naming the domain.
    async fn copy_failed(
        &self,
        item: &OutboxItem,
        now: Timestamp,
        error: &str,
    ) -> Result<(), SendError> {
        let Some(domain_id) = item.domain_id else {
            return Ok(());
        };
        if self.settings.operators.is_empty() {
            tracing::error!(
                item = item.id,
                %error,
                "a reseller's copy was not sent and no operator can be told: set sweep.operators"
            );
            return Ok(());
        }
        let domain = Self::domain_of(item);
        let reason = format!(
            "the reseller's copy of outbox item {} was not sent (the holder's notice was): {}",
            item.id,
            shorten(error)
        );
        tracing::warn!(item = item.id, %domain, %reason, "the copy of a notice was not sent");
        let alert = DomainAlert {
            kind: AlertKind::ResellerCopyFailed,
            domain_id,
            domain: &domain,
            reason: &reason,
            key: format!("alert/copy/{}/{}", item.id, item.attempts),
        };
        self.registry
            .alert_about_domain(now, &alert, &self.settings.operators)
            .await?;
        Ok(())
    }

    /// Hands one message to the relay.
    async fn send(&self, composed: &Composed, message_id: &str, now: Timestamp) -> Sent {
        let message = match build(composed, &self.settings.from, message_id, now) {
            Ok(message) => message,
            Err(problem) => return Sent::Refused(problem),
        };
        let sent = tokio::time::timeout(self.deadline, self.transport.send(message)).await;
        let Ok(sent) = sent else {
            return Sent::Deferred(format!(
                "the relay did not finish the conversation within {} s",
                self.deadline.as_secs()
            ));
        };
        match sent {
            Ok(response) => {
                let text: Vec<&str> = response.message().collect();
                Sent::Accepted(format!("{} {}", response.code(), text.join(" ")))
            }
            Err(error) if error.is_permanent() => Sent::Refused(describe(&error)),
            Err(error)
                if self.starttls_for_auth
                    && error.is_client()
                    && describe(&error).contains("STARTTLS is not supported") =>
            {
                Sent::Deferred(NO_STARTTLS.to_owned())
            }
            Err(error) => Sent::Deferred(describe(&error)),
        }
    }

    /// Records an accepted item: for a notice about a domain, with the domain's update
    /// (an accepted error notice starts the grace period), in one transaction.
    async fn accepted(
        &self,
        item: &OutboxItem,
        now: Timestamp,
        message_id: &str,
        reply: &str,
    ) -> Result<(), SendError> {
        let Some(domain_id) = item.domain_id else {
            let attempt = Attempt::Sent {
                accepted_at: now,
                message_id: message_id.to_owned(),
                reply: reply.to_owned(),
            };
            return self.record(item, now, &attempt).await;
        };
        let event = notice_event(item, now);
        for _ in 0..COMMIT_ATTEMPTS {
            let Some(domain) = self.registry.domain_by_id(domain_id).await? else {
                // The domain was deleted meanwhile: the item went with it.
                return Ok(());
            };
            let mut update = DomainUpdate::new(&domain, domain.next_check);
            if let Some(event) = &event
                && let Ok(outcome) = lifecycle::apply(&domain.status, event, &self.settings.policy)
            {
                update = update.with_outcome(&domain, outcome);
                if let Some(status) = &update.status {
                    // The grace period may now end before the next planned check.
                    update.next_check = lifecycle::next_due(status, &self.settings.policy, now)
                        .map_or(domain.next_check, |due| due.min(domain.next_check));
                }
            }
            update.deliveries = vec![Delivery {
                item_id: item.id,
                accepted_at: now,
                message_id: message_id.to_owned(),
                reply: reply.to_owned(),
            }];
            match self
                .registry
                .commit(&self.settings.owner, now, update)
                .await
            {
                Ok(()) => return Ok(()),
                Err(RegistryError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(RegistryError::Conflict.into())
    }

    /// The messages of an item: the one that counts (the holder's, or the operators'),
    /// and the copies (the reseller's). An `Err` is a permanent problem of the one that
    /// counts (no recipient, an address the composer refuses, a template that does not
    /// render, a domain gone), given up at once; a copy's problem never stops it.
    async fn compose(&self, item: &OutboxItem, now: Timestamp) -> Result<Messages, String> {
        let settings = &self.settings;
        // Alerts go to the operators, about a sweep or about a domain (a bounced error
        // notice); everything else with a domain is a notice about it.
        let domain_id = match item.domain_id {
            Some(id) if item.kind != OutboxKind::Alert => Some(id),
            _ => None,
        };
        let Some(domain_id) = domain_id else {
            let alert = AlertContext::from_payload(
                &item.payload,
                Some(item.created),
                Lang::It,
                settings.provider.clone(),
            )
            .map_err(|e| e.to_string())?;
            let to: Vec<String> = match item.payload.get("to").and_then(|to| to.as_array()) {
                Some(listed) if !listed.is_empty() => listed
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                _ => settings.operators.clone(),
            };
            let rendered = render_alert(&alert, &settings.templates).map_err(|e| e.to_string())?;
            return Ok(Messages::one(composed(&to, rendered)?));
        };
        let kind: NoticeKind = item
            .payload
            .get("kind")
            .and_then(|kind| serde_json::from_value(kind.clone()).ok())
            .ok_or_else(|| format!("not a notice: {}", item.payload))?;
        let episode = item
            .payload
            .get("episode")
            .and_then(|e| e.as_u64())
            .and_then(|e| u32::try_from(e).ok())
            .unwrap_or(0);
        let domain = self
            .registry
            .domain_by_id(domain_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("domain {domain_id} no longer exists"))?;
        let profile = (settings.profiles)(&domain.profile)?;
        let mut context =
            NoticeContext::for_domain(kind, episode, &domain, &profile, settings.provider.clone());
        if kind == NoticeKind::ErrorFound {
            // The errors of the check that confirmed the failure, and the deadline the
            // acceptance of this very notice will set.
            let checks = self
                .registry
                .checks(domain.id, 10)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(failing) = checks.iter().find(|check| !check.summary.ok) {
                context = context
                    .with_check(&failing.result)
                    .map_err(|e| e.to_string())?;
            }
            if context.deadline.is_none() {
                context.deadline = Some(lifecycle::plus(now, settings.policy.grace));
            }
        }
        if kind == NoticeKind::Activated && !context.for_reseller {
            // The activation steps the notice announces: the postmaster mailbox, and the
            // link to set its password (a new one at each rendering; never logged).
            context.set_password_link = crate::activation::prepare_notice(
                &self.registry,
                &settings.activation,
                &domain,
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        let rendered = render(&context, &settings.templates).map_err(|e| e.to_string())?;
        let mut messages = if kind.to_operators() {
            Messages::one(composed(&settings.operators, rendered)?)
        } else {
            let holder = mailbox(domain.holder.name.as_deref(), &domain.holder.email)
                .map_err(|problem| format!("the holder's address: {problem}"))?;
            Messages::one(Composed::to(vec![holder], rendered))
        };
        if settings.reseller_copy
            && !kind.to_operators()
            && let Some(reseller) = domain.reseller.as_deref().filter(|r| r.contains('@'))
            && let Some(copy) = context.reseller_copy()
        {
            let copy = mailbox(None, reseller).and_then(|to| {
                render(&copy, &settings.templates)
                    .map(|rendered| Composed::to(vec![to], rendered))
                    .map_err(|e| e.to_string())
            });
            match copy {
                Ok(copy) => messages.copies.push(copy),
                Err(problem) => messages
                    .copy_problems
                    .push(format!("the reseller's address: {problem}")),
            }
        }
        Ok(messages)
    }

    /// Records an attempt; a lost claim (another sender took the item over) is logged.
    async fn record(
        &self,
        item: &OutboxItem,
        now: Timestamp,
        attempt: &Attempt,
    ) -> Result<(), SendError> {
        let recorded = self
            .registry
            .record_attempt(item.id, &self.settings.owner, now, attempt)
            .await?;
        if !recorded {
            tracing::warn!(
                item = item.id,
                "the claim on a notice lapsed before its outcome was recorded"
            );
        }
        Ok(())
    }
}

/// The messages of one outbox item.
struct Messages {
    /// The one that counts: the holder's notice, or the operators'.
    first: Composed,
    /// Copies (the reseller's), sent after it, best effort.
    copies: Vec<Composed>,
    /// Copies that could not even be composed, and why.
    copy_problems: Vec<String>,
}

impl Messages {
    fn one(first: Composed) -> Self {
        Self {
            first,
            copies: Vec::new(),
            copy_problems: Vec::new(),
        }
    }
}

/// Who an item goes to, as [`Sender`] addresses it: an alert to the addresses it names
/// or the operators; a notice to the operators (`under_review`) or the holder, plus the
/// reseller's copy (when `reseller_copy` and the reseller is an address). For showing a
/// notice (`pecwatch notices show`).
pub fn recipients(
    item: &OutboxItem,
    domain: Option<&crate::registry::Domain>,
    operators: &[String],
    reseller_copy: bool,
) -> Vec<String> {
    let listed = |item: &OutboxItem| -> Vec<String> {
        match item.payload.get("to").and_then(|to| to.as_array()) {
            Some(listed) if !listed.is_empty() => listed
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => operators.to_vec(),
        }
    };
    let Some(domain) = domain.filter(|_| item.kind != OutboxKind::Alert) else {
        return listed(item);
    };
    let kind: Option<NoticeKind> = item
        .payload
        .get("kind")
        .and_then(|kind| serde_json::from_value(kind.clone()).ok());
    if kind.is_some_and(NoticeKind::to_operators) {
        return operators.to_vec();
    }
    let mut to = vec![named(domain.holder.name.as_deref(), &domain.holder.email)];
    if reseller_copy && let Some(reseller) = domain.reseller.as_deref().filter(|r| r.contains('@'))
    {
        to.push(reseller.to_owned());
    }
    to
}

/// `Name <address>`, or the address alone.
fn named(name: Option<&str>, address: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("\"{}\" <{address}>", name.replace(['"', '\\'], "")),
        None => address.to_owned(),
    }
}

impl Composed {
    fn to(to: Vec<Mailbox>, rendered: RenderedNotice) -> Self {
        Composed {
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        }
    }
}

/// The longest piece of an error (or of a stored value in it) an alert quotes.
const ALERT_TEXT_CHARS: usize = 300;

/// `text` cut to [`ALERT_TEXT_CHARS`] characters, on one line.
fn shorten(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ALERT_TEXT_CHARS + 1)
        .collect();
    if line.chars().count() > ALERT_TEXT_CHARS {
        let mut cut: String = line.chars().take(ALERT_TEXT_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

/// The recipient `Name <address>` of a stored name and address, whatever the name holds
/// (made printable: no control characters, a length cap; the header encodes the rest).
/// An `Err` when the address is not one the composer can send to.
fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, String> {
    let email = address
        .trim()
        .parse::<lettre::Address>()
        .map_err(|error| format!("{:?} is not an address: {error}", shorten(address)))?;
    Ok(Mailbox::new(
        name.and_then(crate::contact::printable_name),
        email,
    ))
}

/// A composed message to `to` (addresses or `Name <address>`).
fn composed(to: &[String], rendered: RenderedNotice) -> Result<Composed, String> {
    if to.is_empty() {
        return Err("no recipient (for operator notices: set sweep.operators)".to_owned());
    }
    let to = to
        .iter()
        .map(|address| {
            address
                .parse::<Mailbox>()
                .map_err(|e| format!("invalid recipient {:?}: {e}", shorten(address)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Composed::to(to, rendered))
}

// ---------------------------------------------------------------------------------------
// Bounces
// ---------------------------------------------------------------------------------------

/// What a delivery status notification (RFC 3464) says about one of our messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of our message it reports on.
    pub message_id: String,
    /// Whether delivery failed for good (`Action: failed`, status 5.x.x); a delay
    /// notice (`Action: delayed`, 4.x.x) is not.
    pub permanent: bool,
    /// `Status`, `Final-Recipient` and `Diagnostic-Code`, for people.
    pub reason: String,
}

/// Reads a delivery status notification as a mail server passes it on (the whole
/// message): the Message-ID of ours it reports on (`<pecwatch.…>`, in the returned
/// headers) and whether delivery failed. `None` when it is not about a pecwatch message.
pub fn parse_bounce(message: &str) -> Option<Bounce> {
    // Skip the report's own headers: its Message-ID is not ours.
    let body = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .map_or("", |(_, body)| body);
    let field = |name: &str| -> Option<String> {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let message_id = body.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let value = value.trim();
        (key.trim().eq_ignore_ascii_case("Message-ID") && value.starts_with("<pecwatch."))
            .then(|| value.to_owned())
    })?;
    let status = field("Status").unwrap_or_default();
    let action = field("Action").unwrap_or_default().to_ascii_lowercase();
    let permanent = action == "failed" || status.starts_with('5');
    let reason = [
        ("status", field("Status")),
        ("recipient", field("Final-Recipient")),
        ("diagnostic", field("Diagnostic-Code")),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.map(|v| format!("{label} {v}")))
    .collect::<Vec<_>>()
    .join("; ");
    Some(Bounce {
        message_id,
        permanent,
        reason,
    })
}

/// What became of a bounce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "bounce", rename_all = "snake_case")]
pub enum BounceOutcome {
    /// The notice is now failed; for an error notice the grace period was taken back.
    Recorded {
        /// The outbox item.
        item: i64,
    },
    /// A delay notice: delivery is still being tried by the mail servers.
    Delayed,
    /// Not about a notice of ours we know (or it was sent again since).
    Unknown,
}

/// Records a bounce: the notice failed, and if it was the error notice that started a
/// grace period, the period is taken back and the operators alerted (in one transaction
/// with the domain's update).
pub async fn record_bounce(
    registry: &Registry,
    policy: &Policy,
    bounce: &Bounce,
    now: Timestamp,
) -> Result<BounceOutcome, RegistryError> {
    if !bounce.permanent {
        return Ok(BounceOutcome::Delayed);
    }
    let Some(item) = registry.outbox_by_message_id(&bounce.message_id).await? else {
        return Ok(BounceOutcome::Unknown);
    };
    let error = format!("bounced: {}", bounce.reason);
    let Some(domain_id) = item.domain_id else {
        registry
            .add_alert(
                now,
                AlertKind::NoticeBounced,
                &format!("alert {}: {error}", item.id),
            )
            .await?;
        return Ok(BounceOutcome::Recorded { item: item.id });
    };
    for _ in 0..COMMIT_ATTEMPTS {
        let Some(domain) = registry.domain_by_id(domain_id).await? else {
            return Ok(BounceOutcome::Unknown);
        };
        let mut update = DomainUpdate::new(&domain, domain.next_check);
        if let Some(Event::NoticeAccepted { kind, episode, .. }) = notice_event(&item, now)
            && let Ok(outcome) = lifecycle::apply(
                &domain.status,
                &Event::NoticeBounced {
                    at: now,
                    kind,
                    episode,
                },
                policy,
            )
        {
            update = update.with_outcome(&domain, outcome);
        }
        update.bounces = vec![(item.id, error.clone())];
        match registry.commit("bounce", now, update).await {
            Ok(()) => {
                let message = format!(
                    "notice {} ({}) to {} bounced: {}",
                    item.id, item.key, domain.holder.email, bounce.reason
                );
                tracing::warn!(item = item.id, "{message}");
                registry
                    .add_alert(now, AlertKind::NoticeBounced, &message)
                    .await?;
                return Ok(BounceOutcome::Recorded { item: item.id });
            }
            Err(RegistryError::Conflict) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(RegistryError::Conflict)
}

/// The lifecycle event of an accepted notice (`None` for items that are not notices).
fn notice_event(item: &OutboxItem, at: Timestamp) -> Option<Event> {
    let kind: NoticeKind = serde_json::from_value(item.payload.get("kind")?.clone()).ok()?;
    let episode = u32::try_from(item.payload.get("episode")?.as_u64()?).ok()?;
    Some(Event::NoticeAccepted { at, kind, episode })
}

/// The wait before attempt `attempts + 1`: 1, 2, 4, … minutes, at most `max`.
pub fn backoff(attempts: u32, max: SignedDuration) -> SignedDuration {
    let factor = 1_i32.checked_shl(attempts.min(20)).unwrap_or(i32::MAX);
    FIRST_RETRY.checked_mul(factor).unwrap_or(max).min(max)
}

/// The Message-ID of an item: stable across its attempts (and across processes), unique
/// to the item and to each resend (`message_id` is cleared by a resend, and the attempt
/// count differs then).
fn message_id(item: &OutboxItem, from: &Mailbox) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a of the key
    for byte in item.key.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "<pecwatch.{}.{hash:016x}.{}@{}>",
        item.id,
        item.attempts,
        from.email.domain()
    )
}

/// The Message-ID of the `n`-th copy of a message.
fn copy_id(message_id: &str, n: usize) -> String {
    message_id.replacen("@", &format!(".copy{n}@"), 1)
}

/// The MIME message: plain text and HTML alternatives, UTF-8, with its Message-ID and
/// date.
fn build(
    composed: &Composed,
    from: &Mailbox,
    message_id: &str,
    now: Timestamp,
) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(composed.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .date(system_time(now));
    for to in &composed.to {
        builder = builder.to(to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            composed.text.clone(),
            composed.html.clone(),
        ))
        .map_err(|error| format!("cannot build the message: {error}"))
}

/// A timestamp as the standard library's time.
fn system_time(at: Timestamp) -> std::time::SystemTime {
    let since = Duration::new(
        u64::try_from(at.as_second()).unwrap_or(0),
        u32::try_from(at.subsec_nanosecond()).unwrap_or(0),
    );
    std::time::UNIX_EPOCH + since
}

/// An SMTP error for people and the outbox: the server's reply when there is one.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the relay must upgrade to TLS (STARTTLS) before anything is sent: on
/// `smtp://` with a user name, unless `smtp.allow_plaintext_auth`.
fn auth_needs_starttls(smtp: &SmtpConfig) -> bool {
    smtp.username.is_some() && !smtp.allow_plaintext_auth && smtp.url.starts_with("smtp://")
}

/// Why nothing was sent to a relay that offers no STARTTLS while a password is set.
pub const NO_STARTTLS: &str = "the relay does not offer STARTTLS: the SMTP user name and \
     password would travel in clear, so nothing was sent (use a relay with STARTTLS or \
     smtps://, or set [smtp] allow_plaintext_auth = true to allow it)";

/// Why the relay cannot be used (`pecwatch doctor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayFailure {
    /// No connection, or no answer in time.
    Unreachable,
    /// The TLS handshake failed (an untrusted certificate, a wrong host name).
    Tls,
    /// The relay answered but refused (authentication, a required STARTTLS).
    Refused,
}

/// A relay that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayProblem {
    /// The kind of failure.
    pub kind: RelayFailure,
    /// The relay's or the connection's message.
    pub message: String,
}

/// Connects to the relay as the sender does (EHLO, STARTTLS when offered or TLS from the
/// start, AUTH when a user name is set), then says QUIT: sends nothing.
pub async fn test_relay(smtp: &SmtpConfig) -> Result<(), RelayProblem> {
    let transport = transport(smtp).map_err(|error| RelayProblem {
        kind: RelayFailure::Unreachable,
        message: error.to_string(),
    })?;
    let limit = smtp.timeout.unsigned_abs() + Duration::from_secs(1);
    match tokio::time::timeout(limit, transport.test_connection()).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(RelayProblem {
            kind: RelayFailure::Refused,
            message: "the relay did not answer NOOP".into(),
        }),
        Ok(Err(error)) => {
            let kind = if error.is_tls() {
                RelayFailure::Tls
            } else if error.is_permanent() || error.is_client() || error.is_transient() {
                RelayFailure::Refused
            } else {
                RelayFailure::Unreachable
            };
            Err(RelayProblem {
                kind,
                message: describe(&error),
            })
        }
        Err(_) => Err(RelayProblem {
            kind: RelayFailure::Unreachable,
            message: format!("no answer within {} s", limit.as_secs()),
        }),
    }
}

/// The relay from `smtp.url`: `smtp://` with STARTTLS when offered (required when a user
/// name is set, unless `smtp.allow_plaintext_auth`), `smtps://` with TLS from the start,
/// trusting the system's roots and `smtp.ca_file`; authentication when a user name is set.
fn transport(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let invalid = |problem: String| SendError::Relay {
        url: redact_url(&smtp.url),
        problem,
    };
    let (tls_from_start, rest) = if let Some(rest) = smtp.url.strip_prefix("smtps://") {
        (true, rest)
    } else if let Some(rest) = smtp.url.strip_prefix("smtp://") {
        (false, rest)
    } else {
        return Err(invalid(
            "expected smtp://HOST[:PORT] or smtps://HOST[:PORT]".into(),
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
            host.trim_matches(['[', ']']),
            Some(
                port.parse::<u16>()
                    .map_err(|_| invalid(format!("bad port {port:?}")))?,
            ),
        ),
        _ => (authority.trim_matches(['[', ']']), None),
    };
    if host.is_empty() {
        return Err(invalid("no host".into()));
    }
    let mut tls = TlsParameters::builder(host.to_owned());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| invalid(format!("cannot read ca_file {}: {error}", path.display())))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|error| invalid(format!("ca_file {}: {error}", path.display())))?;
        tls = tls.add_root_certificate(certificate);
    }
    let parameters = tls
        .build_rustls()
        .map_err(|error| invalid(error.to_string()))?;
    let (tls, default_port) = if tls_from_start {
        (Tls::Wrapper(parameters), 465)
    } else if auth_needs_starttls(smtp) {
        // A password never travels in clear: no STARTTLS, no AUTH and no message.
        (Tls::Required(parameters), 25)
    } else {
        (Tls::Opportunistic(parameters), 25)
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(smtp.timeout.unsigned_abs()));
    if let Some(username) = &smtp.username {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            smtp.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        for good in ["ops@example.it", "PEC monitor <noreply@localhost>", "<a@b>"] {
            assert!(check_mailbox(good).is_ok(), "{good}");
        }
        for bad in [
            "ops",
            "@example.it",
            "ops@",
            "a <b@c",
            "a b@c.it",
            "x <a@b>>",
        ] {
            assert!(check_mailbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounces_name_our_message_and_say_whether_they_are_final() {
        let dsn = "From: MAILER-DAEMON@esempio.it\nMessage-ID: <dsn.1@esempio.it>\n\
            Content-Type: multipart/report; report-type=delivery-status\n\n\
            --b\nContent-Type: message/delivery-status\n\n\
            Reporting-MTA: dns; mx.esempio.it\n\n\
            Final-Recipient: rfc822; titolare@esempio.it\nAction: failed\nStatus: 5.2.2\n\
            Diagnostic-Code: smtp; 552 5.2.2 mailbox full\n\n\
            --b\nContent-Type: text/rfc822-headers\n\n\
            From: Monitor PEC <monitor@gestore.example>\n\
            Message-ID: <pecwatch.7.00ff.0@gestore.example>\nSubject: [PEC] Errore\n--b--\n";
        let bounce = parse_bounce(dsn).unwrap();
        assert_eq!(bounce.message_id, "<pecwatch.7.00ff.0@gestore.example>");
        assert!(bounce.permanent);
        assert_eq!(
            bounce.reason,
            "status 5.2.2; recipient rfc822; titolare@esempio.it; diagnostic smtp; 552 5.2.2 mailbox full"
        );
        let delayed = dsn
            .replace("Action: failed", "Action: delayed")
            .replace("Status: 5.2.2", "Status: 4.4.1");
        assert!(!parse_bounce(&delayed).unwrap().permanent);
        assert_eq!(parse_bounce("Subject: hello\n\nnot a report"), None);
        assert_eq!(parse_bounce(""), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let max = SignedDuration::from_mins(10);
        let waits: Vec<i64> = (0..6).map(|n| backoff(n, max).as_mins()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(u32::MAX, max), max);
    }

    #[tokio::test]
    async fn relays_from_urls() {
        let with = |url: &str| SmtpConfig {
            url: url.into(),
            ..SmtpConfig::default()
        };
        for good in [
            "smtp://127.0.0.1:2525",
            "smtps://mail.example.it",
            "smtp://[::1]:25",
        ] {
            assert!(transport(&with(good)).is_ok(), "{good}");
        }
        let login = |url: &str, allow: bool| SmtpConfig {
            username: Some("pecwatch".into()),
            password: Some("segreto".into()),
            allow_plaintext_auth: allow,
            ..with(url)
        };
        assert!(auth_needs_starttls(&login("smtp://127.0.0.1:2525", false)));
        assert!(!auth_needs_starttls(&login("smtp://127.0.0.1:2525", true)));
        assert!(!auth_needs_starttls(&login(
            "smtps://mail.example.it",
            false
        )));
        assert!(!auth_needs_starttls(&with("smtp://127.0.0.1:2525")));
        assert!(NO_STARTTLS.contains("allow_plaintext_auth = true"));
        for bad in ["http://x", "smtp://:25", "smtp://host:port"] {
            let error = transport(&with(bad)).unwrap_err().to_string();
            assert!(error.starts_with("cannot use the SMTP relay"), "{error}");
        }
    }

    #[test]
    fn message_ids_are_stable_per_item_and_new_per_resend() {
        let from: Mailbox = "PEC <noreply@provider.example>".parse().unwrap();
        let item = OutboxItem {
            id: 7,
            domain_id: Some(1),
            key: "pec.x.it/v3/0/error_found".into(),
            kind: OutboxKind::Notice,
            payload: serde_json::json!({"kind": "error_found", "episode": 1}),
            created: Timestamp::UNIX_EPOCH,
            state: crate::registry::OutboxState::Pending,
            attempts: 0,
            last_error: None,
            accepted_at: None,
            updated: Timestamp::UNIX_EPOCH,
            next_attempt: None,
            message_id: None,
            reply: None,
        };
        let first = message_id(&item, &from);
        assert_eq!(first, message_id(&item.clone(), &from));
        assert!(first.starts_with("<pecwatch.7.") && first.ends_with("@provider.example>"));
        let resent = OutboxItem {
            attempts: 3,
            ..item.clone()
        };
        assert_ne!(message_id(&resent, &from), first);
        assert_eq!(
            notice_event(&item, Timestamp::UNIX_EPOCH),
            Some(Event::NoticeAccepted {
                at: Timestamp::UNIX_EPOCH,
                kind: NoticeKind::ErrorFound,
                episode: 1
            })
        );
        assert_eq!(copy_id("<a.b@c>", 1), "<a.b.copy1@c>");
    }
}
