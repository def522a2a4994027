//! The notification configuration, read from an `argocd-notifications-cm`-style ConfigMap
//! `data` map and an `argocd-notifications-secret`-style secrets map.
//!
//! Keys: `service.webhook.<name>`, `service.slack` (or `service.slack.<name>`),
//! `template.<name>`, `trigger.<name>`, `subscriptions`, `defaultTriggers`,
//! `defaultTriggers.<service>` and `context`. Every value is YAML text, as in ArgoCD. `$key` (or
//! `${key}`) in a service's URL, header values and credentials is replaced by the secret `key`.
//!
//! Everything named is checked when the configuration is loaded: an unknown key, field, service,
//! template or trigger, a template that does not parse, a condition outside the supported
//! subset ([`super::expr`]) or a missing secret is a [`ConfigError`] naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use strata_gotemplate::{Template, TemplateError};

use super::catalog;
use super::expr::{Condition, ExprError};

/// A notification configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read notification configuration {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value is not the YAML its key expects.
    #[error("notification configuration key {key}: invalid YAML")]
    Yaml {
        /// The key (`template.app-sync-failed`, or `<file>` for the file itself).
        key: String,
        /// The parser's error.
        #[source]
        source: strata_core::yaml::YamlError,
    },
    /// A key that is not part of the format.
    #[error("notification configuration key {key} is not supported: {reason}")]
    UnknownKey {
        /// The key.
        key: String,
        /// What is supported instead.
        reason: String,
    },
    /// A key names a service that is not configured.
    #[error("notification configuration key {key} names the unknown service {service}")]
    UnknownService {
        /// The key.
        key: String,
        /// The service named.
        service: String,
    },
    /// A trigger names a template that is neither configured nor built in.
    #[error("notification configuration key {key} names the unknown template {template}")]
    UnknownTemplate {
        /// The key.
        key: String,
        /// The template named.
        template: String,
    },
    /// A key names a trigger that is neither configured nor built in.
    #[error("notification configuration key {key} names the unknown trigger {trigger}")]
    UnknownTrigger {
        /// The key.
        key: String,
        /// The trigger named.
        trigger: String,
    },
    /// A trigger's condition is outside the supported subset or malformed.
    #[error(
        "notification configuration key {key}: condition {index} ({field}: {expression:?}): {source}"
    )]
    Condition {
        /// The trigger's key.
        key: String,
        /// The condition's index in the trigger's list.
        index: usize,
        /// `when` or `oncePer`.
        field: &'static str,
        /// The expression.
        expression: String,
        /// What is wrong.
        #[source]
        source: ExprError,
    },
    /// A template field is not a valid Go template.
    #[error("notification configuration key {key}: field {field} is not a valid template")]
    Template {
        /// The template's key.
        key: String,
        /// The field (`message`, `webhook.github.body`, ...).
        field: String,
        /// The parser's error.
        #[source]
        source: TemplateError,
    },
    /// A service refers to a secret key the secrets map does not hold.
    #[error(
        "notification configuration key {key} refers to ${secret}, which the notification secret does not hold"
    )]
    MissingSecret {
        /// The service's key.
        key: String,
        /// The secret key named (never its value).
        secret: String,
    },
    /// A value is well-formed YAML but not a usable setting.
    #[error("notification configuration key {key}: {message}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// A configured notification service.
#[derive(Debug, Clone)]
pub(crate) enum Service {
    /// `service.webhook.<name>`.
    Webhook(WebhookService),
    /// `service.slack`.
    Slack(SlackService),
}

impl Service {
    /// The service type, which templates see as `.context.notificationType`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Service::Webhook(_) => "webhook",
            Service::Slack(_) => "slack",
        }
    }
}

/// A generic HTTP webhook.
#[derive(Debug, Clone)]
pub(crate) struct WebhookService {
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) basic_auth: Option<(String, String)>,
}

/// A Slack-compatible incoming webhook.
#[derive(Debug, Clone)]
pub(crate) struct SlackService {
    pub(crate) url: String,
    pub(crate) username: Option<String>,
    pub(crate) icon: Option<String>,
}

/// A parsed template field.
pub(crate) type Field = Option<Arc<Template>>;

/// One template's webhook request for one service.
#[derive(Debug, Clone, Default)]
pub(crate) struct WebhookTemplate {
    pub(crate) method: Option<String>,
    pub(crate) path: Field,
    pub(crate) body: Field,
}

/// A notification template: what is sent, per service type.
#[derive(Debug, Clone, Default)]
pub(crate) struct NotificationTemplate {
    pub(crate) message: Field,
    pub(crate) webhook: BTreeMap<String, WebhookTemplate>,
    pub(crate) slack_attachments: Field,
    pub(crate) slack_blocks: Field,
}

/// One condition of a trigger.
#[derive(Debug, Clone)]
pub(crate) struct TriggerCondition {
    pub(crate) when: Condition,
    pub(crate) send: Vec<String>,
    pub(crate) once_per: Option<Condition>,
}

/// A label selector of a default subscription (equality-based).
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub(crate) requirements: Vec<(String, String, bool)>,
}

impl Selector {
    pub(crate) fn matches(
        &self,
        labels: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> bool {
        self.requirements.iter().all(|(key, value, equal)| {
            let actual = labels.and_then(|l| l.get(key)).and_then(|v| v.as_str());
            (actual == Some(value.as_str())) == *equal
        })
    }
}

/// A default subscription (`subscriptions` key).
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) recipients: Vec<(String, String)>,
    pub(crate) triggers: Vec<String>,
    pub(crate) selector: Selector,
}

/// A loaded, checked notification configuration. Its `Debug` shows names only: service
/// settings hold credentials.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct NotifyConfig {
    pub(crate) services: BTreeMap<String, Service>,
    pub(crate) templates: BTreeMap<String, NotificationTemplate>,
    pub(crate) triggers: BTreeMap<String, Vec<TriggerCondition>>,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) default_triggers: Vec<String>,
    pub(crate) service_default_triggers: BTreeMap<String, Vec<String>>,
    pub(crate) context: BTreeMap<String, String>,
    /// Every secret value the services use, to be masked in reports.
    pub(crate) secret_values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderSpec {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuthSpec {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookServiceSpec {
    url: String,
    #[serde(default)]
    headers: Vec<HeaderSpec>,
    #[serde(default, rename = "basicAuth")]
    basic_auth: Option<BasicAuthSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackServiceSpec {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "webhookURL")]
    webhook_url: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    icon: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WebhookTemplateSpec {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SlackTemplateSpec {
    #[serde(default)]
    attachments: Option<String>,
    #[serde(default)]
    blocks: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateSpec {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    webhook: BTreeMap<String, WebhookTemplateSpec>,
    #[serde(default)]
    slack: Option<SlackTemplateSpec>,
}

impl TemplateSpec {
    /// A template with a message only.
    pub(crate) fn with_message(message: String) -> Self {
        Self {
            message: Some(message),
            ..Self::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionSpec {
    when: String,
    send: Vec<String>,
    #[serde(default, rename = "oncePer")]
    once_per: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionSpec {
    recipients: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    selector: Option<String>,
}

fn yaml<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, ConfigError> {
    strata_core::yaml::from_str(text).map_err(|source| ConfigError::Yaml {
        key: key.to_string(),
        source,
    })
}

/// Replaces `$name` and `${name}` in `value` by the secret's value.
fn substitute(
    key: &str,
    value: &str,
    secrets: &BTreeMap<String, String>,
    used: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => (braced, braced.len() + 1),
            }
        } else {
            let end = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            // A trailing dot ends a sentence, not a name.
            let name = after[..end].trim_end_matches('.');
            (name, name.len())
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(secret) = secrets.get(name) else {
            return Err(ConfigError::MissingSecret {
                key: key.to_string(),
                secret: name.to_string(),
            });
        };
        if !secret.is_empty() && !used.contains(secret) {
            used.push(secret.clone());
        }
        out.push_str(secret);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_field(key: &str, field: &str, source: Option<&str>) -> Result<Field, ConfigError> {
    source
        .map(|text| {
            Template::parse(key, text)
                .map(Arc::new)
                .map_err(|source| ConfigError::Template {
                    key: key.to_string(),
                    field: field.to_string(),
                    source,
                })
        })
        .transpose()
}

pub(crate) fn compile_template(
    key: &str,
    spec: TemplateSpec,
) -> Result<NotificationTemplate, ConfigError> {
    let mut webhook = BTreeMap::new();
    for (service, request) in spec.webhook {
        let method = request.method.map(|m| m.to_ascii_uppercase());
        if let Some(method) = &method
            && http::Method::from_bytes(method.as_bytes()).is_err()
        {
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                message: format!("webhook.{service}.method {method:?} is not an HTTP method"),
            });
        }
        let compiled = WebhookTemplate {
            method,
            path: parse_field(
                key,
                &format!("webhook.{service}.path"),
                request.path.as_deref(),
            )?,
            body: parse_field(
                key,
                &format!("webhook.{service}.body"),
                request.body.as_deref(),
            )?,
        };
        webhook.insert(service, compiled);
    }
    let slack = spec.slack.unwrap_or_default();
    Ok(NotificationTemplate {
        message: parse_field(key, "message", spec.message.as_deref())?,
        webhook,
        slack_attachments: parse_field(key, "slack.attachments", slack.attachments.as_deref())?,
        slack_blocks: parse_field(key, "slack.blocks", slack.blocks.as_deref())?,
    })
}

pub(crate) fn compile_trigger(
    key: &str,
    specs: Vec<ConditionSpec>,
) -> Result<Vec<TriggerCondition>, ConfigError> {
    specs
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            let _ = spec.description;
            let compile = |field: &'static str, expression: &str| {
                Condition::compile(expression).map_err(|source| ConfigError::Condition {
                    key: key.to_string(),
                    index,
                    field,
                    expression: expression.to_string(),
                    source,
                })
            };
            if spec.send.is_empty() {
                return Err(ConfigError::Invalid {
                    key: key.to_string(),
                    message: format!("condition {index} sends no template"),
                });
            }
            Ok(TriggerCondition {
                when: compile("when", &spec.when)?,
                once_per: spec
                    .once_per
                    .as_deref()
                    .map(|e| compile("oncePer", e))
                    .transpose()?,
                send: spec.send,
            })
        })
        .collect()
}

fn parse_selector(key: &str, text: &str) -> Result<Selector, ConfigError> {
    let mut requirements = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value, equal) = if let Some((n, v)) = part.split_once("!=") {
            (n, v, false)
        } else if let Some((n, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (n, v, true)
        } else {
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                message: format!(
                    "selector requirement {part:?} is not `label=value` or `label!=value`"
                ),
            });
        };
        requirements.push((name.trim().to_string(), value.trim().to_string(), equal));
    }
    Ok(Selector { requirements })
}

/// Splits a recipient `service:recipient` (the recipient may be empty: `service`).
pub(crate) fn split_recipient(text: &str) -> (String, String) {
    match text.split_once(':') {
        Some((service, recipient)) => (service.trim().to_string(), recipient.trim().to_string()),
        None => (text.trim().to_string(), String::new()),
    }
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services: BTreeMap<&str, &str> = self
            .services
            .iter()
            .map(|(name, service)| (name.as_str(), service.kind()))
            .collect();
        f.debug_struct("NotifyConfig")
            .field("services", &services)
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .field("triggers", &self.triggers.keys().collect::<Vec<_>>())
            .field("subscriptions", &self.subscriptions.len())
            .field("default_triggers", &self.default_triggers)
            .finish_non_exhaustive()
    }
}

impl NotifyConfig {
    /// Loads a ConfigMap's `data` map with the secrets map that `$key` references resolve
    /// against.
    pub fn from_config_map(
        data: &BTreeMap<String, String>,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut config = NotifyConfig::default();
        let mut template_specs = Vec::new();
        let mut trigger_specs = Vec::new();
        let mut subscription_specs = None;
        let mut default_triggers = BTreeMap::new();
        for (key, value) in data {
            if let Some(name) = key.strip_prefix("service.webhook.") {
                let spec: WebhookServiceSpec = yaml(key, value)?;
                let mut used = Vec::new();
                let mut headers = Vec::new();
                for header in spec.headers {
                    if http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
                        return Err(ConfigError::Invalid {
                            key: key.clone(),
                            message: format!("{:?} is not a header name", header.name),
                        });
                    }
                    headers.push((
                        header.name,
                        substitute(key, &header.value, secrets, &mut used)?,
                    ));
                }
                let basic_auth = spec
                    .basic_auth
                    .map(|auth| {
                        Ok::<_, ConfigError>((
                            substitute(key, &auth.username, secrets, &mut used)?,
                            substitute(key, &auth.password, secrets, &mut used)?,
                        ))
                    })
                    .transpose()?;
                let url = substitute(key, &spec.url, secrets, &mut used)?;
                check_url(key, &url)?;
                config.secret_values.extend(used);
                config.services.insert(
                    name.to_string(),
                    Service::Webhook(WebhookService {
                        url,
                        headers,
                        basic_auth,
                    }),
                );
            } else if key == "service.slack" || key.starts_with("service.slack.") {
                let name = key.strip_prefix("service.slack.").unwrap_or("slack");
                let spec: SlackServiceSpec = yaml(key, value)?;
                let Some(url) = spec.webhook_url.or(spec.url) else {
                    return Err(ConfigError::Invalid {
                        key: key.clone(),
                        message:
                            "a Slack service needs `webhookURL` (or `url`): an incoming webhook"
                                .into(),
                    });
                };
                let mut used = Vec::new();
                let url = substitute(key, &url, secrets, &mut used)?;
                check_url(key, &url)?;
                // The incoming webhook URL is itself a credential.
                used.push(url.clone());
                config.secret_values.extend(used);
                config.services.insert(
                    name.to_string(),
                    Service::Slack(SlackService {
                        url,
                        username: spec.username,
                        icon: spec.icon,
                    }),
                );
            } else if let Some(kind) = key.strip_prefix("service.") {
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    reason: format!(
                        "service type {:?} is not supported (use service.webhook.<name> or service.slack)",
                        kind.split('.').next().unwrap_or(kind)
                    ),
                });
            } else if let Some(name) = key.strip_prefix("template.") {
                template_specs.push((name.to_string(), key, yaml::<TemplateSpec>(key, value)?));
            } else if let Some(name) = key.strip_prefix("trigger.") {
                trigger_specs.push((
                    name.to_string(),
                    key,
                    yaml::<Vec<ConditionSpec>>(key, value)?,
                ));
            } else if key == "subscriptions" {
                subscription_specs = Some(yaml::<Vec<SubscriptionSpec>>(key, value)?);
            } else if key == "defaultTriggers" {
                config.default_triggers = yaml::<Vec<String>>(key, value)?;
            } else if let Some(service) = key.strip_prefix("defaultTriggers.") {
                default_triggers.insert(service.to_string(), yaml::<Vec<String>>(key, value)?);
            } else if key == "context" {
                config.context = yaml(key, value)?;
            } else {
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    reason: "expected service.*, template.*, trigger.*, subscriptions, defaultTriggers or context".into(),
                });
            }
        }
        config.service_default_triggers = default_triggers;

        for (name, key, spec) in template_specs {
            for service in spec.webhook.keys() {
                if !matches!(config.services.get(service), Some(Service::Webhook(_))) {
                    return Err(ConfigError::UnknownService {
                        key: key.clone(),
                        service: service.clone(),
                    });
                }
            }
            config.templates.insert(name, compile_template(key, spec)?);
        }
        for (name, key, specs) in trigger_specs {
            let conditions = compile_trigger(key, specs)?;
            for template in conditions.iter().flat_map(|c| &c.send) {
                if !config.templates.contains_key(template) && !catalog::has_template(template) {
                    return Err(ConfigError::UnknownTemplate {
                        key: key.clone(),
                        template: template.clone(),
                    });
                }
            }
            config.triggers.insert(name, conditions);
        }
        // Built-in triggers and templates complete what the configuration does not define.
        catalog::complete(&mut config);

        let check_triggers = |key: &str, triggers: &[String], config: &NotifyConfig| {
            triggers.iter().try_for_each(|trigger| {
                if config.triggers.contains_key(trigger) {
                    Ok(())
                } else {
                    Err(ConfigError::UnknownTrigger {
                        key: key.to_string(),
                        trigger: trigger.clone(),
                    })
                }
            })
        };
        check_triggers("defaultTriggers", &config.default_triggers, &config)?;
        for (service, triggers) in &config.service_default_triggers {
            let key = format!("defaultTriggers.{service}");
            if !config.services.contains_key(service) {
                return Err(ConfigError::UnknownService {
                    key,
                    service: service.clone(),
                });
            }
            check_triggers(&key, triggers, &config)?;
        }
        for spec in subscription_specs.unwrap_or_default() {
            check_triggers("subscriptions", &spec.triggers, &config)?;
            let mut recipients = Vec::new();
            for recipient in &spec.recipients {
                let (service, to) = split_recipient(recipient);
                if !config.services.contains_key(&service) {
                    return Err(ConfigError::UnknownService {
                        key: "subscriptions".into(),
                        service,
                    });
                }
                recipients.push((service, to));
            }
            config.subscriptions.push(Subscription {
                recipients,
                triggers: spec.triggers,
                selector: parse_selector("subscriptions", spec.selector.as_deref().unwrap_or(""))?,
            });
        }
        Ok(config)
    }

    /// Loads YAML text holding the `data` map, or a whole ConfigMap (its `data` is used).
    pub fn from_yaml_str(
        text: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let value: serde_json::Value = yaml("<file>", text)?;
        let data = match value.get("data") {
            Some(data) if data.is_object() => data.clone(),
            _ => value,
        };
        let map: BTreeMap<String, String> = match data {
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => Ok((key, text)),
                    other => Err(ConfigError::Invalid {
                        key,
                        message: format!("the value must be a string of YAML text, found {other}"),
                    }),
                })
                .collect::<Result<_, _>>()?,
            serde_json::Value::Null => BTreeMap::new(),
            _ => {
                return Err(ConfigError::Invalid {
                    key: "<file>".into(),
                    message: "expected a map of keys to YAML text".into(),
                });
            }
        };
        Self::from_config_map(&map, secrets)
    }

    /// Loads a YAML file (see [`NotifyConfig::from_yaml_str`]).
    pub fn from_yaml_file(
        path: &Path,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str(&text, secrets)
    }

    /// The configured service names.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The trigger names, built-in ones included.
    pub fn trigger_names(&self) -> impl Iterator<Item = &str> {
        self.triggers.keys().map(String::as_str)
    }

    /// Sets the Argo CD (or Strata UI) URL templates see as `.context.argocdUrl`.
    pub fn with_argocd_url(mut self, url: impl Into<String>) -> Self {
        self.context.insert("argocdUrl".into(), url.into());
        self
    }

    /// Triggers used when a subscription to `service` names none.
    pub(crate) fn default_triggers_for(&self, service: &str) -> &[String] {
        self.service_default_triggers
            .get(service)
            .unwrap_or(&self.default_triggers)
    }
}

fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let ok = url.parse::<http::Uri>().ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
    });
    if ok {
        Ok(())
    } else {
        // The URL may hold a credential: say what is wrong without repeating it.
        Err(ConfigError::Invalid {
            key: key.to_string(),
            message: "the URL is not an absolute http(s) URL".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn secrets_are_substituted() {
        let secrets = BTreeMap::from([("token".to_string(), "s3cr3t".to_string())]);
        let mut used = Vec::new();
        assert_eq!(
            substitute("k", "Bearer $token and ${token}.", &secrets, &mut used).unwrap(),
            "Bearer s3cr3t and s3cr3t."
        );
        assert_eq!(used, vec!["s3cr3t".to_string()]);
        assert!(matches!(
            substitute("k", "$nope", &secrets, &mut used),
            Err(ConfigError::MissingSecret { secret, .. }) if secret == "nope"
        ));
        assert_eq!(
            substitute("k", "cost: 5$", &secrets, &mut used).unwrap(),
            "cost: 5$"
        );
    }

    #[test]
    fn selectors_match_labels() {
        let selector = parse_selector("k", "team=a, env!=prod").unwrap();
        let labels = serde_json::json!({"team": "a", "env": "dev"});
        assert!(selector.matches(labels.as_object()));
        let labels = serde_json::json!({"team": "a", "env": "prod"});
        assert!(!selector.matches(labels.as_object()));
    }
}
