//! `appos domains` and `appos proxy reload`.

use appos_client::Client;
use appos_proto::calls::{ListDomains, ReloadProxy, RemoveDomain};
use appos_proto::{CertStatus, Domain, DomainRequest};
use clap::Subcommand;

use crate::{output, Output};

#[derive(Subcommand)]
pub enum DomainsCommand {
    /// Serve DOMAIN from an app's service: TARGET is APP[/SERVICE]:PORT.
    Add {
        domain: String,
        target: String,
        /// HTTPS with a certificate the proxy orders and renews.
        #[arg(long)]
        ssl: bool,
        /// Redirect plain HTTP to HTTPS.
        #[arg(long, requires = "ssl")]
        force_https: bool,
    },
    /// Stop serving DOMAIN.
    Rm { domain: String },
}

fn certificate(c: &CertStatus) -> String {
    match c {
        CertStatus::None => "http only".into(),
        CertStatus::Pending { reason } => format!("pending: {reason}"),
        CertStatus::Valid { issuer, days_left, .. } => format!("valid, {days_left} days left ({issuer})"),
        CertStatus::Expiring { issuer, days_left, .. } => format!("EXPIRING in {days_left} days ({issuer})"),
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
                println!("{:<32} {:<28} {:<6} {}", d.domain, format!("{}/{}:{}", d.app, d.service, d.port), scheme, certificate(&d.certificate));
            }
            Ok(())
        }
    }
}

pub async fn run(client: &Client, command: Option<DomainsCommand>, out: Output) -> anyhow::Result<()> {
    match command {
        None => table(&client.call(&ListDomains {}).await?, out),
        Some(DomainsCommand::Add { domain, target, ssl, force_https }) => {
            let d = client.call(&DomainRequest { domain, target, ssl, force_https }).await?;
            table(std::slice::from_ref(&d), out)
        }
        Some(DomainsCommand::Rm { domain }) => {
            client.call(&RemoveDomain { domain: domain.clone() }).await?;
            if out == Output::Table {
                eprintln!("{domain} is no longer served");
            }
            Ok(())
        }
    }
}

pub async fn reload(client: &Client, out: Output) -> anyhow::Result<()> {
    table(&client.call(&ReloadProxy {}).await?, out)
}
