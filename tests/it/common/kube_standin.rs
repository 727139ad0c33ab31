//! A stand-in for the Kubernetes API server, for the tests of the kubernetes backend: no real
//! API server can run on these machines (docs: README, "Distributed runs"). It serves only the
//! calls the backend makes — create, get and delete a Job; list a Job's pods by its label; read
//! a pod's log — and its "job controller" runs each index of an Indexed Job as a local
//! `rightsize shard` process with the Job's own container arguments and environment (plus
//! `JOB_COMPLETION_INDEX`), serving that process's output as the pod's log.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub index: u32,
    /// Pending, Running, Succeeded or Failed.
    pub phase: String,
    pub exit_code: Option<i32>,
    pub log: String,
}

#[derive(Debug)]
pub struct JobState {
    pub manifest: Value,
    pub pods: Vec<Pod>,
    pub deleted: bool,
    stop: CancellationToken,
}

#[derive(Default)]
pub struct State {
    pub jobs: BTreeMap<String, JobState>,
    /// Every call, as "METHOD path".
    pub calls: Vec<String>,
}

pub struct StandIn {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = CancellationToken::new();
        let (st, stp) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = stp.cancelled() => return,
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        StandIn { addr, state, stop }
    }

    /// A kubeconfig naming this server (plain HTTP on loopback, no credentials).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: http://{}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n    namespace: default\ncurrent-context: standin\nusers:\n- name: standin\n  user: {{}}\n",
            self.addr
        )
    }

    pub fn jobs(&self) -> Vec<(String, Value, bool, Vec<Pod>)> {
        let s = self.state.lock().unwrap();
        s.jobs
            .iter()
            .map(|(k, j)| (k.clone(), j.manifest.clone(), j.deleted, j.pods.clone()))
            .collect()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Ok(s) = self.state.lock() {
            for j in s.jobs.values() {
                j.stop.cancel();
            }
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(code: StatusCode, body: &Value) -> Resp {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn not_found(what: &str) -> Resp {
    reply(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("{what} not found"), "reason": "NotFound", "code": 404}),
    )
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Resp, std::convert::Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    state.lock().unwrap().calls.push(format!("{method} {path}"));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resp = match (method.as_str(), parts.as_slice()) {
        ("POST", ["apis", "batch", "v1", "namespaces", ns, "jobs"]) => {
            let mut job: Value = serde_json::from_slice(&body).unwrap();
            create_job(&state, ns, &mut job);
            reply(StatusCode::CREATED, &job)
        }
        ("GET", ["apis", "batch", "v1", "namespaces", _, "jobs", name]) => {
            let s = state.lock().unwrap();
            match s.jobs.get(*name).filter(|j| !j.deleted) {
                Some(j) => reply(StatusCode::OK, &with_status(j)),
                None => not_found(name),
            }
        }
        ("DELETE", ["apis", "batch", "v1", "namespaces", _, "jobs", name]) => {
            let mut s = state.lock().unwrap();
            match s.jobs.get_mut(*name).filter(|j| !j.deleted) {
                Some(j) => {
                    j.deleted = true;
                    j.stop.cancel();
                    reply(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "details": {"name": name, "kind": "jobs"}}),
                    )
                }
                None => not_found(name),
            }
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
            let selector = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("labelSelector="))
                .map(|v| v.replace("%3D", "=").replace("%2F", "/"))
                .unwrap_or_default();
            let s = state.lock().unwrap();
            let items: Vec<Value> = s
                .jobs
                .iter()
                .filter(|(name, j)| {
                    !j.deleted && selector == format!("batch.kubernetes.io/job-name={name}")
                })
                .flat_map(|(name, j)| j.pods.iter().map(move |p| pod_json(ns, name, p)))
                .collect();
            reply(
                StatusCode::OK,
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}),
            )
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", pod, "log"]) => {
            let s = state.lock().unwrap();
            match s
                .jobs
                .values()
                .flat_map(|j| j.pods.iter())
                .find(|p| p.name == *pod)
            {
                Some(p) => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from(p.log.clone())))
                    .unwrap(),
                None => not_found(pod),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("the stand-in does not serve {method} {path}"), "code": 404}),
        ),
    };
    Ok(resp)
}

fn with_status(j: &JobState) -> Value {
    let succeeded = j.pods.iter().filter(|p| p.phase == "Succeeded").count();
    let failed = j.pods.iter().filter(|p| p.phase == "Failed").count();
    let active = j.pods.len() - succeeded - failed;
    let mut v = j.manifest.clone();
    let mut status = json!({"active": active, "succeeded": succeeded, "failed": failed});
    if active == 0 {
        let kind = if failed > 0 { "Failed" } else { "Complete" };
        status["conditions"] = json!([{"type": kind, "status": "True"}]);
    }
    v["status"] = status;
    v
}

fn pod_json(ns: &str, job: &str, p: &Pod) -> Value {
    let mut status = json!({"phase": p.phase});
    if let Some(code) = p.exit_code {
        status["containerStatuses"] = json!([{
            "name": "shard", "image": "", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code}}
        }]);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": p.name, "namespace": ns,
            "labels": {"batch.kubernetes.io/job-name": job, "job-name": job},
            "annotations": {"batch.kubernetes.io/job-completion-index": p.index.to_string()},
        },
        "status": status,
    })
}

/// The stand-in's job controller: one local process per index, with the Job's container
/// arguments and environment.
fn create_job(state: &Arc<Mutex<State>>, ns: &str, job: &mut Value) {
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    job["metadata"]["namespace"] = json!(ns);
    job["metadata"]["uid"] = json!(format!("uid-{name}"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed", "{job}");
    let n = spec["completions"].as_u64().unwrap() as u32;
    assert_eq!(spec["parallelism"].as_u64().unwrap() as u32, n);
    let container = &spec["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap().to_string(),
                        v["value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let stop = CancellationToken::new();
    let pods = (0..n)
        .map(|k| Pod {
            name: format!("{name}-{k}-x{k}"),
            index: k,
            phase: "Running".into(),
            exit_code: None,
            log: String::new(),
        })
        .collect();
    state.lock().unwrap().jobs.insert(
        name.clone(),
        JobState {
            manifest: job.clone(),
            pods,
            deleted: false,
            stop: stop.clone(),
        },
    );
    for k in 0..n {
        let mut cmd = tokio::process::Command::new(super::bin());
        cmd.args(&args)
            .env_remove("KUBECONFIG")
            .env("JOB_COMPLETION_INDEX", k.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, v) in &env {
            cmd.env(key, v);
        }
        let (state, name, stop) = (state.clone(), name.clone(), stop.clone());
        tokio::spawn(async move {
            let child = cmd.spawn().unwrap();
            let out = tokio::select! {
                o = child.wait_with_output() => o.ok(),
                _ = stop.cancelled() => None,
            };
            let mut s = state.lock().unwrap();
            let Some(pod) = s
                .jobs
                .get_mut(&name)
                .and_then(|j| j.pods.iter_mut().find(|p| p.index == k))
            else {
                return;
            };
            match out {
                Some(o) => {
                    pod.log = format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stderr),
                        String::from_utf8_lossy(&o.stdout)
                    );
                    let code = o.status.code().unwrap_or(137);
                    pod.exit_code = Some(code);
                    pod.phase = if code == 0 { "Succeeded" } else { "Failed" }.into();
                }
                None => {
                    pod.exit_code = Some(137);
                    pod.phase = "Failed".into();
                }
            }
        });
    }
}
