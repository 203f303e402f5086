//! Hosts of their own on one machine, for tests of what crosses a network: each host is a Linux
//! network namespace with one address on a bridge in the test's own namespace (which holds the
//! bridge's address: processes there, such as zeros and the test's clients, reach every host,
//! and every host reaches them). A host can be cut off from chosen others with iptables rules
//! inside its namespace (a partition), and joined again.
//!
//! Needs root and Debian's `iproute2` and `iptables` (the test script runs as root on these
//! machines). A lab removes its namespaces and bridge when dropped.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Labs made by this process, so two in one test binary get their own names and subnets.
static LABS: AtomicU32 = AtomicU32::new(0);

/// Namespaces on a bridge.
#[derive(Debug)]
pub struct NetLab {
    bridge: String,
    subnet: [u8; 3],
    hosts: Vec<String>,
    /// The FORWARD rule letting the bridge's frames through is in place.
    forward_rule: bool,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("`{}` does not start: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl NetLab {
    /// A bridge and `hosts` namespaces on it; `None` (after [`crate::missing`]) when this
    /// machine cannot make them (not root, or `ip`/`iptables` missing).
    #[track_caller]
    pub fn new(hosts: usize) -> Option<NetLab> {
        for tool in ["ip", "iptables"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return crate::missing(
                    &format!("`{tool}`"),
                    "network namespaces need Debian's iproute2 and iptables",
                );
            }
        }
        match Self::make(hosts) {
            Ok(lab) => Some(lab),
            Err(e) => crate::missing(
                "network namespaces",
                &format!("{e} (the partition tests need root)"),
            ),
        }
    }

    fn make(hosts: usize) -> Result<NetLab, String> {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{:x}{n:x}", pid % 0xffff);
        // 10.<pid-derived>.<lab>.0/24, so labs of concurrent test binaries do not overlap.
        let subnet = [10, 100 + (pid % 150) as u8, (n % 250) as u8 + 1];
        let mut lab = NetLab {
            bridge: format!("lsb{tag}"),
            subnet,
            hosts: Vec::new(),
            forward_rule: false,
        };
        let bridge = lab.bridge.clone();
        let ip = |last: u8| format!("{}.{}.{}.{last}", subnet[0], subnet[1], subnet[2]);
        run(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        // Frames between hosts are bridged; with br_netfilter loaded they still pass this
        // namespace's FORWARD chain, whose policy may be DROP (Docker sets it so).
        lab.forward_rule = true;
        run(&[
            "iptables", "-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT",
        ])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", ip(1)),
            "dev",
            &bridge,
        ])?;
        run(&["ip", "link", "set", &bridge, "up"])?;
        for i in 0..hosts {
            let ns = format!("lsn{tag}h{i}");
            let (outer, inner) = (format!("lsv{tag}h{i}"), format!("lsp{tag}h{i}"));
            run(&["ip", "netns", "add", &ns])?;
            lab.hosts.push(ns.clone());
            run(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            run(&["ip", "link", "set", &inner, "netns", &ns])?;
            run(&["ip", "link", "set", &outer, "master", &bridge])?;
            run(&["ip", "link", "set", &outer, "up"])?;
            let exec = |cmd: &[&str]| {
                let mut full = vec!["ip", "netns", "exec", &ns];
                full.extend_from_slice(cmd);
                run(&full)
            };
            exec(&["ip", "link", "set", "lo", "up"])?;
            let addr = format!("{}/24", ip(i as u8 + 2));
            exec(&["ip", "addr", "add", &addr, "dev", &inner])?;
            exec(&["ip", "link", "set", &inner, "up"])?;
        }
        Ok(lab)
    }

    /// The address of the bridge, in the test's own namespace.
    pub fn bridge_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], 1)
    }

    /// The address of host `i`.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], i as u8 + 2)
    }

    /// The command prefix that runs a program on host `i`.
    pub fn wrapper(&self, i: usize) -> Vec<String> {
        ["ip", "netns", "exec", &self.hosts[i]]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Cuts host `i` off from hosts `others` (both directions); everything else (the bridge's
    /// namespace, other hosts) still reaches it.
    pub fn cut(&self, i: usize, others: &[usize]) -> Result<(), String> {
        for &o in others {
            let peer = self.ip(o).to_string();
            for (chain, flag) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    &self.hosts[i],
                    "iptables",
                    "-A",
                    chain,
                    flag,
                    &peer,
                    "-j",
                    "DROP",
                ])?;
            }
        }
        Ok(())
    }

    /// Removes every cut made on host `i`.
    pub fn heal(&self, i: usize) -> Result<(), String> {
        for chain in ["INPUT", "OUTPUT"] {
            run(&[
                "ip",
                "netns",
                "exec",
                &self.hosts[i],
                "iptables",
                "-F",
                chain,
            ])?;
        }
        Ok(())
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for ns in &self.hosts {
            // Deleting the namespace removes its end of the veth pair, and with it ours.
            let _ = run(&["ip", "netns", "del", ns]);
        }
        if self.forward_rule {
            let _ = run(&[
                "iptables",
                "-D",
                "FORWARD",
                "-i",
                &self.bridge,
                "-o",
                &self.bridge,
                "-j",
                "ACCEPT",
            ]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}
