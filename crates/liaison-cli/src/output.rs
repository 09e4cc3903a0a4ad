//! Printing: aligned tables for people, JSON for scripts.
//!
//! Everything goes through [`line()`], which never panics: when the reader of standard
//! output goes away (`liaison bulletin list | head -1`), the write fails with
//! [`ReaderGone`], the command stops, and `main` exits quietly with success, as
//! `cat` and `ls` do.

use std::io::Write as _;

/// Standard output was closed by its reader.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct ReaderGone;

/// Writes one line to standard output.
///
/// Errors: [`ReaderGone`] when the reader closed the pipe; other write errors as they are.
pub fn line(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ReaderGone.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Prints `rows` under `headers` with aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    indented_table("", headers, rows)
}

/// [`table`], each line starting with `indent`.
pub fn indented_table(indent: &str, headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print = |cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line(format_args!("{indent}{}", text.join("  ").trim_end()))
    };
    print(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())?;
    for row in rows {
        print(row)?;
    }
    Ok(())
}

/// Prints label/value pairs, labels aligned.
pub fn fields(pairs: &[(&str, String)]) -> anyhow::Result<()> {
    let width = pairs.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in pairs {
        line(format_args!("{label:<width$}  {value}"))?;
    }
    Ok(())
}

/// Prints `value` as pretty JSON.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    line(format_args!("{}", serde_json::to_string_pretty(value)?))
}
