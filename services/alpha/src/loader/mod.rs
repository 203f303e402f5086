//! Loading N-Quad and JSON files: [`input`] reads them (gzip, AES-CTR, cut into pieces of whole
//! N-Quads or objects), [`live`] sends them to a running cluster (the `live` binary) and
//! [`bulk`] builds a new cluster's directories from them offline (the `bulk` binary).

pub mod bulk;
pub mod input;
pub mod live;

/// What a loader prints when it is done.
pub trait Report {
    fn render(&self) -> String;
}

/// Runs a loader to its end: its report on stdout, or its error on stderr and a failing exit
/// status.
#[allow(clippy::print_stdout)]
pub fn main<R: Report>(
    load: impl std::future::Future<Output = Result<R, lodestar_runtime::ServiceError>>,
) -> std::process::ExitCode {
    lodestar_runtime::run_command(async move {
        let report = load.await?;
        print!("{}", report.render());
        Ok::<(), lodestar_runtime::ServiceError>(())
    })
}
