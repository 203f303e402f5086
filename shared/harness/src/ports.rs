//! Port choice: free ports for tests that run in parallel, or the services' default ports shifted
//! by an offset for the local launcher.

use crate::Service;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The default ports, as `lodestar_runtime::config::ports` defines them (this crate does not
/// depend on the runtime crate, so they are repeated here).
pub mod defaults {
    pub const ZERO_GRPC: u16 = 5080;
    pub const ZERO_HTTP: u16 = 6080;
    pub const ALPHA_INTERNAL_GRPC: u16 = 7080;
    pub const ALPHA_HTTP: u16 = 8081;
    pub const ALPHA_GRPC: u16 = 9080;
    pub const AUTH_GRPC: u16 = 7070;
    pub const AUTH_HTTP: u16 = 7071;
    pub const BACKUP_GRPC: u16 = 7090;
    pub const BACKUP_HTTP: u16 = 7091;
    pub const GATEWAY_HTTP: u16 = 8080;
}

/// Ports handed out by this process, so two callers in one test binary never get the same one.
static ISSUED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port nobody listens on right now, found by binding `127.0.0.1:0`. Never returns the same
/// port twice in one process. Another process may still take it before the caller binds it, so
/// starting a service on it can fail with "address in use": the cluster builder retries then.
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// [`free_port`], returning the error instead of panicking.
pub fn try_free_port() -> std::io::Result<u16> {
    for _ in 0..200 {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let fresh = ISSUED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(port);
        if fresh {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        "the kernel kept offering ports this process already used",
    ))
}

/// The ports one process listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcPorts {
    /// The gRPC port (none for the gateway, which is HTTP only).
    pub grpc: Option<u16>,
    pub http: u16,
    /// The alpha's internal `worker.Worker` port.
    pub internal: Option<u16>,
}

/// How a cluster picks its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ports {
    /// A free port for every listener (tests running in parallel). A start that fails with
    /// "address in use" is retried on new ports.
    #[default]
    Free,
    /// The default ports shifted by `offset`, as `--port_offset` does; zero `n` and alpha `n`
    /// (1-based) are shifted by `n - 1` more, so several fit on one machine.
    Fixed { offset: u16 },
}

impl Ports {
    /// The ports for one process of `service`; `idx` is the zero's `--idx` or the alpha's number, 1-based
    /// (ignored for the other services).
    pub fn plan(self, service: Service, idx: usize) -> anyhow::Result<ProcPorts> {
        match self {
            Ports::Free => Ok(ProcPorts {
                grpc: service.has_grpc().then(free_port),
                http: free_port(),
                internal: (service == Service::Alpha).then(free_port),
            }),
            Ports::Fixed { offset } => fixed_ports(service, idx, offset),
        }
    }

    pub fn is_free(self) -> bool {
        self == Ports::Free
    }
}

/// The default ports of `service` shifted by `offset` (and zero `n` by `n - 1` more).
pub fn fixed_ports(service: Service, idx: usize, offset: u16) -> anyhow::Result<ProcPorts> {
    use defaults::*;
    let extra = match service {
        Service::Zero | Service::Alpha => u16::try_from(idx.saturating_sub(1))?,
        _ => 0,
    };
    let shift = |port: u16| {
        port.checked_add(offset)
            .and_then(|p| p.checked_add(extra))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "port offset {offset} moves {service} port {port} past 65535: use a smaller offset"
                )
            })
    };
    Ok(match service {
        Service::Zero => ProcPorts {
            grpc: Some(shift(ZERO_GRPC)?),
            http: shift(ZERO_HTTP)?,
            internal: None,
        },
        Service::Alpha => ProcPorts {
            grpc: Some(shift(ALPHA_GRPC)?),
            http: shift(ALPHA_HTTP)?,
            internal: Some(shift(ALPHA_INTERNAL_GRPC)?),
        },
        Service::Auth => ProcPorts {
            grpc: Some(shift(AUTH_GRPC)?),
            http: shift(AUTH_HTTP)?,
            internal: None,
        },
        Service::BackupWorker => ProcPorts {
            grpc: Some(shift(BACKUP_GRPC)?),
            http: shift(BACKUP_HTTP)?,
            internal: None,
        },
        Service::Gateway => ProcPorts {
            grpc: None,
            http: shift(GATEWAY_HTTP)?,
            internal: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert_ne!(port, 0);
            std::net::TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("port {port} should be free: {e}"));
        }
    }

    #[test]
    fn free_plans_give_each_service_the_listeners_it_has() {
        let gateway = Ports::Free.plan(Service::Gateway, 0).unwrap();
        assert_eq!((gateway.grpc, gateway.internal), (None, None));
        let alpha = Ports::Free.plan(Service::Alpha, 0).unwrap();
        let all = [alpha.grpc.unwrap(), alpha.http, alpha.internal.unwrap()];
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 3);
        let zero = Ports::Free.plan(Service::Zero, 1).unwrap();
        assert!(zero.grpc.is_some() && zero.internal.is_none());
    }

    #[test]
    fn fixed_plans_are_the_defaults_shifted() {
        let p = |s, i, o| fixed_ports(s, i, o).unwrap();
        assert_eq!(
            p(Service::Zero, 1, 0),
            ProcPorts {
                grpc: Some(5080),
                http: 6080,
                internal: None
            }
        );
        assert_eq!(p(Service::Zero, 3, 0).grpc, Some(5082));
        assert_eq!(p(Service::Zero, 3, 100).http, 6182);
        assert_eq!(
            p(Service::Alpha, 0, 1),
            ProcPorts {
                grpc: Some(9081),
                http: 8082,
                internal: Some(7081)
            }
        );
        assert_eq!(p(Service::Auth, 0, 0).grpc, Some(7070));
        assert_eq!(p(Service::BackupWorker, 0, 0).http, 7091);
        assert_eq!(p(Service::Gateway, 0, 10).http, 8090);
        assert_eq!(p(Service::Gateway, 0, 10).grpc, None);
    }

    #[test]
    fn a_fixed_plan_past_65535_is_an_error() {
        let err = fixed_ports(Service::Alpha, 0, 60000).unwrap_err();
        assert!(err.to_string().contains("past 65535"), "{err}");
    }

    #[test]
    fn five_zeros_and_the_services_never_share_a_port() {
        let mut seen = BTreeSet::new();
        let mut plans: Vec<ProcPorts> = (1..=5)
            .map(|i| fixed_ports(Service::Zero, i, 0).unwrap())
            .collect();
        for s in [
            Service::Alpha,
            Service::Auth,
            Service::BackupWorker,
            Service::Gateway,
        ] {
            plans.push(fixed_ports(s, 0, 0).unwrap());
        }
        for plan in plans {
            for port in [plan.grpc, Some(plan.http), plan.internal]
                .into_iter()
                .flatten()
            {
                assert!(seen.insert(port), "port {port} used twice");
            }
        }
    }
}
