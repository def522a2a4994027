//! The control plane itself: admin rights, RBAC for service accounts, and kubectl.

#![allow(clippy::unwrap_used)]

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

#[tokio::test]
async fn the_admin_is_served_and_kubectl_talks_to_the_same_server() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, plane.server_version());
    let namespace = plane.namespace(&client, "admin").await.unwrap();
    assert!(namespace.starts_with("admin-"), "{namespace}");
    let out = plane
        .kubectl()
        .unwrap()
        .args(["get", "namespace", &namespace, "-o", "name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("namespace/{namespace}")
    );
}

#[tokio::test]
async fn a_service_account_has_only_the_rights_rbac_grants() {
    let plane = strata_testkube::shared();
    let admin = plane.client().await.unwrap();
    let namespace = plane.namespace(&admin, "rbac").await.unwrap();
    let robot = plane
        .service_account_client(&admin, &namespace, "robot")
        .await
        .unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(robot, &namespace);
    let denied = config_maps
        .list(&ListParams::default())
        .await
        .expect_err("no rights yet");
    match denied {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403, got {other:?}"),
    }

    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.clone()),
        ..ObjectMeta::default()
    };
    Api::<Role>::namespaced(admin.clone(), &namespace)
        .create(
            &PostParams::default(),
            &Role {
                metadata: meta("read-config"),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".to_owned()]),
                    verbs: vec!["list".to_owned()],
                    ..PolicyRule::default()
                }]),
            },
        )
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: meta("robot-reads-config"),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".to_owned(),
                    kind: "Role".to_owned(),
                    name: "read-config".to_owned(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".to_owned(),
                    name: "robot".to_owned(),
                    namespace: Some(namespace.clone()),
                    ..Subject::default()
                }]),
            },
        )
        .await
        .unwrap();
    // The authorizer sees the binding through its informer cache, a moment later.
    let mut attempts = 0;
    let listed = loop {
        match config_maps.list(&ListParams::default()).await {
            Ok(listed) => break listed,
            Err(kube::Error::Api(status)) if status.code == 403 && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(other) => panic!("listing with the granted role: {other:?}"),
        }
    };
    // Only the CA bundle's ConfigMap would be here with a controller manager; there is none.
    assert_eq!(listed.items.len(), 0);
}
