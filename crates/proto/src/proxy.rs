//! Domains served by the reverse proxy, and the certificates behind them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// `POST /v1/proxy/domains`: serve `domain` from an app's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DomainRequest {
    /// A DNS name (Unicode names are stored as punycode).
    pub domain: String,
    /// `APP[/SERVICE]:PORT`: the container port the proxy sends requests to
    /// (the service may be left out when the app has one). Empty with `redirect_to`.
    #[serde(default)]
    pub target: String,
    /// Redirect every request to this domain instead (`www` to the apex):
    /// a domain already served here.
    #[serde(default)]
    pub redirect_to: Option<String>,
    /// Serve HTTPS with a certificate the proxy orders and renews.
    #[serde(default)]
    pub ssl: bool,
    /// Redirect plain HTTP to HTTPS (needs `ssl`).
    #[serde(default)]
    pub force_https: bool,
    /// Order the certificate without first checking that the domain
    /// resolves to this server and reaches its proxy (the preflight).
    #[serde(default)]
    pub skip_preflight: bool,
}

/// Where a certificate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CertStatus {
    /// No HTTPS for this domain.
    None,
    /// HTTPS is asked for; no certificate is served yet.
    Pending {
        /// Why not yet, when known.
        reason: String,
    },
    /// A certificate for the name is served.
    Valid {
        issuer: String,
        /// Seconds since the epoch.
        #[ts(type = "number")]
        not_after: i64,
        #[ts(type = "number")]
        days_left: i64,
    },
    /// Served, but within the alert window (30 days, or a third of its life).
    Expiring {
        issuer: String,
        #[ts(type = "number")]
        not_after: i64,
        #[ts(type = "number")]
        days_left: i64,
    },
    /// What is served does not cover the name, or is expired.
    Failed { reason: String },
}

/// A domain as the agent serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Domain {
    pub domain: String,
    pub app: String,
    pub service: String,
    pub port: u16,
    pub ssl: bool,
    pub force_https: bool,
    /// Requests are redirected to this domain (then `app`, `service` and `port` are its).
    pub redirect_to: Option<String>,
    pub certificate: CertStatus,
}

/// `POST /v1/proxy/domains/{domain}/certificate`: serve a certificate of
/// your own for a domain instead of an ordered one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CertificateUpload {
    /// PEM: the domain's certificate first, then each issuer.
    pub certificate: String,
    /// PEM: the certificate's private key.
    pub key: String,
}

/// Where a watched certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum CertSource {
    /// A domain the proxy serves.
    Domain,
    /// Another TLS endpoint added to the inventory (`host:port`).
    Watched,
}

/// One certificate in the inventory: what is actually served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CertEntry {
    /// The domain, or the watched `host:port`.
    pub subject: String,
    pub source: CertSource,
    pub status: CertStatus,
}

/// `POST /v1/certs/watch`: add a TLS endpoint to the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct WatchRequest {
    /// `host:port`, such as `mail.example.com:993`.
    pub endpoint: String,
}
