//! The RDS DB instance (`rds.aws.upbound.io/v1beta1` Instance).
//!
//! The identifier is the `crossplane.io/external-name` annotation, else
//! `spec.forProvider.identifier`, else `metadata.name`. The master password comes from
//! `passwordSecretRef` through the provider's [`SecretSource`], or is generated (when
//! `autoGeneratePassword: true`, or when no reference is given); it is returned only as a
//! connection detail, never in the live object, outputs or messages.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;
use serde_json::{Map, Value, json};
use strata_core::Resource;
use strata_core::provider::{ConnectionDetails, Health};

use crate::config::AwsClients;
use crate::error::{AwsError, AwsErrorKind, classify};
use crate::manifest::{self, LiveParts};
use crate::rds::tags;
use crate::secrets::{SecretRef, SecretSource, generate_password};

/// Fields of `spec.forProvider` that DescribeDBInstances reports.
const OBSERVABLE: &[&str] = &[
    "identifier",
    "engine",
    "engineVersion",
    "instanceClass",
    "allocatedStorage",
    "storageType",
    "storageEncrypted",
    "kmsKeyId",
    "publiclyAccessible",
    "backupRetentionPeriod",
    "deletionProtection",
    "autoMinorVersionUpgrade",
    "dbSubnetGroupName",
    "username",
    "dbName",
    "port",
    "multiAz",
    "parameterGroupName",
    "vpcSecurityGroupIds",
    "iops",
    "availabilityZone",
    "tags",
];

/// Fields whose change forces a new instance.
pub const REPLACE_FIELDS: &[&str] = &[
    "spec.forProvider.identifier",
    "spec.forProvider.engine",
    "spec.forProvider.storageEncrypted",
    "spec.forProvider.kmsKeyId",
    "spec.forProvider.dbName",
    "spec.forProvider.username",
    "spec.forProvider.availabilityZone",
    "spec.forProvider.region",
];

/// The desired instance, read from `spec.forProvider`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceSpec {
    /// DB instance identifier.
    pub identifier: String,
    /// Engine (`postgres`, `mysql` …).
    pub engine: Option<String>,
    /// Engine version (`16` or `16.3`).
    pub engine_version: Option<String>,
    /// Instance class (`db.t3.micro`).
    pub instance_class: Option<String>,
    /// Allocated storage in GiB.
    pub allocated_storage: Option<i32>,
    /// Storage type (`gp3`).
    pub storage_type: Option<String>,
    /// Whether storage is encrypted.
    pub storage_encrypted: Option<bool>,
    /// KMS key for storage encryption.
    pub kms_key_id: Option<String>,
    /// Whether the instance has a public address.
    pub publicly_accessible: Option<bool>,
    /// Days automated backups are kept.
    pub backup_retention_period: Option<i32>,
    /// Whether deletion is refused.
    pub deletion_protection: Option<bool>,
    /// Whether minor upgrades are applied automatically.
    pub auto_minor_version_upgrade: Option<bool>,
    /// The subnet group (`dbSubnetGroupName`, filled from `dbSubnetGroupNameRef` by core's
    /// reference resolution).
    pub db_subnet_group_name: Option<String>,
    /// Master user name.
    pub username: Option<String>,
    /// Initial database name.
    pub db_name: Option<String>,
    /// Port.
    pub port: Option<i32>,
    /// Multi-AZ deployment.
    pub multi_az: Option<bool>,
    /// DB parameter group (`parameterGroupName`, filled from `parameterGroupNameRef` by core's
    /// reference resolution).
    pub parameter_group_name: Option<String>,
    /// VPC security groups.
    pub vpc_security_group_ids: Option<Vec<String>>,
    /// Provisioned IOPS.
    pub iops: Option<i32>,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// Skip the final snapshot on delete.
    pub skip_final_snapshot: bool,
    /// The final snapshot's identifier.
    pub final_snapshot_identifier: Option<String>,
    /// Apply modifications now rather than in the maintenance window (default true).
    pub apply_immediately: bool,
    /// Where the master password comes from.
    pub password_ref: Option<SecretRef>,
    /// Generate a password when the reference cannot be resolved.
    pub auto_generate_password: bool,
    /// Tags to write (user tags plus labels).
    pub tags: BTreeMap<String, String>,
}

fn int(m: &Value, f: &str) -> Result<Option<i32>, AwsError> {
    manifest::int_field(m, f)
        .map(|v| {
            i32::try_from(v).map_err(|_| {
                AwsError::invalid(format!("spec.forProvider.{f}: {v} is out of range"))
            })
        })
        .transpose()
}

impl InstanceSpec {
    /// Reads the spec of an Instance resource.
    pub fn from_resource(resource: &Resource) -> Result<Self, AwsError> {
        let m = &resource.manifest;
        let fp = manifest::for_provider(m);
        let s = |f: &str| manifest::str_field(m, f).map(str::to_owned);
        let b = |f: &str| manifest::bool_field(m, f);
        Ok(Self {
            identifier: manifest::external_name(resource, Some("identifier")),
            engine: s("engine"),
            engine_version: s("engineVersion"),
            instance_class: s("instanceClass"),
            allocated_storage: int(m, "allocatedStorage")?,
            storage_type: s("storageType"),
            storage_encrypted: b("storageEncrypted"),
            kms_key_id: s("kmsKeyId"),
            publicly_accessible: b("publiclyAccessible"),
            backup_retention_period: int(m, "backupRetentionPeriod")?,
            deletion_protection: b("deletionProtection"),
            auto_minor_version_upgrade: b("autoMinorVersionUpgrade"),
            db_subnet_group_name: manifest::referenced_field(resource, "dbSubnetGroupName")?,
            username: s("username"),
            db_name: s("dbName"),
            port: int(m, "port")?,
            multi_az: b("multiAz"),
            parameter_group_name: manifest::referenced_field(resource, "parameterGroupName")?,
            vpc_security_group_ids: manifest::referenced_list(
                resource,
                "vpcSecurityGroupIds",
                "vpcSecurityGroupId",
            )?
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            iops: int(m, "iops")?,
            availability_zone: s("availabilityZone"),
            skip_final_snapshot: b("skipFinalSnapshot").unwrap_or(false),
            final_snapshot_identifier: s("finalSnapshotIdentifier"),
            apply_immediately: b("applyImmediately").unwrap_or(true),
            password_ref: fp.get("passwordSecretRef").and_then(SecretRef::from_value),
            auto_generate_password: b("autoGeneratePassword").unwrap_or(false),
            tags: manifest::desired_tags(m),
        })
    }

    /// The master password: resolved from the reference, else generated when allowed.
    pub fn password(&self, secrets: &dyn SecretSource) -> Result<(String, bool), AwsError> {
        if let Some(r) = &self.password_ref {
            if let Some(p) = secrets.resolve(r) {
                return Ok((p, false));
            }
            if !self.auto_generate_password {
                return Err(AwsError::invalid(format!(
                    "DB instance {}: the password secret {r} was not found (add a Secret manifest with that name and key, set {}, or set autoGeneratePassword: true)",
                    self.identifier,
                    crate::secrets::EnvSecrets::variable(r)
                )));
            }
        }
        Ok((generate_password(), true))
    }
}

/// The CreateDBInstance request for `spec` and `password`.
pub fn create_request(
    client: &Client,
    spec: &InstanceSpec,
    password: &str,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    client
        .create_db_instance()
        .db_instance_identifier(&spec.identifier)
        .set_engine(spec.engine.clone())
        .set_engine_version(spec.engine_version.clone())
        .set_db_instance_class(spec.instance_class.clone())
        .set_allocated_storage(spec.allocated_storage)
        .set_storage_type(spec.storage_type.clone())
        .set_storage_encrypted(spec.storage_encrypted)
        .set_kms_key_id(spec.kms_key_id.clone())
        .set_publicly_accessible(spec.publicly_accessible)
        .set_backup_retention_period(spec.backup_retention_period)
        .set_deletion_protection(spec.deletion_protection)
        .set_auto_minor_version_upgrade(spec.auto_minor_version_upgrade)
        .set_db_subnet_group_name(spec.db_subnet_group_name.clone())
        .set_master_username(spec.username.clone())
        .master_user_password(password)
        .set_db_name(spec.db_name.clone())
        .set_port(spec.port)
        .set_multi_az(spec.multi_az)
        .set_db_parameter_group_name(spec.parameter_group_name.clone())
        .set_vpc_security_group_ids(spec.vpc_security_group_ids.clone())
        .set_iops(spec.iops)
        .set_availability_zone(spec.availability_zone.clone())
        .set_tags(Some(tags::to_rds(&spec.tags)).filter(|t| !t.is_empty()))
}

/// The changes an in-place ModifyDBInstance makes: only fields the user set that differ from
/// the live instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Modification {
    /// New instance class.
    pub instance_class: Option<String>,
    /// New allocated storage.
    pub allocated_storage: Option<i32>,
    /// New storage type.
    pub storage_type: Option<String>,
    /// New IOPS.
    pub iops: Option<i32>,
    /// New engine version.
    pub engine_version: Option<String>,
    /// Whether the engine version change is a major upgrade.
    pub allow_major_version_upgrade: bool,
    /// New backup retention.
    pub backup_retention_period: Option<i32>,
    /// New deletion protection.
    pub deletion_protection: Option<bool>,
    /// New automatic minor upgrades.
    pub auto_minor_version_upgrade: Option<bool>,
    /// New public accessibility.
    pub publicly_accessible: Option<bool>,
    /// New subnet group.
    pub db_subnet_group_name: Option<String>,
    /// New Multi-AZ setting.
    pub multi_az: Option<bool>,
    /// New parameter group.
    pub parameter_group_name: Option<String>,
    /// New security groups.
    pub vpc_security_group_ids: Option<Vec<String>>,
    /// New port.
    pub port: Option<i32>,
}

impl Modification {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn changed<T: PartialEq + Clone>(desired: &Option<T>, live: Option<T>) -> Option<T> {
    match desired {
        Some(d) if live.as_ref() != Some(d) => Some(d.clone()),
        _ => None,
    }
}

/// The modification that brings `live` to `spec`.
pub fn modification(spec: &InstanceSpec, live: &DbInstance) -> Modification {
    let engine_version = match (&spec.engine_version, live.engine_version()) {
        (Some(d), Some(l)) if version_matches(d, l) => None,
        (d, _) => d.clone(),
    };
    let allow_major_version_upgrade = match (&engine_version, live.engine_version()) {
        (Some(d), Some(l)) => d.split('.').next() != l.split('.').next(),
        _ => false,
    };
    let live_sgs: Vec<String> = live
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect();
    let vpc_security_group_ids = match &spec.vpc_security_group_ids {
        Some(d) if !same_set(d, &live_sgs) => Some(d.clone()),
        _ => None,
    };
    Modification {
        instance_class: changed(
            &spec.instance_class,
            live.db_instance_class().map(str::to_owned),
        ),
        allocated_storage: changed(&spec.allocated_storage, live.allocated_storage()),
        storage_type: changed(&spec.storage_type, live.storage_type().map(str::to_owned)),
        iops: changed(&spec.iops, live.iops()),
        engine_version,
        allow_major_version_upgrade,
        backup_retention_period: changed(
            &spec.backup_retention_period,
            live.backup_retention_period(),
        ),
        deletion_protection: changed(&spec.deletion_protection, live.deletion_protection()),
        auto_minor_version_upgrade: changed(
            &spec.auto_minor_version_upgrade,
            live.auto_minor_version_upgrade(),
        ),
        publicly_accessible: changed(&spec.publicly_accessible, live.publicly_accessible()),
        db_subnet_group_name: changed(
            &spec.db_subnet_group_name,
            live.db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .map(str::to_owned),
        ),
        multi_az: changed(&spec.multi_az, live.multi_az()),
        parameter_group_name: changed(
            &spec.parameter_group_name,
            live.db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_owned),
        ),
        vpc_security_group_ids,
        port: changed(
            &spec.port,
            live.endpoint()
                .and_then(|e| e.port())
                .or(live.db_instance_port()),
        ),
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Whether a desired engine version (`16`, `16.3`) names the live one (`16.3`).
pub fn version_matches(desired: &str, live: &str) -> bool {
    live == desired || live.starts_with(&format!("{desired}."))
}

/// Health of an instance by its status.
pub fn health_of_status(status: &str) -> Health {
    match status {
        "available" => Health::Healthy,
        "creating"
        | "modifying"
        | "backing-up"
        | "upgrading"
        | "rebooting"
        | "renaming"
        | "resetting-master-credentials"
        | "starting"
        | "maintenance"
        | "storage-optimization"
        | "configuring-enhanced-monitoring"
        | "configuring-iam-database-auth"
        | "configuring-log-exports"
        | "moving-to-vpc"
        | "converting-to-vpc"
        | "deleting"
        | "stopping" => Health::Progressing,
        "failed"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "inaccessible-encryption-credentials"
        | "restore-error"
        | "storage-full"
        | "stopped"
        | "insufficient-capacity" => Health::Degraded,
        _ => Health::Unknown,
    }
}

/// Refuses to modify an instance that is busy; the error is retryable, so the executor waits.
pub fn ensure_modifiable(identifier: &str, status: &str) -> Result<(), AwsError> {
    match status {
        "available" | "backing-up" | "storage-optimization" => Ok(()),
        other => Err(AwsError {
            kind: AwsErrorKind::Retryable,
            code: Some("InvalidDBInstanceState".into()),
            status: None,
            message: format!(
                "DB instance {identifier} is {other}; it can be modified once available"
            ),
            source: None,
        }),
    }
}

/// The rules checked before deleting: deletion protection refuses, and either
/// `skipFinalSnapshot: true` or a `finalSnapshotIdentifier` is required.
pub fn delete_rules(spec: &InstanceSpec, live: &DbInstance) -> Result<Option<String>, AwsError> {
    if live.deletion_protection() == Some(true) {
        return Err(AwsError::invalid(format!(
            "DB instance {} has deletionProtection enabled; refusing to delete it (set spec.forProvider.deletionProtection: false and apply first)",
            spec.identifier
        )));
    }
    if spec.skip_final_snapshot {
        return Ok(None);
    }
    match &spec.final_snapshot_identifier {
        Some(id) => Ok(Some(id.clone())),
        None => Err(AwsError::invalid(format!(
            "DB instance {}: deleting needs a final snapshot; set spec.forProvider.finalSnapshotIdentifier, or skipFinalSnapshot: true to delete without one",
            spec.identifier
        ))),
    }
}

/// The `spec.forProvider` fields of a live instance.
pub fn observed_fields(db: &DbInstance, desired: &InstanceSpec) -> Map<String, Value> {
    let mut f = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            f.insert(k.to_owned(), v);
        }
    };
    put("identifier", db.db_instance_identifier().map(|v| json!(v)));
    put("engine", db.engine().map(|v| json!(v)));
    put(
        "engineVersion",
        db.engine_version()
            .map(|live| match &desired.engine_version {
                Some(d) if version_matches(d, live) => json!(d),
                _ => json!(live),
            }),
    );
    put("instanceClass", db.db_instance_class().map(|v| json!(v)));
    put("allocatedStorage", db.allocated_storage().map(|v| json!(v)));
    put("storageType", db.storage_type().map(|v| json!(v)));
    put("storageEncrypted", db.storage_encrypted().map(|v| json!(v)));
    put("kmsKeyId", db.kms_key_id().map(|v| json!(v)));
    put(
        "publiclyAccessible",
        db.publicly_accessible().map(|v| json!(v)),
    );
    put(
        "backupRetentionPeriod",
        db.backup_retention_period().map(|v| json!(v)),
    );
    put(
        "deletionProtection",
        db.deletion_protection().map(|v| json!(v)),
    );
    put(
        "autoMinorVersionUpgrade",
        db.auto_minor_version_upgrade().map(|v| json!(v)),
    );
    put(
        "dbSubnetGroupName",
        db.db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .map(|v| json!(v)),
    );
    put("username", db.master_username().map(|v| json!(v)));
    put("dbName", db.db_name().map(|v| json!(v)));
    put(
        "port",
        db.endpoint()
            .and_then(|e| e.port())
            .or(db.db_instance_port())
            .filter(|p| *p != 0)
            .map(|v| json!(v)),
    );
    put("multiAz", db.multi_az().map(|v| json!(v)));
    put(
        "parameterGroupName",
        db.db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .map(|v| json!(v)),
    );
    let mut sgs: Vec<String> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect();
    if let Some(d) = desired
        .vpc_security_group_ids
        .as_ref()
        .filter(|d| same_set(d, &sgs))
    {
        sgs = d.clone();
    }
    if !sgs.is_empty() {
        put("vpcSecurityGroupIds", Some(json!(sgs)));
    }
    put("iops", db.iops().map(|v| json!(v)));
    put("availabilityZone", db.availability_zone().map(|v| json!(v)));
    f
}

/// The live object of an instance.
pub fn live(desired: &Value, spec: &InstanceSpec, db: &DbInstance) -> Value {
    let tag_map = tags::from_rds(db.tag_list());
    let (labels, user_tags) = manifest::split_tags(desired, &tag_map);
    let mut for_provider = observed_fields(db, spec);
    // Always present (empty when there are none), so `tags: {}` in a manifest matches.
    for_provider.insert("tags".into(), Value::Object(user_tags));
    let status = db.db_instance_status().unwrap_or("unknown").to_owned();
    let mut at = Map::new();
    at.insert("status".into(), json!(status));
    if let Some(arn) = db.db_instance_arn() {
        at.insert("arn".into(), json!(arn));
    }
    if let Some(id) = db.dbi_resource_id() {
        at.insert("resourceId".into(), json!(id));
    }
    if let Some(e) = db.endpoint() {
        if let Some(a) = e.address() {
            at.insert("address".into(), json!(a));
            if let Some(p) = e.port() {
                at.insert("endpoint".into(), json!(format!("{a}:{p}")));
            }
        }
        if let Some(z) = e.hosted_zone_id() {
            at.insert("hostedZoneId".into(), json!(z));
        }
    }
    if let Some(v) = db.engine_version() {
        at.insert("engineVersionActual".into(), json!(v));
    }
    at.insert("tagsAll".into(), json!(tag_map));
    let ready = status == "available";
    manifest::live_object(
        desired,
        LiveParts {
            external_name: db
                .db_instance_identifier()
                .unwrap_or(&spec.identifier)
                .to_owned(),
            for_provider,
            observable: OBSERVABLE,
            at_provider: at,
            labels,
            ready,
            reason: if ready {
                "Available".to_owned()
            } else {
                capitalize(&status)
            },
        },
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Connection details: endpoint, address, port, username and (when known) password.
pub fn connection(db: &DbInstance, password: Option<&str>) -> ConnectionDetails {
    let mut out = BTreeMap::new();
    if let Some(e) = db.endpoint() {
        if let Some(a) = e.address() {
            out.insert("address".to_owned(), a.as_bytes().to_vec());
            out.insert("endpoint".to_owned(), a.as_bytes().to_vec());
        }
        if let Some(p) = e.port() {
            out.insert("port".to_owned(), p.to_string().into_bytes());
        }
    }
    if let Some(u) = db.master_username() {
        out.insert("username".to_owned(), u.as_bytes().to_vec());
    }
    if let Some(p) = password {
        out.insert("password".to_owned(), p.as_bytes().to_vec());
    }
    ConnectionDetails(out)
}

/// Every DB instance of the default region whose tags carry `stack`'s ownership labels.
pub async fn list_owned(clients: &AwsClients, stack: &str) -> Result<Vec<Value>, AwsError> {
    let client = clients.rds(None);
    let mut owned = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = client
            .describe_db_instances()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|source| classify("DescribeDBInstances", source))?;
        for db in out.db_instances() {
            let tags = tags::from_rds(db.tag_list());
            if let Some(identifier) = db.db_instance_identifier()
                && manifest::owned_by(&tags, stack)
            {
                owned.push(manifest::listed_object(
                    &format!("{}/v1beta1", super::GROUP),
                    "Instance",
                    identifier,
                    &tags,
                ));
            }
        }
        match out.marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(owned)
}

/// Reads the instance, `None` when it does not exist.
pub async fn describe(client: &Client, identifier: &str) -> Result<Option<DbInstance>, AwsError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) => {
            let e = classify("DescribeDBInstances", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Observes an instance: the live object and its connection details.
pub async fn observe(
    clients: &AwsClients,
    secrets: &dyn SecretSource,
    desired: &Resource,
) -> Result<Option<(Value, ConnectionDetails)>, AwsError> {
    let spec = InstanceSpec::from_resource(desired)?;
    let client = clients.rds(manifest::region(&desired.manifest));
    let Some(db) = describe(&client, &spec.identifier).await? else {
        return Ok(None);
    };
    let password = spec.password_ref.as_ref().and_then(|r| secrets.resolve(r));
    Ok(Some((
        live(&desired.manifest, &spec, &db),
        connection(&db, password.as_deref()),
    )))
}

/// Creates the instance.
pub async fn create(
    clients: &AwsClients,
    secrets: &dyn SecretSource,
    desired: &Resource,
) -> Result<(Value, ConnectionDetails), AwsError> {
    let spec = InstanceSpec::from_resource(desired)?;
    let client = clients.rds(manifest::region(&desired.manifest));
    let (password, _generated) = spec.password(secrets)?;
    let out = create_request(&client, &spec, &password)
        .send()
        .await
        .map_err(|source| classify("CreateDBInstance", source))?;
    let db = match describe(&client, &spec.identifier).await? {
        Some(db) => db,
        None => out
            .db_instance()
            .cloned()
            .ok_or_else(|| AwsError::invalid("CreateDBInstance returned no instance"))?,
    };
    Ok((
        live(&desired.manifest, &spec, &db),
        connection(&db, Some(&password)),
    ))
}

/// Modifies the instance in place and reconciles its tags.
pub async fn update(
    clients: &AwsClients,
    secrets: &dyn SecretSource,
    desired: &Resource,
) -> Result<(Value, ConnectionDetails), AwsError> {
    let spec = InstanceSpec::from_resource(desired)?;
    let client = clients.rds(manifest::region(&desired.manifest));
    let db = describe(&client, &spec.identifier).await?.ok_or_else(|| {
        AwsError::invalid(format!("DB instance {} does not exist", spec.identifier))
    })?;
    let change = modification(&spec, &db);
    if !change.is_empty() {
        ensure_modifiable(
            &spec.identifier,
            db.db_instance_status().unwrap_or("unknown"),
        )?;
        client
            .modify_db_instance()
            .db_instance_identifier(&spec.identifier)
            .apply_immediately(spec.apply_immediately)
            .set_db_instance_class(change.instance_class)
            .set_allocated_storage(change.allocated_storage)
            .set_storage_type(change.storage_type)
            .set_iops(change.iops)
            .set_engine_version(change.engine_version)
            .set_allow_major_version_upgrade(change.allow_major_version_upgrade.then_some(true))
            .set_backup_retention_period(change.backup_retention_period)
            .set_deletion_protection(change.deletion_protection)
            .set_auto_minor_version_upgrade(change.auto_minor_version_upgrade)
            .set_publicly_accessible(change.publicly_accessible)
            .set_db_subnet_group_name(change.db_subnet_group_name)
            .set_multi_az(change.multi_az)
            .set_db_parameter_group_name(change.parameter_group_name)
            .set_vpc_security_group_ids(change.vpc_security_group_ids)
            .set_db_port_number(change.port)
            .send()
            .await
            .map_err(|source| classify("ModifyDBInstance", source))?;
    }
    if let Some(arn) = db.db_instance_arn() {
        tags::reconcile(&client, arn, &spec.tags, &tags::from_rds(db.tag_list())).await?;
    }
    let db = describe(&client, &spec.identifier)
        .await?
        .ok_or_else(|| AwsError::invalid(format!("DB instance {} vanished", spec.identifier)))?;
    let password = spec.password_ref.as_ref().and_then(|r| secrets.resolve(r));
    Ok((
        live(&desired.manifest, &spec, &db),
        connection(&db, password.as_deref()),
    ))
}

/// Deletes the instance after checking the deletion rules, then waits until it is gone (up to
/// `wait`). Deleting an instance that is gone succeeds.
pub async fn delete(
    clients: &AwsClients,
    resource: &Resource,
    wait: Duration,
) -> Result<(), AwsError> {
    let spec = InstanceSpec::from_resource(resource)?;
    let client = clients.rds(manifest::region(&resource.manifest));
    let Some(db) = describe(&client, &spec.identifier).await? else {
        return Ok(());
    };
    if db.db_instance_status() != Some("deleting") {
        let snapshot = delete_rules(&spec, &db)?;
        let result = client
            .delete_db_instance()
            .db_instance_identifier(&spec.identifier)
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot)
            .send()
            .await;
        if let Err(e) = result {
            let e = classify("DeleteDBInstance", e);
            if !e.is_not_found() {
                return Err(e);
            }
        }
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(200);
    loop {
        if describe(&client, &spec.identifier).await?.is_none() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError {
                kind: AwsErrorKind::Retryable,
                code: None,
                status: None,
                message: format!("DB instance {} is still being deleted", spec.identifier),
                source: None,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::{DbSubnetGroup, Endpoint, Tag};

    fn resource(fp: Value) -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "db", "labels": {"strata.dev/stack": "s", "app.kubernetes.io/managed-by": "strata"}},
            "spec": {"forProvider": fp}
        }))
        .unwrap()
    }

    fn full() -> Resource {
        resource(json!({
            "region": "us-east-1", "identifier": "app-db", "engine": "postgres", "engineVersion": "16",
            "instanceClass": "db.t3.micro", "allocatedStorage": 20, "storageType": "gp3",
            "storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7,
            "deletionProtection": false, "skipFinalSnapshot": true, "autoMinorVersionUpgrade": true,
            // As core's reference resolution leaves it: the reference and the value it stands for.
            "dbSubnetGroupNameRef": {"name": "app-subnets-ref"}, "dbSubnetGroupName": "app-subnets",
            "username": "app",
            "passwordSecretRef": {"name": "db-pass", "namespace": "default", "key": "password"},
            "tags": {"team": "payments"}
        }))
    }

    #[test]
    fn an_unresolved_subnet_group_reference_is_a_final_error_naming_the_field() {
        let unresolved = resource(json!({"dbSubnetGroupNameRef": {"name": "app-subnets"}}));
        let error = InstanceSpec::from_resource(&unresolved).unwrap_err();
        assert_eq!(error.kind, crate::error::AwsErrorKind::Final);
        assert!(
            error
                .message
                .contains("spec.forProvider.dbSubnetGroupNameRef"),
            "{error}"
        );
        let unresolved = resource(json!({"vpcSecurityGroupIdRefs": [{"name": "sg"}]}));
        let error = InstanceSpec::from_resource(&unresolved).unwrap_err();
        assert!(
            error
                .message
                .contains("spec.forProvider.vpcSecurityGroupIds"),
            "{error}"
        );
    }

    fn hand_built(status: &str) -> DbInstance {
        hand_built_with(status, false)
    }

    fn hand_built_with(status: &str, protected: bool) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("app-db")
            .db_instance_status(status)
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .storage_type("gp3")
            .storage_encrypted(true)
            .publicly_accessible(false)
            .backup_retention_period(7)
            .deletion_protection(protected)
            .auto_minor_version_upgrade(true)
            .master_username("app")
            .db_subnet_group(
                DbSubnetGroup::builder()
                    .db_subnet_group_name("app-subnets")
                    .build(),
            )
            .endpoint(
                Endpoint::builder()
                    .address("app-db.x.us-east-1.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:app-db")
            .tag_list(Tag::builder().key("team").value("payments").build())
            .tag_list(Tag::builder().key("strata.dev/stack").value("s").build())
            .tag_list(
                Tag::builder()
                    .key("app.kubernetes.io/managed-by")
                    .value("strata")
                    .build(),
            )
            .build()
    }

    #[test]
    fn spec_reads_every_field_and_the_identifier() {
        let spec = InstanceSpec::from_resource(&full()).unwrap();
        assert_eq!(spec.identifier, "app-db");
        assert_eq!(spec.db_subnet_group_name.as_deref(), Some("app-subnets"));
        assert_eq!(spec.allocated_storage, Some(20));
        assert_eq!(spec.storage_encrypted, Some(true));
        assert!(spec.skip_final_snapshot);
        assert!(spec.apply_immediately);
        assert_eq!(spec.tags["team"], "payments");
        assert_eq!(spec.tags["strata.dev/stack"], "s");
        let mut r = full();
        r.manifest["metadata"]["annotations"] =
            json!({"crossplane.io/external-name": "adopted-db"});
        assert_eq!(
            InstanceSpec::from_resource(&r).unwrap().identifier,
            "adopted-db"
        );
    }

    #[test]
    fn create_request_maps_the_spec() {
        let spec = InstanceSpec::from_resource(&full()).unwrap();
        let conf = aws_sdk_rds::Config::builder()
            .region(aws_sdk_rds::config::Region::new("us-east-1"))
            .build();
        let client = Client::from_conf(conf);
        let req = create_request(&client, &spec, "pw");
        let input = req.as_input();
        assert_eq!(
            input.get_db_instance_identifier().as_deref(),
            Some("app-db")
        );
        assert_eq!(input.get_engine().as_deref(), Some("postgres"));
        assert_eq!(
            input.get_db_instance_class().as_deref(),
            Some("db.t3.micro")
        );
        assert_eq!(*input.get_allocated_storage(), Some(20));
        assert_eq!(*input.get_storage_encrypted(), Some(true));
        assert_eq!(
            input.get_db_subnet_group_name().as_deref(),
            Some("app-subnets")
        );
        assert_eq!(input.get_master_username().as_deref(), Some("app"));
        assert_eq!(input.get_master_user_password().as_deref(), Some("pw"));
        assert_eq!(*input.get_backup_retention_period(), Some(7));
        let tags = input.get_tags().as_ref().unwrap();
        assert!(
            tags.iter()
                .any(|t| t.key() == Some("team") && t.value() == Some("payments"))
        );
        assert!(
            tags.iter()
                .any(|t| t.key() == Some("app.kubernetes.io/managed-by"))
        );
    }

    #[test]
    fn live_instance_matches_the_desired_shape_and_records_late_init() {
        let r = full();
        let spec = InstanceSpec::from_resource(&r).unwrap();
        let l = live(&r.manifest, &spec, &hand_built("available"));
        let fp = &l["spec"]["forProvider"];
        assert_eq!(
            fp["engineVersion"], "16",
            "a major version names the live minor"
        );
        assert_eq!(l["status"]["atProvider"]["engineVersionActual"], "16.3");
        assert_eq!(
            fp["dbSubnetGroupName"], "app-subnets",
            "late-initialized from the ref"
        );
        assert_eq!(fp["passwordSecretRef"]["name"], "db-pass", "echoed");
        assert_eq!(fp["tags"], json!({"team": "payments"}));
        assert_eq!(l["metadata"]["labels"]["strata.dev/stack"], "s");
        assert_eq!(
            l["status"]["atProvider"]["endpoint"],
            "app-db.x.us-east-1.rds.amazonaws.com:5432"
        );
        let changes = strata_core::plan::fields::desired_vs_live(&r.manifest, &l);
        assert!(changes.is_empty(), "{changes:?}");
        assert!(!l.to_string().contains("\"pw\""));
    }

    #[test]
    fn creating_and_modifying_instances_are_progressing_and_not_modified() {
        let r = full();
        let spec = InstanceSpec::from_resource(&r).unwrap();
        for status in ["creating", "modifying"] {
            let l = live(&r.manifest, &spec, &hand_built(status));
            assert_eq!(l["status"]["conditions"][0]["status"], "False");
            assert_eq!(health_of_status(status), Health::Progressing);
            let e = ensure_modifiable("app-db", status).unwrap_err();
            assert_eq!(e.kind, AwsErrorKind::Retryable, "{status}");
            assert!(e.message.contains(status));
        }
        assert!(ensure_modifiable("app-db", "available").is_ok());
        assert_eq!(health_of_status("available"), Health::Healthy);
        assert_eq!(health_of_status("failed"), Health::Degraded);
    }

    #[test]
    fn modification_contains_only_changed_fields() {
        let mut r = full();
        assert!(
            modification(
                &InstanceSpec::from_resource(&r).unwrap(),
                &hand_built("available")
            )
            .is_empty()
        );
        r.manifest["spec"]["forProvider"]["instanceClass"] = json!("db.t3.small");
        r.manifest["spec"]["forProvider"]["allocatedStorage"] = json!(50);
        r.manifest["spec"]["forProvider"]["engineVersion"] = json!("17.1");
        let m = modification(
            &InstanceSpec::from_resource(&r).unwrap(),
            &hand_built("available"),
        );
        assert_eq!(m.instance_class.as_deref(), Some("db.t3.small"));
        assert_eq!(m.allocated_storage, Some(50));
        assert_eq!(m.engine_version.as_deref(), Some("17.1"));
        assert!(m.allow_major_version_upgrade);
        assert_eq!(m.backup_retention_period, None);
    }

    #[test]
    fn deletion_protection_and_final_snapshot_rules() {
        let spec = InstanceSpec::from_resource(&full()).unwrap();
        let protected = hand_built_with("available", true);
        let e = delete_rules(&spec, &protected).unwrap_err();
        assert!(e.message.contains("deletionProtection"), "{}", e.message);
        assert_eq!(delete_rules(&spec, &hand_built("available")).unwrap(), None);
        let mut r = full();
        r.manifest["spec"]["forProvider"]["skipFinalSnapshot"] = json!(false);
        let no_snapshot = InstanceSpec::from_resource(&r).unwrap();
        assert!(
            delete_rules(&no_snapshot, &hand_built("available"))
                .unwrap_err()
                .message
                .contains("finalSnapshotIdentifier")
        );
        r.manifest["spec"]["forProvider"]["finalSnapshotIdentifier"] = json!("final");
        let with = InstanceSpec::from_resource(&r).unwrap();
        assert_eq!(
            delete_rules(&with, &hand_built("available"))
                .unwrap()
                .as_deref(),
            Some("final")
        );
    }

    #[test]
    fn passwords_resolve_or_generate_and_never_show() {
        let spec = InstanceSpec::from_resource(&full()).unwrap();
        let mut secrets = crate::secrets::StaticSecrets::new();
        let e = spec.password(&secrets).unwrap_err();
        assert!(
            e.message.contains("STRATA_SECRET_DB_PASS_PASSWORD"),
            "{}",
            e.message
        );
        secrets.insert("db-pass", "password", "hunter22");
        assert_eq!(
            spec.password(&secrets).unwrap(),
            ("hunter22".to_owned(), false)
        );
        let bare = InstanceSpec::from_resource(&resource(json!({"engine": "postgres"}))).unwrap();
        let (generated, was_generated) = bare.password(&secrets).unwrap();
        assert!(was_generated);
        assert_eq!(generated.len(), 32);
        let details = connection(&hand_built("available"), Some("hunter22"));
        assert_eq!(details.0["password"], b"hunter22");
        assert_eq!(details.0["port"], b"5432");
        assert!(!format!("{details:?}").contains("hunter22"));
    }
}
