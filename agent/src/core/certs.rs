//! Certificates uploaded for a domain, judged before they are used: a PEM
//! chain (leaf first, each certificate issued by the next), a key that is
//! the leaf's, names that cover the domain, and not expired. Pure.

use appos_proto::FieldError;

/// The issuer's common name (or its whole name) and the DNS names a certificate covers.
pub fn issuer_and_names(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> (String, Vec<String>) {
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| cert.issuer().to_string());
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    (issuer, names)
}

/// What an uploaded chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub issuer: String,
    pub not_after: i64,
}

fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.tag() == label)
        .map(|p| p.into_contents())
        .collect()
}

/// Checks an upload for `domain` at `now` (seconds); one field error per problem.
pub fn check_upload(
    domain: &str,
    certificate: &str,
    key: &str,
    now: i64,
) -> Result<Upload, Vec<FieldError>> {
    let err = |f: &str, m: String| vec![FieldError::new(f, m)];
    let chain = pem_blocks(certificate, "CERTIFICATE");
    if chain.is_empty() {
        return Err(err(
            "certificate",
            "no PEM certificate (-----BEGIN CERTIFICATE-----) was found".into(),
        ));
    }
    let mut parsed = Vec::new();
    for (i, der) in chain.iter().enumerate() {
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, c)) => parsed.push(c),
            Err(e) => {
                return Err(err(
                    "certificate",
                    format!("certificate {} of the chain cannot be read: {e}", i + 1),
                ))
            }
        }
    }
    let mut errors = Vec::new();
    for (i, pair) in parsed.windows(2).enumerate() {
        if pair[0].issuer() != pair[1].subject() {
            errors.push(FieldError::new("certificate", format!("the chain is out of order: certificate {} was not issued by certificate {}; put the domain's certificate first, then each issuer", i + 1, i + 2)));
        }
    }
    let leaf = &parsed[0];
    let (issuer, names) = issuer_and_names(leaf);
    if !crate::core::proxy::covers(&names, domain) {
        errors.push(FieldError::new(
            "certificate",
            format!(
                "the certificate is for {}, not {domain}",
                if names.is_empty() {
                    "no DNS name".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    let not_after = leaf.validity().not_after.timestamp();
    if not_after <= now {
        errors.push(FieldError::new(
            "certificate",
            "the certificate has expired",
        ));
    }
    match rcgen::KeyPair::from_pem(key) {
        Ok(k) if k.public_key_der() == leaf.public_key().raw => {}
        Ok(_) => errors.push(FieldError::new(
            "key",
            "the key does not match the certificate",
        )),
        Err(_) => errors.push(FieldError::new(
            "key",
            "no private key in PEM form (-----BEGIN PRIVATE KEY-----) was found",
        )),
    }
    if errors.is_empty() {
        Ok(Upload { issuer, not_after })
    } else {
        Err(errors)
    }
}

/// Whether a certificate valid from `not_before` to `not_after` is due for
/// renewal at `now` (seconds): in the last third of its life.
pub fn renewal_due(not_before: i64, not_after: i64, now: i64) -> bool {
    now >= not_after - (not_after - not_before) / 3
}

/// The validity (not before, not after) of the first certificate of a PEM chain.
pub fn leaf_validity(chain: &str) -> Option<(i64, i64)> {
    let der = pem_blocks(chain, "CERTIFICATE").into_iter().next()?;
    let (_, c) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some((
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_in_the_last_third() {
        let day = 86400;
        for (life, left, due) in [
            (90, 31, false),
            (90, 30, true),
            (90, 1, true),
            (90, -1, true),
            (6, 3, false),
            (6, 2, true),
        ] {
            assert_eq!(
                renewal_due(0, life * day, (life - left) * day),
                due,
                "{life} days, {left} left"
            );
        }
    }

    struct Made {
        ca: rcgen::Certificate,
        ca_key: rcgen::KeyPair,
    }

    fn ca() -> Made {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        Made {
            ca: p.self_signed(&ca_key).expect("ca"),
            ca_key,
        }
    }

    fn leaf(made: &Made, names: &[&str], days: i64) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
        let cert = p.signed_by(&key, &made.ca, &made.ca_key).expect("leaf");
        (cert.pem(), key)
    }

    #[test]
    fn uploads_are_checked() {
        let m = ca();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (cert, key) = leaf(&m, &["shop.test"], 10);
        let chain = format!("{cert}{}", m.ca.pem());
        let ok = check_upload("shop.test", &chain, &key.serialize_pem(), now).expect("valid");
        assert_eq!(ok.issuer, "Test CA");
        assert!((ok.not_after - now - 10 * 86400).abs() < 120);
        // Another key; another name; the chain backwards; no key.
        let other = rcgen::KeyPair::generate().expect("key");
        assert_eq!(
            check_upload("shop.test", &chain, &other.serialize_pem(), now),
            Err(vec![FieldError::new(
                "key",
                "the key does not match the certificate"
            )])
        );
        assert_eq!(
            check_upload("blog.test", &chain, &key.serialize_pem(), now),
            Err(vec![FieldError::new(
                "certificate",
                "the certificate is for shop.test, not blog.test"
            )])
        );
        let backwards = format!("{}{cert}", m.ca.pem());
        let e =
            check_upload("shop.test", &backwards, &key.serialize_pem(), now).expect_err("refused");
        assert_eq!(e[0], FieldError::new("certificate", "the chain is out of order: certificate 1 was not issued by certificate 2; put the domain's certificate first, then each issuer"));
        assert_eq!(
            check_upload("shop.test", &chain, "nope", now).expect_err("refused"),
            [FieldError::new(
                "key",
                "no private key in PEM form (-----BEGIN PRIVATE KEY-----) was found"
            )]
        );
        assert_eq!(
            check_upload("shop.test", "", "", now).expect_err("refused")[0].field,
            "certificate"
        );
        assert_eq!(leaf_validity(&chain).map(|(_, a)| a), Some(ok.not_after));
        assert_eq!(leaf_validity("no pem"), None);
        // Expired.
        assert_eq!(
            check_upload("shop.test", &chain, &key.serialize_pem(), now + 11 * 86400),
            Err(vec![FieldError::new(
                "certificate",
                "the certificate has expired"
            )])
        );
    }
}
