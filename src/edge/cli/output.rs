//! Writing to standard output and standard error without ever panicking.
//!
//! `println!` and `eprintln!` panic when their stream is closed (`EPIPE`: the reader of a
//! pipe went away, as with `pecwatch check … | head -1`). The commands write with
//! `outln!` and `errln!` (this module's macros, on [`write_out`] and [`write_err`]) instead:
//!
//! - standard output: a closed output is [`CliError::OutputClosed`], and the command ends
//!   quietly with status 141, as a Unix tool ended by `SIGPIPE` does in a shell
//!   (`pecwatch serve`, which must go on, ignores it);
//! - standard error: a failed write is dropped (there is nowhere left to tell it).
//!
//! [`LogWriter`] is the log's writer: standard error, its write errors swallowed, so that
//! a service whose standard error is closed goes on serving.

use std::io::{self, Write};

use super::CliError;

/// Writes a line to standard output; `Err(CliError::OutputClosed)` when its reader is
/// gone.
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to standard output without a newline; like [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

/// Writes a line to standard error; a failure is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to standard error without a newline; a failure is ignored.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!($($arg)*))
    };
}

pub(crate) use {err, errln, out, outln};

/// Writes to standard output (flushed at each newline).
pub fn write_out(text: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    io::stdout().lock().write_fmt(text).map_err(closed)
}

/// Writes to standard error, ignoring a failure.
pub fn write_err(text: std::fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(text);
}

/// A write error on standard output as the command's error: a closed output
/// ([`io::ErrorKind::BrokenPipe`]) is [`CliError::OutputClosed`], anything else an I/O
/// failure.
pub fn closed(error: io::Error) -> CliError {
    match error.kind() {
        io::ErrorKind::BrokenPipe => CliError::OutputClosed,
        _ => CliError::Io(error),
    }
}

/// The log's writer: standard error, whose write errors (a closed or broken standard
/// error) are swallowed rather than reported, so that logging never stops a command or a
/// service.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_output_is_told_apart_from_other_failures() {
        assert!(matches!(
            closed(io::Error::from(io::ErrorKind::BrokenPipe)),
            CliError::OutputClosed
        ));
        assert!(matches!(
            closed(io::Error::from(io::ErrorKind::StorageFull)),
            CliError::Io(_)
        ));
        assert_eq!(CliError::OutputClosed.exit_code(), 141);
    }

    #[test]
    fn the_log_writer_never_fails() {
        let mut writer = LogWriter;
        assert_eq!(writer.write(b"").unwrap(), 0);
        assert!(writer.flush().is_ok());
    }
}
