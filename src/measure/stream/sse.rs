//! Server-Sent Events framing: bytes as they arrive → the `data` of each complete event.
//!
//! Follows the WHATWG event-stream rules that LLM servers rely on: lines end in LF, CRLF or CR;
//! a blank line ends an event; `:` lines are comments (keep-alives); several `data:` lines of
//! one event are joined with `\n`; one space after the colon is dropped; other fields (`event`,
//! `id`, `retry`) are kept only as the event name. Events and lines split across reads are
//! reassembled. Pure: no I/O and no clock.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when given.
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The previous read ended in CR: an LF at the start of the next read belongs to it.
    after_cr: bool,
    data: Option<String>,
    event: Option<String>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; every event they complete is pushed to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
        }
        self.line.extend_from_slice(rest);
    }

    /// Whether bytes of an unfinished event are held (a stream that ends here was cut).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data.is_some()
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }
}

/// Splits a byte stream into lines (JSON Lines), LF or CRLF ended; blank lines are skipped.
#[derive(Debug, Default)]
pub struct LineSplitter {
    line: Vec<u8>,
}

impl LineSplitter {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..pos]);
            rest = &rest[pos + 1..];
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line);
            let t = text.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// The last line when the stream ended without a newline after it.
    pub fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&line);
        let t = text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in input.chunks(piece) {
            p.feed(c, &mut out);
        }
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn events_split_at_every_byte_boundary_are_reassembled() {
        let input = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        for piece in 1..input.len() {
            let got = parse_in_pieces(input, piece);
            assert_eq!(
                data(&got),
                vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn crlf_lf_and_bare_cr_line_ends_all_end_lines() {
        for sep in ["\n", "\r\n", "\r"] {
            let input = format!("data: x{sep}{sep}data: y{sep}{sep}");
            for piece in 1..=input.len() {
                let got = parse_in_pieces(input.as_bytes(), piece);
                assert_eq!(data(&got), vec!["x", "y"], "sep {sep:?} piece {piece}");
            }
        }
    }

    #[test]
    fn comments_are_ignored_and_multi_line_data_is_joined() {
        let input = b": keep-alive\n\ndata: first\ndata:second\n: inside\nevent: message\n\n";
        let got = parse_in_pieces(input, 3);
        assert_eq!(got.len(), 1, "a comment alone is no event: {got:?}");
        assert_eq!(got[0].data, "first\nsecond");
        assert_eq!(got[0].event.as_deref(), Some("message"));
    }

    #[test]
    fn an_unfinished_event_is_held_not_emitted() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: {\"a\":1}\n\ndata: {\"cut", &mut out);
        assert_eq!(data(&out), vec!["{\"a\":1}"]);
        assert!(p.has_partial());
        let mut p = SseParser::new();
        p.feed(b"data: done\n\n", &mut out);
        assert!(!p.has_partial());
    }

    #[test]
    fn json_lines_are_split_across_reads_and_blank_lines_skipped() {
        let input = b"{\"a\":1}\r\n\n{\"b\":2}\n{\"c\"";
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in input.chunks(2) {
            s.feed(c, &mut out);
        }
        assert_eq!(out, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(s.finish().as_deref(), Some("{\"c\""));
    }
}
