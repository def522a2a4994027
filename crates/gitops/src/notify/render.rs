//! Rendering a trigger's templates for one destination into the HTTP request that delivers it.

use serde_json::{Map, Value, json};
use strata_gotemplate::MissingKey;

use super::DeliveryError;
use super::config::{Field, NotifyConfig, Service};
use super::send::Outgoing;

/// Renders `field` of template `template` with `data`.
fn render_field(
    template: &str,
    field: &str,
    source: &Field,
    data: &Value,
) -> Result<Option<String>, DeliveryError> {
    source
        .as_ref()
        .map(|t| {
            t.execute(data, MissingKey::Default)
                .map_err(|source| DeliveryError::Render {
                    template: template.to_string(),
                    field: field.to_string(),
                    source,
                })
        })
        .transpose()
}

/// The data templates see: `.app`, `.context` and `.recipient`.
fn template_data(config: &NotifyConfig, service: &Service, app: &Value, recipient: &str) -> Value {
    let mut context: Map<String, Value> = config
        .context
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    context
        .entry("argocdUrl")
        .or_insert_with(|| Value::String(String::new()));
    context.insert(
        "notificationType".into(),
        Value::String(service.kind().into()),
    );
    json!({"app": app, "context": context, "recipient": recipient})
}

fn parse_json(template: &str, field: &str, text: &str) -> Result<Option<Value>, DeliveryError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|error| DeliveryError::InvalidJson {
            template: template.to_string(),
            field: field.to_string(),
            source: error,
        })
}

/// Joins a service URL and a template path, as Argo CD does.
fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        base.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// The request delivering `templates` (later templates override earlier ones field by field)
/// to `recipient` of `service_name`.
pub(crate) fn request(
    config: &NotifyConfig,
    service_name: &str,
    service: &Service,
    templates: &[String],
    app: &Value,
    recipient: &str,
) -> Result<Outgoing, DeliveryError> {
    let data = template_data(config, service, app, recipient);
    match service {
        Service::Webhook(webhook) => {
            let mut method = None;
            let mut path = None;
            let mut body = None;
            let mut defined = false;
            for name in templates {
                let Some(template) = config.templates.get(name) else {
                    continue;
                };
                let Some(section) = template.webhook.get(service_name) else {
                    continue;
                };
                defined = true;
                method = section.method.clone().or(method);
                let prefix = format!("webhook.{service_name}");
                path =
                    render_field(name, &format!("{prefix}.path"), &section.path, &data)?.or(path);
                body =
                    render_field(name, &format!("{prefix}.body"), &section.body, &data)?.or(body);
            }
            if !defined {
                return Err(DeliveryError::NoWebhookRequest {
                    service: service_name.to_string(),
                    templates: templates.to_vec(),
                });
            }
            let method = http::Method::from_bytes(method.as_deref().unwrap_or("GET").as_bytes())
                .unwrap_or(http::Method::GET);
            let mut headers = webhook.headers.clone();
            if let Some((user, password)) = &webhook.basic_auth {
                use base64::Engine as _;
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                headers.push(("Authorization".into(), format!("Basic {token}")));
            }
            Ok(Outgoing {
                method,
                url: join_url(&webhook.url, path.as_deref().unwrap_or("")),
                headers,
                body: body.unwrap_or_default().into_bytes(),
            })
        }
        Service::Slack(slack) => {
            let mut message = None;
            let mut attachments = None;
            let mut blocks = None;
            for name in templates {
                let Some(template) = config.templates.get(name) else {
                    continue;
                };
                if let Some(text) = render_field(name, "message", &template.message, &data)? {
                    message = Some(text);
                }
                if let Some(text) = render_field(
                    name,
                    "slack.attachments",
                    &template.slack_attachments,
                    &data,
                )? {
                    attachments = parse_json(name, "slack.attachments", &text)?.or(attachments);
                }
                if let Some(text) =
                    render_field(name, "slack.blocks", &template.slack_blocks, &data)?
                {
                    blocks = parse_json(name, "slack.blocks", &text)?.or(blocks);
                }
            }
            let mut payload = Map::new();
            payload.insert("text".into(), Value::String(message.unwrap_or_default()));
            if !recipient.is_empty() {
                payload.insert("channel".into(), Value::String(recipient.to_string()));
            }
            if let Some(username) = &slack.username {
                payload.insert("username".into(), Value::String(username.clone()));
            }
            if let Some(icon) = &slack.icon {
                let field = if icon.starts_with("http://") || icon.starts_with("https://") {
                    "icon_url"
                } else {
                    "icon_emoji"
                };
                payload.insert(field.into(), Value::String(icon.clone()));
            }
            if let Some(attachments) = attachments {
                payload.insert("attachments".into(), attachments);
            }
            if let Some(blocks) = blocks {
                payload.insert("blocks".into(), blocks);
            }
            Ok(Outgoing {
                method: http::Method::POST,
                url: slack.url.clone(),
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: Value::Object(payload).to_string().into_bytes(),
            })
        }
    }
}
