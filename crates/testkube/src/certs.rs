//! The control plane's PKI, generated in Rust with `rcgen`: a CA, the API server's serving
//! certificate, an admin client certificate (group `system:masters`) and the service-account
//! signing key.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The private key (PKCS #8), PEM.
    pub key_pem: String,
}

/// Everything the API server and its clients need to trust and authenticate each other.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate, PEM: clients trust it, and it signs client certificates.
    pub ca_pem: String,
    /// The API server's serving certificate (for `127.0.0.1`, `localhost` and the in-cluster
    /// names).
    pub serving: CertifiedKey,
    /// The admin's client certificate (`CN=strata-admin`, `O=system:masters`).
    pub admin: CertifiedKey,
    /// The key that signs service-account tokens, PEM.
    pub service_account_key_pem: String,
    /// Its public half, which verifies them, PEM.
    pub service_account_public_key_pem: String,
}

fn named(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    name
}

impl Pki {
    /// Generates a fresh PKI.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = named("strata-testkube-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut serving_params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
            "10.0.0.1".to_owned(),
        ])?;
        serving_params.distinguished_name = named("kube-apiserver", None);
        serving_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_key = KeyPair::generate()?;
        let serving = serving_params.signed_by(&serving_key, &ca)?;

        let mut admin_params = CertificateParams::default();
        admin_params.distinguished_name = named("strata-admin", Some("system:masters"));
        admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_key = KeyPair::generate()?;
        let admin = admin_params.signed_by(&admin_key, &ca)?;

        let service_account_key = KeyPair::generate()?;
        Ok(Self {
            ca_pem: ca.pem(),
            serving: CertifiedKey {
                certificate_pem: serving.pem(),
                key_pem: serving_key.serialize_pem(),
            },
            admin: CertifiedKey {
                certificate_pem: admin.pem(),
                key_pem: admin_key.serialize_pem(),
            },
            service_account_key_pem: service_account_key.serialize_pem(),
            service_account_public_key_pem: service_account_key.public_key_pem(),
        })
    }
}
