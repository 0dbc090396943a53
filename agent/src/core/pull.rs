//! What a failed image pull means, in plain words, from Docker's error text.

/// Why a pull failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    DnsFailed,
    RegistryUnreachable,
    AuthenticationRequired,
    ImageNotFound,
    Other,
}

impl PullFailure {
    /// Classifies Docker's message.
    pub fn of(docker: &str) -> PullFailure {
        let m = docker.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
        if any(&[
            "no such host",
            "server misbehaving",
            "temporary failure in name resolution",
            "name or service not known",
        ]) {
            PullFailure::DnsFailed
        } else if any(&[
            "connection refused",
            "i/o timeout",
            "network is unreachable",
            "no route to host",
            "tls handshake timeout",
            "connection reset",
            "context deadline exceeded",
            "client.timeout exceeded",
            "server gave http response to https client",
        ]) {
            PullFailure::RegistryUnreachable
        } else if any(&[
            "may require 'docker login'",
            "authentication required",
            "unauthorized",
            "denied: requested access",
        ]) {
            // "pull access denied ... repository does not exist or may require 'docker login'":
            // the registry will not say which, and logging in is what the user can try.
            PullFailure::AuthenticationRequired
        } else if any(&[
            "manifest unknown",
            "not found",
            "repository does not exist",
            "no such image",
            "invalid reference format",
        ]) {
            PullFailure::ImageNotFound
        } else {
            PullFailure::Other
        }
    }

    /// The plain-words sentence for `image` (from `registry`).
    pub fn explain(self, image: &str, registry: &str) -> String {
        match self {
            PullFailure::DnsFailed => format!("DNS lookup failed: this server cannot resolve the registry {registry}"),
            PullFailure::RegistryUnreachable => format!("registry unreachable: this server cannot connect to {registry}"),
            PullFailure::AuthenticationRequired => format!("authentication required: {registry} refused to serve {image} without a login (or it does not exist)"),
            PullFailure::ImageNotFound => format!("image not found: {registry} has no {image}"),
            PullFailure::Other => format!("the pull of {image} failed"),
        }
    }
}

/// The registry an image reference names (`docker.io` when it names none).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// The message a deployment shows for a failed pull: the image, plain
/// words, then Docker's text.
pub fn message(image: &str, docker: &str) -> String {
    let docker = docker
        .trim()
        .trim_start_matches("Docker responded with status code 500: ");
    match PullFailure::of(docker) {
        PullFailure::Other => format!("pulling {image} failed: {docker}"),
        f => format!(
            "pulling {image}: {} ({docker})",
            f.explain(image, registry_of(image))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_plain_words() {
        for (docker, want) in [
            ("Get \"https://registry.example/v2/\": dial tcp: lookup registry.example on 10.0.0.2:53: no such host", PullFailure::DnsFailed),
            ("Get \"https://r.example/v2/\": dial tcp: lookup r.example: Temporary failure in name resolution", PullFailure::DnsFailed),
            ("Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused", PullFailure::RegistryUnreachable),
            ("Get \"https://registry-1.docker.io/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)", PullFailure::RegistryUnreachable),
            ("Get \"https://10.1.2.3/v2/\": dial tcp 10.1.2.3:443: connect: network is unreachable", PullFailure::RegistryUnreachable),
            ("Get \"https://127.0.0.1:5000/v2/\": http: server gave HTTP response to HTTPS client", PullFailure::RegistryUnreachable),
            ("pull access denied for nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", PullFailure::AuthenticationRequired),
            ("Head \"https://ghcr.io/v2/x/y/manifests/1\": unauthorized", PullFailure::AuthenticationRequired),
            ("manifest for busybox:nope not found: manifest unknown: manifest unknown", PullFailure::ImageNotFound),
            ("Docker responded with status code 500: something else", PullFailure::Other),
        ] {
            assert_eq!(PullFailure::of(docker), want, "{docker}");
        }
    }

    #[test]
    fn registries() {
        for (image, registry) in [
            ("nginx:1.27", "docker.io"),
            ("library/nginx", "docker.io"),
            ("ghcr.io/a/b:1", "ghcr.io"),
            ("127.0.0.1:5000/x", "127.0.0.1:5000"),
            ("localhost/x", "localhost"),
        ] {
            assert_eq!(registry_of(image), registry, "{image}");
        }
        assert_eq!(
            message("127.0.0.1:1/x:1", "Docker responded with status code 500: dial tcp 127.0.0.1:1: connect: connection refused\n"),
            "pulling 127.0.0.1:1/x:1: registry unreachable: this server cannot connect to 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused)"
        );
        assert_eq!(
            message("x:1", "Docker responded with status code 500: disk full"),
            "pulling x:1 failed: disk full"
        );
    }
}
