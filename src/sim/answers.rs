//! The answers the simulated endpoint sends besides a model's: on the container path plain
//! statuses, on the SageMaker runtime path the service's own errors (status,
//! `X-Amzn-Errortype`, JSON message), and what a runtime request carried.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::config::FakeConfig;

/// Which kind of path a request came in on.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Path {
    Container,
    Runtime,
}

pub(super) fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

/// A runtime-path error the way SageMaker sends it: status, `X-Amzn-Errortype`, JSON message.
pub(super) fn runtime_error(
    status: u16,
    code: &str,
    message: &str,
    original: Option<u16>,
) -> Response<Full<Bytes>> {
    let mut body = serde_json::json!({ "message": message, "Message": message });
    if let Some(o) = original {
        body["OriginalStatusCode"] = serde_json::json!(o);
        body["OriginalMessage"] = serde_json::json!("simulated model failure");
    }
    let mut r = response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    );
    let h = r.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(code) {
        h.insert("x-amzn-errortype", v);
    }
    r
}

pub(super) fn service_unavailable(path: Path) -> Response<Full<Bytes>> {
    match path {
        Path::Container => response(StatusCode::SERVICE_UNAVAILABLE, "queue full"),
        Path::Runtime => runtime_error(
            503,
            "ServiceUnavailable",
            "The service is unavailable. Try again later.",
            None,
        ),
    }
}

/// The errors the service front end answers before a request reaches the model, chosen by
/// where `u` (uniform in [0, 1)) falls among the configured shares.
pub(super) fn front_door_error(
    cfg: &FakeConfig,
    u: f64,
    path: Path,
) -> Option<Response<Full<Bytes>>> {
    let mut edge = cfg.unavailable_rate;
    if u < edge {
        return Some(service_unavailable(path));
    }
    edge += cfg.not_ready_rate;
    if u < edge {
        return Some(match path {
            Path::Container => response(StatusCode::SERVICE_UNAVAILABLE, "model not ready"),
            Path::Runtime => runtime_error(
                429,
                "ModelNotReadyException",
                "Model is not ready to serve requests yet.",
                None,
            ),
        });
    }
    edge += cfg.internal_failure_rate;
    if u < edge {
        return Some(match path {
            Path::Container => response(StatusCode::INTERNAL_SERVER_ERROR, "internal failure"),
            Path::Runtime => {
                runtime_error(500, "InternalFailure", "An internal error occurred.", None)
            }
        });
    }
    edge += cfg.validation_rate;
    if u < edge {
        return Some(match path {
            Path::Container => response(StatusCode::BAD_REQUEST, "invalid request"),
            Path::Runtime => runtime_error(
                400,
                "ValidationError",
                "Endpoint simulated of account 000000000000 not found.",
                None,
            ),
        });
    }
    None
}

pub(super) fn is_runtime_path(p: &str) -> bool {
    runtime_endpoint_name(p).is_some()
}

/// The endpoint named by a runtime path `/endpoints/{name}/invocations`.
pub(super) fn runtime_endpoint_name(p: &str) -> Option<&str> {
    p.strip_prefix("/endpoints/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// What the first request on the runtime path carried: the SageMaker headers and the SigV4
/// credential scope (never the access key or the signature).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeRequestSeen {
    pub path: String,
    /// `content-type`, `accept` and every `x-amzn-sagemaker-*` header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The signing algorithm and scope of the `Authorization` header, e.g.
    /// `AWS4-HMAC-SHA256 20260101/us-east-1/sagemaker/aws4_request`.
    pub signing_scope: Option<String>,
}

impl RuntimeRequestSeen {
    pub(super) fn from_request(req: &Request<Incoming>) -> RuntimeRequestSeen {
        let headers = req
            .headers()
            .iter()
            .filter(|(k, _)| {
                let k = k.as_str();
                k == "content-type" || k == "accept" || k.starts_with("x-amzn-sagemaker-")
            })
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let signing_scope = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(signing_scope);
        RuntimeRequestSeen {
            path: req.uri().path().to_string(),
            headers,
            signing_scope,
        }
    }

    /// The value of header `name` (lower case), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sagemaker/aws4_request, ...` →
/// `AWS4-HMAC-SHA256 20260101/us-east-1/sagemaker/aws4_request`.
pub(super) fn signing_scope(auth: &str) -> Option<String> {
    let (algorithm, rest) = auth.split_once(' ')?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    let (_key_id, scope) = credential.split_once('/')?;
    Some(format!("{algorithm} {scope}"))
}
