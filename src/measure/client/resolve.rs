//! Name resolution for the fast clients. Names under the reserved `.invalid` top-level domain
//! (RFC 6761) are refused here, without asking the system resolver, so a lookup that can never
//! succeed never leaves the machine; every other name goes to the system resolver.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

type Addrs = Box<dyn Iterator<Item = SocketAddr> + Send>;
type Resolving = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

/// Whether a host name is one that must never resolve (RFC 6761 section 6.4).
pub fn never_resolves(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "invalid" || h.ends_with(".invalid")
}

fn refused(host: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{host}: names under .invalid never resolve (RFC 6761)"),
    )
}

/// The resolver of the plain-HTTP client: the system resolver, minus the reserved names.
#[derive(Clone)]
pub struct LocalFirstResolver {
    gai: GaiResolver,
}

impl Default for LocalFirstResolver {
    fn default() -> Self {
        LocalFirstResolver::new()
    }
}

impl LocalFirstResolver {
    pub fn new() -> LocalFirstResolver {
        LocalFirstResolver {
            gai: GaiResolver::new(),
        }
    }
}

impl Service<Name> for LocalFirstResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.gai.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if never_resolves(name.as_str()) {
            let e = refused(name.as_str());
            return Box::pin(async move { Err(e) });
        }
        let fut = self.gai.call(name);
        Box::pin(async move { fut.await.map(|a| Box::new(a) as Addrs) })
    }
}

/// The same rule for reqwest (the streamed-answer client).
pub struct TlsResolver;

impl reqwest::dns::Resolve for TlsResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if never_resolves(&host) {
                return Err(Box::new(refused(&host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_invalid_names_never_reach_the_system_resolver() {
        for h in ["x.invalid", "a.b.INVALID", "invalid", "x.invalid."] {
            assert!(never_resolves(h), "{h}");
        }
        for h in ["localhost", "invalid.example", "127.0.0.1", "notinvalid"] {
            assert!(!never_resolves(h), "{h}");
        }
    }

    #[tokio::test]
    async fn the_plain_resolver_refuses_invalid_names_at_once() {
        let mut r = LocalFirstResolver::new();
        let name: Name = "rightsize-test.invalid".parse().unwrap();
        let e = match r.call(name).await {
            Err(e) => e,
            Ok(_) => panic!("an .invalid name resolved"),
        };
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(e.to_string().contains("RFC 6761"), "{e}");
    }
}
