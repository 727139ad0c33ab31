//! A recording proxy in front of moto's SageMaker control plane, for managed-campaign tests:
//! every call goes on to moto over real HTTP and is written down (operation and JSON body), and
//! a test can make SageMaker behave as moto does not: an endpoint that stays `Creating`, one
//! call answered with an error, a slow DeleteEndpoint.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One call seen by the proxy, when it arrived (before any delay).
#[derive(Debug, Clone)]
pub struct Call {
    /// `CreateEndpoint`, `DescribeEndpoint`, …
    pub op: String,
    pub body: Value,
}

impl Call {
    /// The endpoint or endpoint configuration the call names.
    pub fn name(&self) -> &str {
        self.body["EndpointName"]
            .as_str()
            .or(self.body["EndpointConfigName"].as_str())
            .unwrap_or("")
    }
}

/// How the proxy departs from moto; changed by the test at any time.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// DescribeEndpoint says `Creating` for endpoints whose name contains one of these.
    pub creating: Vec<String>,
    /// The next call of this operation on a name containing this part gets this error code
    /// (HTTP 400), once.
    pub fail_once: Option<(String, String, String)>,
    /// Calls of this operation wait this long before they go on to moto.
    pub delay: Option<(String, Duration)>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    rules: Rules,
}

pub struct ControlPlaneProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl ControlPlaneProxy {
    /// Listens on a free loopback port and forwards to `moto_url`.
    pub async fn start(moto_url: &str) -> ControlPlaneProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let client = reqwest::Client::new();
        let moto = moto_url.to_string();
        let st = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, client, moto) = (st.clone(), client.clone(), moto.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        forward(req, st.clone(), client.clone(), moto.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ControlPlaneProxy { url, state, server }
    }

    pub fn set_rules(&self, rules: Rules) {
        self.state.lock().unwrap().rules = rules;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of one operation, in order.
    pub fn calls_of(&self, op: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }
}

impl Drop for ControlPlaneProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    moto: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("SageMaker."))
        .unwrap_or("")
        .to_string();
    let call = Call {
        op: op.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let name = call.name().to_string();
    let (fail, delay, creating) = {
        let mut s = state.lock().unwrap();
        s.calls.push(call);
        let fail = match &s.rules.fail_once {
            Some((o, part, code)) if *o == op && name.contains(part.as_str()) => {
                let code = code.clone();
                s.rules.fail_once = None;
                Some(code)
            }
            _ => None,
        };
        let delay = s
            .rules
            .delay
            .as_ref()
            .filter(|(o, _)| *o == op)
            .map(|(_, d)| *d);
        let creating =
            op == "DescribeEndpoint" && s.rules.creating.iter().any(|p| name.contains(p.as_str()));
        (fail, delay, creating)
    };
    if let Some(code) = fail {
        let body = serde_json::json!({ "__type": code, "message": "injected by the test proxy" });
        return Ok(Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-errortype", code.as_str())
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap());
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut headers = parts.headers.clone();
    headers.remove("host");
    headers.remove("content-length");
    let resp = client
        .post(format!("{moto}{}", parts.uri.path()))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.1")
        .to_string();
    let mut bytes = resp.bytes().await.unwrap_or_default();
    if creating
        && status == 200
        && let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
    {
        v["EndpointStatus"] = Value::from("Creating");
        bytes = Bytes::from(v.to_string());
    }
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(bytes))
        .unwrap())
}
