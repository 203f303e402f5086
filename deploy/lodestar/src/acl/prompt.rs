//! Asking for a password on the terminal, without echoing it; from a pipe, one line each.
#![allow(clippy::print_stdout)]

use crate::error::CmdError;
use std::io::{IsTerminal as _, Write as _};

/// Whose password is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The password to log in with.
    Current,
    /// A password to set, asked for twice.
    New,
}

/// Asks for `userid`'s password on stdout and reads it from stdin; a new one is asked for twice
/// and must be typed the same both times.
pub fn ask_password(userid: &str, kind: Kind) -> Result<String, CmdError> {
    let (label, again) = match kind {
        Kind::Current => ("Current", false),
        Kind::New => ("New", true),
    };
    let mut input = std::io::stdin().lock();
    let first = ask(&format!("{label} password for {userid}:"), &mut input)?;
    if again {
        let second = ask(
            &format!("Retype {} password for {userid}:", label.to_lowercase()),
            &mut input,
        )?;
        if second != first {
            return Err(CmdError::invalid("the two typed passwords do not match"));
        }
    }
    Ok(first)
}

/// Prints `prompt` and reads one line, with echo off when stdin is a terminal.
fn ask(prompt: &str, input: &mut impl std::io::BufRead) -> Result<String, CmdError> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let echo = EchoOff::new();
    let mut line = String::new();
    let read = input.read_line(&mut line);
    drop(echo);
    println!();
    match read {
        Ok(0) => Err(CmdError::failed(
            "while reading password: no input (type it on the terminal or pipe it in)",
        )),
        Ok(_) => Ok(line
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(&line)
            .to_string()),
        Err(e) => Err(CmdError::failed(format!("while reading password: {e}"))),
    }
}

/// Turns the terminal's echo off until dropped; does nothing when stdin is no terminal.
struct EchoOff {
    saved: Option<nix::sys::termios::Termios>,
}

impl EchoOff {
    fn new() -> EchoOff {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return EchoOff { saved: None };
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return EchoOff { saved: None };
        };
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        match tcsetattr(&stdin, SetArg::TCSANOW, &quiet) {
            Ok(()) => EchoOff { saved: Some(saved) },
            Err(_) => EchoOff { saved: None },
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_without_its_end() {
        let mut input = std::io::Cursor::new(b"secret1\r\nsecret2\nlast".to_vec());
        assert_eq!(ask("p:", &mut input).unwrap(), "secret1");
        assert_eq!(ask("p:", &mut input).unwrap(), "secret2");
        assert_eq!(ask("p:", &mut input).unwrap(), "last");
        let e = ask("p:", &mut input).unwrap_err().to_string();
        assert!(e.starts_with("while reading password: no input"), "{e}");
    }
}
