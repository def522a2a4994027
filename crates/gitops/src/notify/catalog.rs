//! Built-in triggers and templates, usable without defining them, named as in Argo CD's
//! notification catalog. A configuration that defines a trigger or template of the same name
//! replaces the built-in one.

use super::config::{ConditionSpec, NotifyConfig, TemplateSpec, compile_template, compile_trigger};

/// `(trigger, YAML conditions)`.
const TRIGGERS: &[(&str, &str)] = &[
    (
        "on-sync-succeeded",
        "- when: app.status.operationState.phase in ['Succeeded']\n  send: [app-sync-succeeded]\n",
    ),
    (
        "on-sync-failed",
        "- when: app.status.operationState.phase in ['Error', 'Failed']\n  send: [app-sync-failed]\n",
    ),
    (
        "on-sync-running",
        "- when: app.status.operationState.phase in ['Running']\n  send: [app-sync-running]\n",
    ),
    (
        "on-health-degraded",
        "- when: app.status.health.status == 'Degraded'\n  send: [app-health-degraded]\n",
    ),
    (
        "on-deployed",
        "- when: app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'\n  oncePer: app.status.operationState.syncResult.revision\n  send: [app-deployed]\n",
    ),
    (
        "on-drift-detected",
        "- when: app.status.sync.status == 'OutOfSync'\n  send: [app-drift-detected]\n",
    ),
];

const APP_LINK: &str = "{{ .context.argocdUrl }}/applications/{{ .app.metadata.name }}";

/// `(template, message)`.
fn messages() -> [(&'static str, String); 6] {
    [
        (
            "app-sync-succeeded",
            format!(
                "Application {{{{ .app.metadata.name }}}} synced revision {{{{ .app.status.operationState.syncResult.revision }}}}: {{{{ .app.status.operationState.message }}}}\n{APP_LINK}"
            ),
        ),
        (
            "app-sync-failed",
            format!(
                "Sync of application {{{{ .app.metadata.name }}}} failed ({{{{ .app.status.operationState.phase }}}}): {{{{ .app.status.operationState.message }}}}\n{APP_LINK}"
            ),
        ),
        (
            "app-sync-running",
            format!("Sync of application {{{{ .app.metadata.name }}}} started.\n{APP_LINK}"),
        ),
        (
            "app-health-degraded",
            format!(
                "Application {{{{ .app.metadata.name }}}} is Degraded: {{{{ .app.status.health.message }}}}\n{APP_LINK}"
            ),
        ),
        (
            "app-deployed",
            format!(
                "Application {{{{ .app.metadata.name }}}} is running revision {{{{ .app.status.operationState.syncResult.revision }}}} and is Healthy.\n{APP_LINK}"
            ),
        ),
        (
            "app-drift-detected",
            format!(
                "Application {{{{ .app.metadata.name }}}} is OutOfSync with revision {{{{ .app.status.sync.revision }}}}: the cluster drifted from Git.\n{APP_LINK}"
            ),
        ),
    ]
}

/// Whether `name` is a built-in template.
pub(crate) fn has_template(name: &str) -> bool {
    messages().iter().any(|(n, _)| *n == name)
}

/// Adds the built-in triggers and templates the configuration does not define.
pub(crate) fn complete(config: &mut NotifyConfig) {
    for (name, message) in messages() {
        if config.templates.contains_key(name) {
            continue;
        }
        let spec = TemplateSpec::with_message(message);
        if let Ok(template) = compile_template(&format!("template.{name}"), spec) {
            config.templates.insert(name.to_string(), template);
        }
    }
    for (name, yaml) in TRIGGERS {
        if config.triggers.contains_key(*name) {
            continue;
        }
        let key = format!("trigger.{name}");
        let parsed: Result<Vec<ConditionSpec>, _> = strata_core::yaml::from_str(yaml);
        if let Ok(conditions) = parsed
            .map_err(drop)
            .and_then(|specs| compile_trigger(&key, specs).map_err(drop))
        {
            config.triggers.insert((*name).to_string(), conditions);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_builtin_compiles() {
        let mut config = NotifyConfig::default();
        complete(&mut config);
        assert_eq!(config.triggers.len(), TRIGGERS.len());
        assert_eq!(config.templates.len(), messages().len());
        for conditions in config.triggers.values() {
            for template in conditions.iter().flat_map(|c| &c.send) {
                assert!(config.templates.contains_key(template), "{template}");
            }
        }
    }
}
