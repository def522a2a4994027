# RDS: storage always encrypted; deletion protection on in production; public instances
# are worth a second look.
package strata.aws.rds

production := {"prod", "production"}

instances contains c if {
	some c in input.resource_changes
	c.change.after != null
	c.kind == "Instance"
	startswith(c.api_version, "rds.aws.upbound.io/")
}

deny contains msg if {
	some c in instances
	object.get(c.change.after.spec.forProvider, "storageEncrypted", false) != true
	msg := sprintf("%s: storageEncrypted must be true (RDS storage encrypted)", [c.address])
}

deny contains msg if {
	some c in instances
	in_production(c.change.after)
	object.get(c.change.after.spec.forProvider, "deletionProtection", false) != true
	msg := sprintf("%s: deletionProtection must be true in production", [c.address])
}

warn contains msg if {
	some c in instances
	object.get(c.change.after.spec.forProvider, "publiclyAccessible", false) == true
	msg := sprintf("%s: the instance is publicly accessible", [c.address])
}

in_production(object) if {
	some label in ["strata.dev/environment", "environment", "env"]
	object.metadata.labels[label] in production
}

in_production(object) if {
	some tag in ["environment", "env"]
	object.spec.forProvider.tags[tag] in production
}
