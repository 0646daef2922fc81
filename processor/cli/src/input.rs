//! Reading replay inputs: files (plain or `.gz`) and standard input, each either
//! NDJSON (one JSON text a line) or a single JSON document (a CloudTrail log file,
//! a `ReceiveMessage` response, a Lambda SQS event, pretty-printed or not).
//!
//! Files are streamed line by line, so memory stays flat whatever their size; only a
//! file that is one multi-line document is read whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

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

/// Opens `path` (`-` for standard input), decompressing `.gz` files.
pub fn open(path: &str) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path)?)
    };
    let gz = path.ends_with(".gz") || path.ends_with(".gzip");
    Ok(if gz {
        Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, raw))
    })
}

/// Calls `f` for every unit of the file at `path`. I/O errors end the file and are
/// returned; everything else is handed to `f`.
pub fn for_each_unit(path: &str, f: &mut dyn FnMut(Unit<'_>)) -> io::Result<()> {
    let mut reader = open(path)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 14);
    let mut line: u64 = 0;
    // Find the first non-blank line and decide the mode from it.
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        if !buf.trim_ascii().is_empty() {
            break;
        }
    }
    let first_line = line;
    let first_is_json = std::str::from_utf8(&buf)
        .ok()
        .is_some_and(|s| serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok());
    if !first_is_json {
        // Perhaps one document spread over several lines: read the rest and try it whole.
        let mut whole = std::mem::take(&mut buf);
        reader.read_to_end(&mut whole)?;
        if let Ok(text) = std::str::from_utf8(&whole) {
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                f(Unit::Text {
                    line: first_line,
                    text,
                });
                return Ok(());
            }
        }
        // Not a document either: NDJSON whose first line is bad.
        for chunk in whole.split_inclusive(|&b| b == b'\n') {
            emit(chunk, line, f);
            line += 1;
        }
        return Ok(());
    }
    emit(&buf, line, f);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        emit(&buf, line, f);
    }
}

fn emit(raw: &[u8], line: u64, f: &mut dyn FnMut(Unit<'_>)) {
    if raw.trim_ascii().is_empty() {
        return;
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
        Path::new(path).to_str().unwrap_or(path)
    }
}
