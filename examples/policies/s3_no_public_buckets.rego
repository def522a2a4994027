# No public S3 buckets: every bucket has a public access block with all four switches on,
# and no bucket ACL grants public access.
package strata.aws.s3

public_acls := {"public-read", "public-read-write", "authenticated-read"}

block_switches := ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]

# What the stack keeps after the plan (deletions are leaving).
kept contains c if {
	some c in input.resource_changes
	c.change.after != null
	startswith(c.api_version, "s3.aws.upbound.io/")
}

deny contains msg if {
	some c in kept
	c.kind == "Bucket"
	not blocked(c.name)
	msg := sprintf("%s: no BucketPublicAccessBlock blocks public access to this bucket (no public S3 buckets)", [c.address])
}

deny contains msg if {
	some c in kept
	c.kind == "BucketPublicAccessBlock"
	some switch in block_switches
	object.get(c.change.after.spec.forProvider, switch, false) != true
	msg := sprintf("%s: %s must be true (no public S3 buckets)", [c.address, switch])
}

deny contains msg if {
	some c in kept
	c.kind == "BucketACL"
	c.change.after.spec.forProvider.acl in public_acls
	msg := sprintf("%s: the ACL %s makes the bucket public (no public S3 buckets)", [c.address, c.change.after.spec.forProvider.acl])
}

blocked(name) if {
	some b in kept
	b.kind == "BucketPublicAccessBlock"
	b.change.after.spec.forProvider.bucketRef.name == name
}
