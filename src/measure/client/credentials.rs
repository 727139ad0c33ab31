//! The signing identity of the fast SageMaker client: credentials from `aws-config`'s provider
//! chain, held in memory and fetched again before they expire, so temporary credentials (SSO,
//! roles, `credential_process`) keep signing through a campaign of any length.
//!
//! A request reads the current identity under a read lock. Once less than [`REFRESH_MARGIN`]
//! (or half the credentials' lifetime, if shorter) is left, the first request to notice starts
//! one refresh in the background and every request keeps signing with the still-valid
//! credentials; only if they have actually expired does a request wait for the refresh.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;

/// Credentials are refreshed this long before they expire at the latest.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// One set of credentials and when to replace it.
pub struct Current {
    pub identity: Identity,
    expires: Option<SystemTime>,
    refresh_at: Option<SystemTime>,
}

pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: RwLock<Arc<Current>>,
    refreshing: AtomicBool,
    /// Serialises fetches, so that many requests finding expired credentials fetch once.
    fetch: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    /// Fetches the first credentials; the error is the provider's, for one clear message.
    pub async fn new(
        provider: SharedCredentialsProvider,
    ) -> Result<Arc<CredentialCache>, aws_credential_types::provider::error::CredentialsError> {
        let first = current_of(provider.provide_credentials().await?);
        Ok(Arc::new(CredentialCache {
            provider,
            current: RwLock::new(Arc::new(first)),
            refreshing: AtomicBool::new(false),
            fetch: tokio::sync::Mutex::new(()),
        }))
    }

    fn read(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The credentials to sign a request sent `now` with. Err: they expired and no new ones
    /// could be fetched (the provider's message).
    pub async fn get(self: &Arc<Self>, now: SystemTime) -> Result<Arc<Current>, String> {
        let cur = self.read();
        if cur.refresh_at.is_none_or(|t| now < t) {
            return Ok(cur);
        }
        if cur.expires.is_some_and(|e| now < e) {
            if !self.refreshing.swap(true, Ordering::AcqRel) {
                let me = self.clone();
                tokio::spawn(async move {
                    // A failure here is retried by the next request that needs it.
                    let _ = me.refresh(now).await;
                });
            }
            return Ok(cur);
        }
        self.refresh(now).await
    }

    /// Fetches new credentials unless another fetch already replaced those seen at `now`.
    async fn refresh(&self, now: SystemTime) -> Result<Arc<Current>, String> {
        let _one = self.fetch.lock().await;
        let cur = self.read();
        let result = if cur.refresh_at.is_none_or(|t| now < t) {
            Ok(cur)
        } else {
            match self.provider.provide_credentials().await {
                Ok(c) => {
                    let next = Arc::new(current_of(c));
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = next.clone();
                    Ok(next)
                }
                Err(e) => Err(format!(
                    "the AWS credentials expired and new ones could not be fetched: {}",
                    super::sagemaker::error_chain(&e)
                )),
            }
        };
        self.refreshing.store(false, Ordering::Release);
        result
    }
}

fn current_of(c: aws_credential_types::Credentials) -> Current {
    let expires = c.expiry();
    let refresh_at = expires.map(|e| {
        let life = e
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        e - REFRESH_MARGIN.min(life / 2)
    });
    Current {
        identity: Identity::from(c),
        expires,
        refresh_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::future;
    use std::sync::atomic::AtomicU32;

    /// Hands out credentials that live `life`, numbered by fetch.
    #[derive(Debug)]
    struct Expiring {
        life: Duration,
        fetched: Arc<AtomicU32>,
    }

    impl ProvideCredentials for Expiring {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.fetched.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                None,
                Some(SystemTime::now() + self.life),
                "test",
            )))
        }
    }

    fn key(c: &Current) -> String {
        c.identity
            .data::<Credentials>()
            .unwrap()
            .access_key_id()
            .to_string()
    }

    #[tokio::test]
    async fn credentials_are_replaced_before_they_expire_and_kept_until_then() {
        let fetched = Arc::new(AtomicU32::new(0));
        let cache = CredentialCache::new(SharedCredentialsProvider::new(Expiring {
            life: Duration::from_secs(3600),
            fetched: fetched.clone(),
        }))
        .await
        .unwrap();
        let t0 = SystemTime::now();
        // Far from expiry: the same credentials, no fetch.
        assert_eq!(key(&cache.get(t0).await.unwrap()), "AKID0");
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        // Inside the margin but still valid: signed with the old ones, one refresh started.
        let soon = t0 + Duration::from_secs(3600) - REFRESH_MARGIN + Duration::from_secs(1);
        assert_eq!(key(&cache.get(soon).await.unwrap()), "AKID0");
        for _ in 0..100 {
            if fetched.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
        assert_eq!(key(&cache.get(soon).await.unwrap()), "AKID1");
        // Past the expiry of the current ones: the request waits for new ones.
        let late = SystemTime::now() + Duration::from_secs(7200);
        assert_eq!(key(&cache.get(late).await.unwrap()), "AKID2");
    }
}
