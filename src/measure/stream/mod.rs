//! Reading a streamed LLM answer: the wire formats (`[target] stream`) and what one request's
//! stream came to. Pure: bytes and the offsets they arrived at go in, counts and times come out;
//! the clients own the sockets and the clock.
//!
//! - `openai`: Server-Sent Events of chat or text completion chunks, ended by `data: [DONE]`.
//!   A chunk whose choices carry no text (the role-only first chunk of a chat stream, the
//!   `usage`-only last chunk) is not a token; `usage` is read wherever it comes (llama.cpp puts
//!   it on the last text chunk of `/v1/completions`); an `error` object is a failed request
//!   whatever the HTTP status.
//! - `tgi`: `/generate_stream` events; one token per non-special `token`, ended by the event
//!   that carries `generated_text`; `details.generated_tokens` is the server's count.
//! - `jsonl`: one JSON object per line, read like a TGI event or an OpenAI chunk when it looks
//!   like one, else one token per line with text; the end of the body is the terminator.

pub mod sse;

use std::time::Duration;

use serde_json::Value;

pub use crate::config::StreamFormat;
use sse::{LineSplitter, SseEvent, SseParser};

/// What one event of a stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Content: this many tokens counted (one per chunk with text).
    Tokens(u32),
    /// The server's own counts.
    Usage {
        output: Option<u64>,
        input: Option<u64>,
    },
    /// An error object inside the stream.
    Error(String),
    /// The format's terminator.
    Done,
}

/// Turns the bytes of one stream into [`Piece`]s.
#[derive(Debug)]
pub struct Decoder {
    format: StreamFormat,
    sse: SseParser,
    lines: LineSplitter,
    events: Vec<SseEvent>,
    texts: Vec<String>,
}

impl Decoder {
    pub fn new(format: StreamFormat) -> Decoder {
        Decoder {
            format,
            sse: SseParser::new(),
            lines: LineSplitter::default(),
            events: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Feeds the bytes of one read.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        match self.format {
            StreamFormat::Openai | StreamFormat::Tgi => {
                self.sse.feed(bytes, &mut self.events);
                for e in self.events.drain(..) {
                    if e.event.as_deref() == Some("error") {
                        out.push(Piece::Error(e.data));
                        continue;
                    }
                    match self.format {
                        StreamFormat::Tgi => tgi_event(&e.data, true, out),
                        _ => openai_event(&e.data, out),
                    }
                }
            }
            StreamFormat::Jsonl => {
                self.lines.feed(bytes, &mut self.texts);
                for t in self.texts.drain(..) {
                    jsonl_line(&t, out);
                }
            }
        }
    }

    /// The body ended cleanly (not cut by a transport error).
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if self.format == StreamFormat::Jsonl {
            if let Some(t) = self.lines.finish() {
                jsonl_line(&t, out);
            }
            out.push(Piece::Done);
        }
    }
}

fn error_text(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    if e.is_null() {
        return None;
    }
    Some(match e {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
        other => other.to_string(),
    })
}

fn usage_of(v: &Value, out: &mut Vec<Piece>) {
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        let output = u.get("completion_tokens").and_then(Value::as_u64);
        let input = u.get("prompt_tokens").and_then(Value::as_u64);
        if output.is_some() || input.is_some() {
            out.push(Piece::Usage { output, input });
        }
    }
}

fn openai_event(data: &str, out: &mut Vec<Piece>) {
    let data = data.trim();
    if data == "[DONE]" {
        out.push(Piece::Done);
        return;
    }
    match serde_json::from_str::<Value>(data) {
        Ok(v) => openai_chunk(&v, out),
        Err(_) => out.push(Piece::Error(format!(
            "not a JSON chunk: {}",
            data.chars().take(200).collect::<String>()
        ))),
    }
}

fn openai_chunk(v: &Value, out: &mut Vec<Piece>) {
    if let Some(e) = error_text(v) {
        out.push(Piece::Error(e));
        return;
    }
    let has_text = |c: &Value| {
        let text = |x: Option<&Value>| x.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        let d = c.get("delta");
        text(c.get("text"))
            || text(d.and_then(|d| d.get("content")))
            || text(d.and_then(|d| d.get("reasoning_content")))
    };
    if let Some(choices) = v.get("choices").and_then(Value::as_array)
        && choices.iter().any(has_text)
    {
        out.push(Piece::Tokens(1));
    }
    usage_of(v, out);
}

fn tgi_event(data: &str, final_is_done: bool, out: &mut Vec<Piece>) {
    match serde_json::from_str::<Value>(data.trim()) {
        Ok(v) => tgi_value(&v, final_is_done, out),
        Err(_) => out.push(Piece::Error(format!(
            "not a JSON event: {}",
            data.chars().take(200).collect::<String>()
        ))),
    }
}

fn tgi_value(v: &Value, final_is_done: bool, out: &mut Vec<Piece>) {
    if let Some(e) = error_text(v) {
        out.push(Piece::Error(e));
        return;
    }
    if let Some(t) = v.get("token")
        && !t.get("special").and_then(Value::as_bool).unwrap_or(false)
    {
        out.push(Piece::Tokens(1));
    }
    if let Some(n) = v
        .get("details")
        .and_then(|d| d.get("generated_tokens"))
        .and_then(Value::as_u64)
    {
        out.push(Piece::Usage {
            output: Some(n),
            input: None,
        });
    }
    if final_is_done && v.get("generated_text").is_some_and(|g| !g.is_null()) {
        out.push(Piece::Done);
    }
}

fn jsonl_line(line: &str, out: &mut Vec<Piece>) {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        out.push(Piece::Error(format!(
            "not a JSON line: {}",
            line.chars().take(200).collect::<String>()
        )));
        return;
    };
    if v.get("choices").is_some() {
        openai_chunk(&v, out);
    } else if v.get("token").is_some() || v.get("details").is_some() {
        tgi_value(&v, false, out);
    } else if let Some(e) = error_text(&v) {
        out.push(Piece::Error(e));
    } else if ["generated_text", "text", "outputs", "content"]
        .iter()
        .any(|k| match v.get(*k) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            _ => false,
        })
    {
        out.push(Piece::Tokens(1));
    }
}

/// Where a request's output token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The server's `usage.completion_tokens` (or TGI's `details.generated_tokens`).
    Usage,
    /// One token per content chunk (the server gave no count).
    Counted,
}

/// How a stream ended, when it did not end well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFailure {
    /// An error object or event inside the stream.
    ErrorEvent(String),
    /// The body ended (or was cut) before the format's terminator.
    NoTerminator,
    /// No byte arrived for longer than `stream_idle_timeout_ms`.
    Idle,
}

/// One request's stream, as its reads arrived. Times are offsets from the client's send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamTally {
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    last_chunk: Option<Duration>,
    /// Every gap between consecutive content chunks, microseconds.
    pub gaps_us: Vec<u32>,
    /// Content chunks seen (one token each when the server gives no count).
    pub counted: u32,
    pub usage_output: Option<u64>,
    pub usage_input: Option<u64>,
    pub error: Option<String>,
    pub done: bool,
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::ErrorEvent(e) => write!(f, "error inside the stream: {e}"),
            StreamFailure::NoTerminator => {
                write!(f, "the stream ended without its terminator")
            }
            StreamFailure::Idle => {
                write!(f, "no byte for longer than [target] stream_idle_timeout_ms")
            }
        }
    }
}

/// The body to send for `format`: an OpenAI-compatible request gets `"stream": true` and, unless
/// it sets its own, `"stream_options": {"include_usage": true}` (so the server counts the
/// tokens). Other formats, and bodies that are not a JSON object, are sent as given.
pub fn request_body(format: StreamFormat, body: &[u8]) -> Option<Vec<u8>> {
    if format != StreamFormat::Openai {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    o.insert("stream".into(), Value::Bool(true));
    o.entry("stream_options")
        .or_insert_with(|| serde_json::json!({"include_usage": true}));
    serde_json::to_vec(&v).ok()
}

impl StreamTally {
    /// Takes the pieces of one read that arrived `at` after the send.
    pub fn take(&mut self, at: Duration, pieces: &mut Vec<Piece>) {
        let mut content = 0u32;
        for p in pieces.drain(..) {
            match p {
                Piece::Tokens(n) => content += n,
                Piece::Usage { output, input } => {
                    if output.is_some() {
                        self.usage_output = output;
                    }
                    if input.is_some() {
                        self.usage_input = input;
                    }
                }
                Piece::Error(e) => {
                    if self.error.is_none() {
                        self.error = Some(e);
                    }
                }
                Piece::Done => self.done = true,
            }
        }
        if content > 0 {
            if let Some(prev) = self.last_chunk {
                let gap = at.saturating_sub(prev).as_micros();
                self.gaps_us.push(gap.min(u128::from(u32::MAX)) as u32);
            }
            self.first_token.get_or_insert(at);
            self.last_token = Some(at);
            self.last_chunk = Some(at);
            self.counted += content;
        }
    }

    /// Output tokens and where the count came from.
    pub fn output_tokens(&self) -> (u64, TokenSource) {
        match self.usage_output {
            Some(n) => (n, TokenSource::Usage),
            None => (u64::from(self.counted), TokenSource::Counted),
        }
    }

    /// Inter-token latency: (last token − first token) ÷ (output tokens − 1); none below two
    /// tokens.
    pub fn itl(&self) -> Option<Duration> {
        let (n, _) = self.output_tokens();
        let (first, last) = (self.first_token?, self.last_token?);
        (n >= 2).then(|| (last - first) / (n - 1).min(u64::from(u32::MAX)) as u32)
    }

    /// Why the stream failed, if it did, once the body has ended.
    pub fn failure(&self) -> Option<StreamFailure> {
        if let Some(e) = &self.error {
            return Some(StreamFailure::ErrorEvent(e.clone()));
        }
        (!self.done).then_some(StreamFailure::NoTerminator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(format: StreamFormat, input: &str, piece: usize) -> Vec<Piece> {
        let mut d = Decoder::new(format);
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(piece) {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    const CHAT: &str = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n\
        : ping\n\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
        data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn openai_chat_role_chunk_is_not_a_token_and_usage_is_read() {
        for piece in [1, 5, 64, CHAT.len()] {
            let got = decode(StreamFormat::Openai, CHAT, piece);
            assert_eq!(
                got,
                vec![
                    Piece::Tokens(1),
                    Piece::Tokens(1),
                    Piece::Usage {
                        output: Some(3),
                        input: Some(7)
                    },
                    Piece::Done
                ],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn llama_cpp_completions_usage_on_the_last_text_chunk_and_timings_are_read() {
        let s = "data: {\"choices\":[{\"text\":\"a\",\"index\":0}]}\n\n\
                 data: {\"choices\":[{\"text\":\"b\",\"finish_reason\":\"length\"}],\"usage\":{\"completion_tokens\":2,\"prompt_tokens\":4},\"timings\":{\"predicted_n\":2}}\n\n\
                 data: [DONE]\n\n";
        let got = decode(StreamFormat::Openai, s, 7);
        assert_eq!(
            got,
            vec![
                Piece::Tokens(1),
                Piece::Tokens(1),
                Piece::Usage {
                    output: Some(2),
                    input: Some(4)
                },
                Piece::Done
            ]
        );
    }

    #[test]
    fn an_error_object_in_a_200_stream_fails_the_request() {
        let s = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n\
                 data: {\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n";
        let mut t = StreamTally::default();
        let mut p = decode(StreamFormat::Openai, s, 9);
        t.take(Duration::from_millis(5), &mut p);
        assert_eq!(
            t.failure(),
            Some(StreamFailure::ErrorEvent("out of memory".into()))
        );
        let mut p = decode(StreamFormat::Openai, "event: error\ndata: boom\n\n", 4);
        let mut t = StreamTally::default();
        t.take(Duration::ZERO, &mut p);
        assert_eq!(t.failure(), Some(StreamFailure::ErrorEvent("boom".into())));
    }

    #[test]
    fn a_stream_without_its_terminator_is_broken() {
        let s = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        let mut t = StreamTally::default();
        let mut p = decode(StreamFormat::Openai, s, 3);
        t.take(Duration::from_millis(1), &mut p);
        assert_eq!(t.counted, 1);
        assert_eq!(t.failure(), Some(StreamFailure::NoTerminator));
        let mut p = decode(
            StreamFormat::Tgi,
            "data:{\"token\":{\"text\":\"a\"}}\n\n",
            3,
        );
        let mut t = StreamTally::default();
        t.take(Duration::ZERO, &mut p);
        assert_eq!(t.failure(), Some(StreamFailure::NoTerminator));
    }

    #[test]
    fn tgi_skips_special_tokens_and_reads_generated_tokens() {
        let s = "data:{\"token\":{\"id\":1,\"text\":\"a\",\"special\":false}}\n\n\
                 data:{\"token\":{\"id\":2,\"text\":\"b\",\"special\":false}}\n\n\
                 data:{\"token\":{\"id\":3,\"text\":\"</s>\",\"special\":true},\"generated_text\":\"ab\",\"details\":{\"generated_tokens\":3}}\n\n";
        let got = decode(StreamFormat::Tgi, s, 11);
        assert_eq!(
            got,
            vec![
                Piece::Tokens(1),
                Piece::Tokens(1),
                Piece::Usage {
                    output: Some(3),
                    input: None
                },
                Piece::Done
            ]
        );
    }

    #[test]
    fn jsonl_counts_lines_with_text_and_ends_at_the_body_end() {
        let s =
            "{\"generated_text\":\"a\"}\n{\"generated_text\":\"b\"}\n{\"token\":{\"text\":\"c\"}}";
        let got = decode(StreamFormat::Jsonl, s, 4);
        assert_eq!(
            got,
            vec![
                Piece::Tokens(1),
                Piece::Tokens(1),
                Piece::Tokens(1),
                Piece::Done
            ]
        );
        let got = decode(StreamFormat::Jsonl, "{\"error\":\"bad\"}\n", 2);
        assert_eq!(got, vec![Piece::Error("bad".into()), Piece::Done]);
    }

    #[test]
    fn openai_request_bodies_ask_for_a_stream_with_usage() {
        let b = request_body(StreamFormat::Openai, br#"{"prompt":"hi","max_tokens":8}"#).unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["max_tokens"], 8);
        let own = request_body(
            StreamFormat::Openai,
            br#"{"stream":false,"stream_options":{"include_usage":false}}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&own).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], false);
        assert_eq!(request_body(StreamFormat::Tgi, b"{}"), None);
        assert_eq!(request_body(StreamFormat::Openai, b"[1]"), None);
    }

    #[test]
    fn itl_divides_the_decode_time_by_the_servers_token_count() {
        let mut t = StreamTally::default();
        let ms = Duration::from_millis;
        t.take(ms(100), &mut vec![Piece::Tokens(1)]);
        // One chunk carrying several tokens: counting chunks would overstate ITL.
        t.take(ms(130), &mut vec![Piece::Tokens(1)]);
        t.take(ms(160), &mut vec![]);
        t.take(
            ms(190),
            &mut vec![
                Piece::Tokens(1),
                Piece::Usage {
                    output: Some(7),
                    input: Some(3),
                },
                Piece::Done,
            ],
        );
        assert_eq!(t.first_token, Some(ms(100)));
        assert_eq!(t.last_token, Some(ms(190)));
        assert_eq!(t.gaps_us, vec![30_000, 60_000]);
        assert_eq!(t.output_tokens(), (7, TokenSource::Usage));
        assert_eq!(t.itl(), Some(ms(15)));
        assert_eq!(t.failure(), None);
        let mut one = StreamTally::default();
        one.take(ms(1), &mut vec![Piece::Tokens(1), Piece::Done]);
        assert_eq!(one.itl(), None, "one token has no inter-token latency");
        assert_eq!(one.output_tokens(), (1, TokenSource::Counted));
    }
}
