//! Notifications about Applications, configured as Argo CD notifications are.
//!
//! A [`NotifyConfig`] is read from an `argocd-notifications-cm`-style `data` map and a secrets
//! map ([`config`]); a [`Notifier`] is called by the controller with the Application object
//! after every status write and sends what the configuration's triggers and subscriptions ask
//! for. Each trigger condition sends once per transition: when it becomes true (or, with
//! `oncePer`, when that value is new) it sends and is remembered; while it stays true it does not
//! send again; when it becomes false it is forgotten (values of `oncePer` are kept, so a
//! revision is announced once even when health flaps). The memory is kept per Application,
//! trigger, condition and destination; a delivery that fails over HTTP is forgotten, so the next
//! call tries again.
//!
//! Built-in triggers and templates (see [below](#built-in-triggers)) are usable without being
//! defined: `on-sync-succeeded`, `on-sync-failed`, `on-sync-running`,
//! `on-health-degraded`, `on-deployed` (once per synced revision) and `on-drift-detected`.
//!
//! Subscriptions come from the configuration's `subscriptions` key and from the Application's
//! annotations `notifications.argoproj.io/subscribe.<trigger>.<service>: <recipient>;...` (or
//! `subscribe.<service>` for the default triggers).
//!
//! Reports ([`Delivery`]) and logs name the Application, trigger, service, recipient and the
//! receiver's address without its query string; header values, credentials and secret values
//! never appear in them.
//!
//! # Built-in triggers
//!
//! | trigger | when |
//! |---|---|
//! | `on-sync-succeeded` | `app.status.operationState.phase in ['Succeeded']` |
//! | `on-sync-failed` | `app.status.operationState.phase in ['Error', 'Failed']` |
//! | `on-sync-running` | `app.status.operationState.phase in ['Running']` |
//! | `on-health-degraded` | `app.status.health.status == 'Degraded'` |
//! | `on-deployed` | Succeeded and Healthy, once per `app.status.operationState.syncResult.revision` |
//! | `on-drift-detected` | `app.status.sync.status == 'OutOfSync'` |

mod catalog;
pub mod config;
pub mod expr;
mod render;
mod send;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::Value;
use strata_gotemplate::TemplateError;

pub use config::{ConfigError, NotifyConfig};
pub use send::RetryPolicy;

use config::{Service, split_recipient};
use send::{HttpOutcome, HttpSender, Outgoing};

/// The annotation prefix of per-Application subscriptions.
pub const SUBSCRIBE_ANNOTATION_PREFIX: &str = "notifications.argoproj.io/subscribe.";

/// Most `oncePer` values remembered per Application (the oldest are forgotten first).
const ONCE_PER_MEMORY: usize = 256;

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// An annotation subscription names an unknown trigger or service.
    #[error("subscription annotation {annotation}: {reason}")]
    Subscription {
        /// The annotation.
        annotation: String,
        /// What is wrong.
        reason: String,
    },
    /// A template field failed to render.
    #[error("template {template}: field {field} failed to render")]
    Render {
        /// The template.
        template: String,
        /// The field.
        field: String,
        /// The engine's error.
        #[source]
        source: TemplateError,
    },
    /// A rendered field that must be JSON is not.
    #[error("template {template}: field {field} did not render to JSON: {source}")]
    InvalidJson {
        /// The template.
        template: String,
        /// The field.
        field: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// None of the trigger's templates has a `webhook.<service>` section.
    #[error("none of the templates {templates:?} has a webhook.{service} section")]
    NoWebhookRequest {
        /// The webhook service.
        service: String,
        /// The templates the trigger sends.
        templates: Vec<String>,
    },
    /// The receiver answered with an error status.
    #[error("{target} answered {status} after {attempts} attempt(s): {body}")]
    Rejected {
        /// Method and address (no query string, no credentials).
        target: String,
        /// The HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The start of the answer's body.
        body: String,
    },
    /// The receiver could not be reached.
    #[error("{target} unreachable after {attempts} attempt(s): {error}")]
    Unreachable {
        /// Method and address (no query string, no credentials).
        target: String,
        /// Attempts made.
        attempts: u32,
        /// The connection error.
        error: String,
    },
}

/// A notification that was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Method and address (no query string, no credentials).
    pub target: String,
    /// The receiver's HTTP status.
    pub status: u16,
    /// Attempts it took.
    pub attempts: u32,
}

/// One notification the [`Notifier`] tried to send.
#[derive(Debug)]
pub struct Delivery {
    /// The Application (`namespace/name`).
    pub app: String,
    /// The trigger that fired.
    pub trigger: String,
    /// The service it was sent with.
    pub service: String,
    /// The recipient (a Slack channel; empty for webhooks).
    pub recipient: String,
    /// What happened.
    pub outcome: Result<Delivered, DeliveryError>,
}

/// The Notifier cannot be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifierError {
    /// The TLS client configuration failed.
    #[error("cannot configure TLS for notifications")]
    Tls {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What is remembered about one Application.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum MemoryKey {
    /// A trigger condition that sent to a destination (with its `oncePer` value).
    Sent {
        trigger: String,
        condition: usize,
        service: String,
        recipient: String,
        once_per: Option<String>,
    },
    /// A subscription error already reported.
    SubscriptionError { annotation: String, reason: String },
}

impl MemoryKey {
    fn is_once_per(&self) -> bool {
        matches!(
            self,
            MemoryKey::Sent {
                once_per: Some(_),
                ..
            }
        )
    }
}

#[derive(Debug, Default)]
struct AppMemory {
    /// Remembered keys and when they were first remembered (a counter).
    keys: BTreeMap<MemoryKey, u64>,
    next: u64,
}

/// A notification to send (or an error to report) on this call.
struct Pending {
    key: MemoryKey,
    trigger: String,
    service: String,
    recipient: String,
    work: Result<Vec<String>, DeliveryError>,
}

/// Sends notifications for Applications, once per transition of each trigger.
#[derive(Debug)]
pub struct Notifier {
    config: NotifyConfig,
    sender: HttpSender,
    memory: Mutex<HashMap<String, AppMemory>>,
}

impl Notifier {
    /// A notifier with the default [`RetryPolicy`].
    pub fn new(config: NotifyConfig) -> Result<Self, NotifierError> {
        Self::with_retry(config, RetryPolicy::default())
    }

    /// A notifier retrying as `retry` says.
    pub fn with_retry(config: NotifyConfig, retry: RetryPolicy) -> Result<Self, NotifierError> {
        let sender = HttpSender::new(retry).map_err(|source| NotifierError::Tls {
            source: Box::new(source),
        })?;
        Ok(Self {
            config,
            sender,
            memory: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// Evaluates every subscribed trigger against `app` (the Application object, as
    /// [`crate::status::AppRecord::to_object`] gives it) and sends what newly became true.
    /// Returns what was tried, each delivery's outcome included (also logged).
    pub async fn notify(&self, app: &Value) -> Vec<Delivery> {
        let app_key = app_key(app);
        let pending = self.pending(&app_key, app);
        let sends = pending.into_iter().map(|p| self.deliver(&app_key, app, p));
        let deliveries = futures::future::join_all(sends).await;
        for delivery in &deliveries {
            log(delivery);
        }
        deliveries
    }

    /// Forgets what was sent for an Application (it was deleted).
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock_memory().remove(&format!("{namespace}/{name}"));
    }

    fn lock_memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, AppMemory>> {
        match self.memory.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Decides what to send: the conditions true now that were not remembered. Updates the
    /// memory (sends are remembered before they are made, so concurrent calls do not repeat
    /// them).
    fn pending(&self, app_key: &str, app: &Value) -> Vec<Pending> {
        let (destinations, errors) = self.destinations(app);
        let mut current: Vec<Pending> = errors
            .into_iter()
            .map(|(trigger, service, annotation, reason)| Pending {
                key: MemoryKey::SubscriptionError {
                    annotation: annotation.clone(),
                    reason: reason.clone(),
                },
                trigger,
                service,
                recipient: String::new(),
                work: Err(DeliveryError::Subscription { annotation, reason }),
            })
            .collect();
        for (trigger, service, recipient) in destinations {
            let Some(conditions) = self.config.triggers.get(&trigger) else {
                continue;
            };
            for (index, condition) in conditions.iter().enumerate() {
                if !condition.when.is_true(app) {
                    continue;
                }
                let once_per = condition.once_per.as_ref().map(|e| match e.evaluate(app) {
                    Value::String(text) => text,
                    Value::Null => String::new(),
                    other => other.to_string(),
                });
                current.push(Pending {
                    key: MemoryKey::Sent {
                        trigger: trigger.clone(),
                        condition: index,
                        service: service.clone(),
                        recipient: recipient.clone(),
                        once_per,
                    },
                    trigger: trigger.clone(),
                    service: service.clone(),
                    recipient: recipient.clone(),
                    work: Ok(condition.send.clone()),
                });
            }
        }

        let mut memory = self.lock_memory();
        let entry = memory.entry(app_key.to_string()).or_default();
        let current_keys: BTreeSet<&MemoryKey> = current.iter().map(|p| &p.key).collect();
        entry
            .keys
            .retain(|key, _| key.is_once_per() || current_keys.contains(key));
        let mut new = Vec::new();
        for pending in current {
            if entry.keys.contains_key(&pending.key) {
                continue;
            }
            entry.next += 1;
            entry.keys.insert(pending.key.clone(), entry.next);
            new.push(pending);
        }
        let once_per_count = entry.keys.keys().filter(|k| k.is_once_per()).count();
        if once_per_count > ONCE_PER_MEMORY {
            let mut oldest: Vec<(u64, MemoryKey)> = entry
                .keys
                .iter()
                .filter(|(k, _)| k.is_once_per())
                .map(|(k, seq)| (*seq, k.clone()))
                .collect();
            oldest.sort();
            for (_, key) in oldest.into_iter().take(once_per_count - ONCE_PER_MEMORY) {
                entry.keys.remove(&key);
            }
        }
        new
    }

    /// Every `(trigger, service, recipient)` subscribed for `app`, and the subscription errors
    /// `(trigger, service, annotation, reason)`.
    #[allow(clippy::type_complexity)]
    fn destinations(
        &self,
        app: &Value,
    ) -> (
        BTreeSet<(String, String, String)>,
        Vec<(String, String, String, String)>,
    ) {
        let mut destinations = BTreeSet::new();
        let mut errors = Vec::new();
        let labels = app.pointer("/metadata/labels").and_then(Value::as_object);
        for subscription in &self.config.subscriptions {
            if !subscription.selector.matches(labels) {
                continue;
            }
            for (service, recipient) in &subscription.recipients {
                let triggers = if subscription.triggers.is_empty() {
                    self.config.default_triggers_for(service)
                } else {
                    &subscription.triggers
                };
                for trigger in triggers {
                    destinations.insert((trigger.clone(), service.clone(), recipient.clone()));
                }
            }
        }
        let annotations = app
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        for (annotation, value) in annotations.into_iter().flatten() {
            let Some(rest) = annotation.strip_prefix(SUBSCRIBE_ANNOTATION_PREFIX) else {
                continue;
            };
            let (trigger, service) = match rest.split_once('.') {
                Some((trigger, service)) => (Some(trigger), service),
                None => (None, rest),
            };
            let mut error = |reason: String| {
                errors.push((
                    trigger.unwrap_or_default().to_string(),
                    service.to_string(),
                    annotation.clone(),
                    reason,
                ));
            };
            if !self.config.services.contains_key(service) {
                error(format!("unknown service {service}"));
                continue;
            }
            let triggers: Vec<String> = match trigger {
                Some(trigger) if !self.config.triggers.contains_key(trigger) => {
                    error(format!("unknown trigger {trigger}"));
                    continue;
                }
                Some(trigger) => vec![trigger.to_string()],
                None if self.config.default_triggers_for(service).is_empty() => {
                    error("names no trigger and no default triggers are configured".into());
                    continue;
                }
                None => self.config.default_triggers_for(service).to_vec(),
            };
            let mut recipients: Vec<String> = value
                .as_str()
                .unwrap_or_default()
                .split([';', ','])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| {
                    // Tolerate `service:recipient` in the value.
                    let (named, recipient) = split_recipient(r);
                    if named == service && !recipient.is_empty() {
                        recipient
                    } else {
                        r.to_string()
                    }
                })
                .collect();
            if recipients.is_empty() {
                recipients.push(String::new());
            }
            for trigger in triggers {
                for recipient in &recipients {
                    destinations.insert((trigger.clone(), service.to_string(), recipient.clone()));
                }
            }
        }
        (destinations, errors)
    }

    async fn deliver(&self, app_key: &str, app: &Value, pending: Pending) -> Delivery {
        let Pending {
            key,
            trigger,
            service,
            recipient,
            work,
        } = pending;
        let outcome = match work {
            Err(error) => Err(error),
            Ok(templates) => match self.config.services.get(&service) {
                None => Err(DeliveryError::Subscription {
                    annotation: String::new(),
                    reason: format!("unknown service {service}"),
                }),
                Some(target_service) => {
                    match render::request(
                        &self.config,
                        &service,
                        target_service,
                        &templates,
                        app,
                        &recipient,
                    ) {
                        Err(error) => Err(error),
                        Ok(request) => {
                            let outcome = self.send(target_service, &request).await;
                            if outcome.is_err() {
                                // Not delivered: the next call tries again.
                                if let Some(memory) = self.lock_memory().get_mut(app_key) {
                                    memory.keys.remove(&key);
                                }
                            }
                            outcome
                        }
                    }
                }
            },
        };
        Delivery {
            app: app_key.to_string(),
            trigger,
            service,
            recipient,
            outcome,
        }
    }

    async fn send(
        &self,
        service: &Service,
        request: &Outgoing,
    ) -> Result<Delivered, DeliveryError> {
        let target = match service {
            // The whole incoming-webhook URL is a credential.
            Service::Slack(_) => format!("{} {}", request.method, origin_of(&request.url)),
            Service::Webhook(_) => format!(
                "{} {}",
                request.method,
                self.redact(&address_of(&request.url))
            ),
        };
        match self.sender.send(request).await {
            HttpOutcome::Delivered { status, attempts } => Ok(Delivered {
                target,
                status,
                attempts,
            }),
            HttpOutcome::Rejected {
                status,
                attempts,
                body,
            } => Err(DeliveryError::Rejected {
                target,
                status,
                attempts,
                body: self.redact(&body),
            }),
            HttpOutcome::Unreachable { attempts, error } => Err(DeliveryError::Unreachable {
                target,
                attempts,
                error: self.redact(&error),
            }),
        }
    }

    /// `text` with every secret value masked.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.config.secret_values {
            if secret.len() >= 3 {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// `namespace/name` of an Application object.
fn app_key(app: &Value) -> String {
    let field = |name: &str| {
        app.pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    format!("{}/{}", field("namespace"), field("name"))
}

/// `scheme://host[:port]/path` of a URL: no user info, no query string.
fn address_of(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            host_port(&uri),
            uri.path()
        ),
        Err(_) => "<invalid URL>".into(),
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            host_port(&uri)
        ),
        Err(_) => "<invalid URL>".into(),
    }
}

fn host_port(uri: &http::Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    }
}

fn log(delivery: &Delivery) {
    match &delivery.outcome {
        Ok(delivered) => tracing::info!(
            app = %delivery.app,
            trigger = %delivery.trigger,
            service = %delivery.service,
            recipient = %delivery.recipient,
            target = %delivered.target,
            status = delivered.status,
            attempts = delivered.attempts,
            "notification delivered"
        ),
        Err(error) => tracing::warn!(
            app = %delivery.app,
            trigger = %delivery.trigger,
            service = %delivery.service,
            recipient = %delivery.recipient,
            error = %error_chain(error),
            "notification not delivered"
        ),
    }
}

/// An error and its sources, on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_drop_credentials_and_queries() {
        assert_eq!(
            address_of("https://user:pw@example.com:8443/hook/x?token=abc"),
            "https://example.com:8443/hook/x"
        );
        assert_eq!(
            origin_of("https://hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com"
        );
    }
}
