//! `appos domains` and `appos proxy reload`.

use appos_client::Client;
use appos_proto::calls::{
    ListCerts, ListDomains, ReloadProxy, RemoveDomain, RenewCertificate, UnwatchEndpoint,
    UploadCertificate,
};
use appos_proto::{CertSource, CertStatus, CertificateUpload, Domain, DomainRequest, WatchRequest};
use clap::Subcommand;

use crate::{output, Output};

#[derive(Subcommand)]
pub enum DomainsCommand {
    /// Serve DOMAIN from an app's service: TARGET is APP[/SERVICE]:PORT.
    Add {
        domain: String,
        /// APP[/SERVICE]:PORT (leave out with --redirect-to).
        #[arg(required_unless_present = "redirect_to")]
        target: Option<String>,
        /// Redirect DOMAIN to this domain instead (www to the apex).
        #[arg(long, conflicts_with = "target")]
        redirect_to: Option<String>,
        /// HTTPS with a certificate the proxy orders and renews.
        #[arg(long)]
        ssl: bool,
        /// Redirect plain HTTP to HTTPS.
        #[arg(long, requires = "ssl")]
        force_https: bool,
        /// Order the certificate without checking first that DOMAIN resolves to this server.
        #[arg(long, requires = "ssl")]
        skip_preflight: bool,
    },
    /// Stop serving DOMAIN.
    Rm { domain: String },
    /// Order a new certificate for DOMAIN now.
    Ssl {
        domain: String,
        /// Order without checking first that DOMAIN resolves to this server (from now on).
        #[arg(long)]
        skip_preflight: bool,
    },
    /// Serve a certificate of your own for DOMAIN (PEM files: the chain, leaf first, and its key).
    Cert {
        domain: String,
        #[arg(long = "cert")]
        cert: std::path::PathBuf,
        #[arg(long)]
        key: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Add a TLS endpoint (HOST:PORT) to the inventory.
    Watch { endpoint: String },
    /// Stop watching an endpoint.
    Unwatch { endpoint: String },
}

fn certificate(c: &CertStatus) -> String {
    match c {
        CertStatus::None => "http only".into(),
        CertStatus::Pending { reason } => format!("pending: {reason}"),
        CertStatus::Valid {
            issuer, days_left, ..
        } => format!("valid, {days_left} days left ({issuer})"),
        CertStatus::Expiring {
            issuer, days_left, ..
        } => format!("EXPIRING in {days_left} days ({issuer})"),
        CertStatus::Failed { reason } => format!("FAILED: {reason}"),
    }
}

fn table(domains: &[Domain], out: Output) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(&domains),
        Output::Table => {
            if domains.is_empty() {
                eprintln!("no domains are served");
            }
            for d in domains {
                let scheme = if d.ssl { "https" } else { "http" };
                let to = match &d.redirect_to {
                    Some(t) => format!("→ {t}"),
                    None => format!("{}/{}:{}", d.app, d.service, d.port),
                };
                println!(
                    "{:<32} {:<28} {:<6} {}",
                    d.domain,
                    to,
                    scheme,
                    certificate(&d.certificate)
                );
            }
            Ok(())
        }
    }
}

pub async fn run(
    client: &Client,
    command: Option<DomainsCommand>,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        None => table(&client.call(&ListDomains {}).await?, out),
        Some(DomainsCommand::Add {
            domain,
            target,
            redirect_to,
            ssl,
            force_https,
            skip_preflight,
        }) => {
            let d = client
                .call(&DomainRequest {
                    domain,
                    target: target.unwrap_or_default(),
                    redirect_to,
                    ssl,
                    force_https,
                    skip_preflight,
                })
                .await?;
            table(std::slice::from_ref(&d), out)
        }
        Some(DomainsCommand::Cert { domain, cert, key }) => {
            let read = |p: &std::path::Path| {
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))
            };
            let request = CertificateUpload {
                certificate: read(&cert)?,
                key: read(&key)?,
            };
            let d = client.call(&UploadCertificate { domain, request }).await?;
            table(std::slice::from_ref(&d), out)
        }
        Some(DomainsCommand::Ssl {
            domain,
            skip_preflight,
        }) => {
            let d = client
                .call(&RenewCertificate {
                    domain,
                    skip_preflight,
                })
                .await?;
            table(std::slice::from_ref(&d), out)
        }
        Some(DomainsCommand::Rm { domain }) => {
            client
                .call(&RemoveDomain {
                    domain: domain.clone(),
                })
                .await?;
            if out == Output::Table {
                eprintln!("{domain} is no longer served");
            }
            Ok(())
        }
    }
}

/// `appos certs`: the inventory, with days left.
pub async fn certs(
    client: &Client,
    command: Option<CertsCommand>,
    out: Output,
) -> anyhow::Result<()> {
    let entries = match command {
        None => client.call(&ListCerts {}).await?,
        Some(CertsCommand::Watch { endpoint }) => {
            vec![client.call(&WatchRequest { endpoint }).await?]
        }
        Some(CertsCommand::Unwatch { endpoint }) => {
            client
                .call(&UnwatchEndpoint {
                    endpoint: endpoint.clone(),
                })
                .await?;
            if out == Output::Table {
                eprintln!("{endpoint} is no longer watched");
            }
            return Ok(());
        }
    };
    match out {
        Output::Json => output::json(&entries),
        Output::Table => {
            if entries.is_empty() {
                eprintln!("no certificates are watched: serve a domain with --ssl, or `appos certs watch HOST:PORT`");
            }
            for e in &entries {
                let source = match e.source {
                    CertSource::Domain => "domain",
                    CertSource::Watched => "watched",
                };
                println!("{:<36} {:<8} {}", e.subject, source, certificate(&e.status));
            }
            Ok(())
        }
    }
}

pub async fn reload(client: &Client, out: Output) -> anyhow::Result<()> {
    table(&client.call(&ReloadProxy {}).await?, out)
}
