//! Reading replay inputs: files (plain or `.gz`) and standard input, each either
//! NDJSON (one JSON text a line) or a single JSON document (a CloudTrail log file,
//! a `ReceiveMessage` response, a Lambda SQS event, pretty-printed or not).
//!
//! Files are streamed line by line, so memory stays flat whatever their size; only a
//! file that is one multi-line document is read whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;

use flate2::read::MultiGzDecoder;

/// One unit of input: a JSON text and where it came from.
#[derive(Debug)]
pub enum Unit<'a> {
    /// A JSON text (not yet validated) starting at `line`.
    Text {
        /// 1-based line number.
        line: u64,
        /// The text.
        text: &'a str,
    },
    /// A line that is not valid UTF-8.
    NotUtf8 {
        /// 1-based line number.
        line: u64,
        /// Offset of the first bad byte within the line.
        offset: usize,
    },
}

/// Largest single multi-line document read whole (a CloudTrail log file is far smaller).
pub const MAX_DOCUMENT_BYTES: u64 = 512 * 1024 * 1024;

/// Opens `path` (`-` for standard input), decompressing gzip data (recognised by its
/// magic bytes, so `.json.gz` files and gzip on standard input both work).
pub fn open(path: &str) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path)?)
    };
    let mut reader = BufReader::with_capacity(1 << 16, raw);
    let gz = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// Calls `f` for every unit of the file at `path`, until `f` breaks (its consumer is
/// gone: reading on would be wasted). I/O errors end the file and are returned;
/// everything else is handed to `f`.
///
/// The first non-blank line decides the mode: when it is a complete JSON text, the
/// file is NDJSON and is streamed line by line; when it is the start of a longer text
/// (a pretty-printed log file), up to [`MAX_DOCUMENT_BYTES`] are read and parsed as one
/// document; when that fails too, the buffered lines are taken as NDJSON (each invalid
/// one reported with its number) and streaming goes on.
pub fn for_each_unit(path: &str, f: &mut dyn FnMut(Unit<'_>) -> ControlFlow<()>) -> io::Result<()> {
    let mut reader = open(path)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 14);
    let mut line: u64 = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        if line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        if !buf.trim_ascii().is_empty() {
            break;
        }
    }
    let incomplete = match std::str::from_utf8(&buf) {
        Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => false,
            Err(e) => e.is_eof(),
        },
        Err(_) => false,
    };
    if incomplete {
        let first_line = line;
        let mut whole = std::mem::take(&mut buf);
        (&mut reader)
            .take(MAX_DOCUMENT_BYTES)
            .read_to_end(&mut whole)?;
        if let Ok(text) = std::str::from_utf8(&whole) {
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                let _ = f(Unit::Text {
                    line: first_line,
                    text,
                });
                return Ok(());
            }
        }
        // Not one document: NDJSON after all. Complete lines now; a line cut by the
        // size cap is finished from the reader below.
        let mut chunks = whole.split_inclusive(|&b| b == b'\n').peekable();
        line -= 1; // the number of the last line emitted
        while let Some(chunk) = chunks.next() {
            line += 1;
            if chunks.peek().is_none() && !chunk.ends_with(b"\n") {
                buf = chunk.to_vec();
                reader.read_until(b'\n', &mut buf)?;
                if emit(&buf, line, f).is_break() {
                    return Ok(());
                }
                break;
            }
            if emit(chunk, line, f).is_break() {
                return Ok(());
            }
        }
    } else if emit(&buf, line, f).is_break() {
        return Ok(());
    }
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        if emit(&buf, line, f).is_break() {
            return Ok(());
        }
    }
}

fn emit(raw: &[u8], line: u64, f: &mut dyn FnMut(Unit<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
    if raw.trim_ascii().is_empty() {
        return ControlFlow::Continue(());
    }
    match std::str::from_utf8(raw) {
        Ok(text) => f(Unit::Text { line, text }),
        Err(e) => f(Unit::NotUtf8 {
            line,
            offset: e.valid_up_to(),
        }),
    }
}

/// A display name for `path` in messages.
pub fn display_name(path: &str) -> &str {
    if path == "-" {
        "<stdin>"
    } else {
        path
    }
}
