//! The WireGuard collector against real userspace WireGuard (wireguard-go): two peers in two
//! network namespaces shake hands; `wg show all dump` runs over an SSH link into one of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::{Client, JumpNet, Sshd};
use watchfloor::collect::tunnels::{self, WgAccess};
use watchfloor::link::ssh::Ssh;
use watchfloor::link::ssh::session::{self, Options};
use watchfloor::link::ssh::target::SshConfig;

/// A wireguard-go interface `name` inside `ns`, stopped on drop.
struct Wg {
    child: Child,
    ns: String,
    name: String,
}

impl Wg {
    fn start(ns: &str, name: &str) -> Wg {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "wireguard-go", "-f", name])
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wireguard-go must be installed");
        let wg = Wg {
            child,
            ns: ns.to_owned(),
            name: name.to_owned(),
        };
        common::wait_for(
            "the wireguard-go interface",
            Duration::from_secs(10),
            || {
                Command::new("ip")
                    .args(["-n", ns, "link", "show", name])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
            },
        );
        wg
    }

    fn set(&self, args: &[&str]) {
        common::sh(
            Command::new("ip")
                .args(["netns", "exec", &self.ns, "wg", "set", &self.name])
                .args(args),
        );
    }

    fn ip(&self, args: &[&str]) {
        common::sh(Command::new("ip").args(["-n", &self.ns]).args(args));
    }
}

impl Drop for Wg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.name));
    }
}

fn keypair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let private = common::sh(Command::new("wg").arg("genkey"));
    let path = dir.join(name);
    std::fs::write(&path, &private).unwrap();
    let mut pubkey = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(pubkey.stdin.as_mut().unwrap(), private.as_bytes()).unwrap();
    let out = pubkey.wait_with_output().unwrap();
    (
        path,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_handshake_is_seen_over_ssh_and_no_private_key_leaves_the_host() {
    let net = JumpNet::new();
    // The tunnel's own range only exists inside the namespaces; never route it out from here.
    let _ = Command::new("ip")
        .args(["route", "add", "unreachable", "10.214.0.0/16"])
        .stderr(Stdio::null())
        .status();
    let keys = tempfile::tempdir().unwrap();
    let (a_key, a_pub) = keypair(keys.path(), "a");
    let (b_key, b_pub) = keypair(keys.path(), "b");
    let (a_if, b_if) = (format!("wfa{}", net.tag), format!("wfz{}", net.tag));
    let a = Wg::start(&net.bastion_ns, &a_if);
    let b = Wg::start(&net.target_ns, &b_if);
    let a_endpoint = format!("{}:51820", net.target_addr);
    let b_endpoint = format!("{}:51820", net.bastion_inner_addr);
    a.set(&[
        "listen-port",
        "51820",
        "private-key",
        a_key.to_str().unwrap(),
        "peer",
        &b_pub,
        "allowed-ips",
        "10.214.0.2/32",
        "endpoint",
        &a_endpoint,
        "persistent-keepalive",
        "1",
    ]);
    b.set(&[
        "listen-port",
        "51820",
        "private-key",
        b_key.to_str().unwrap(),
        "peer",
        &a_pub,
        "allowed-ips",
        "10.214.0.1/32",
        "endpoint",
        &b_endpoint,
        "persistent-keepalive",
        "1",
    ]);
    a.ip(&["addr", "add", "10.214.0.1/24", "dev", &a_if]);
    a.ip(&["link", "set", &a_if, "up"]);
    b.ip(&["addr", "add", "10.214.0.2/24", "dev", &b_if]);
    b.ip(&["link", "set", &b_if, "up"]);

    let client = Client::new();
    let bastion = Sshd::start(&client, &net.bastion_addr, Some(&net.bastion_ns));
    client.trust(&bastion);
    let mut target = SshConfig::parse_str("")
        .unwrap()
        .resolve(&bastion.spec(), "root", client.home.path())
        .unwrap();
    target.identity_agent = Some("none".into());
    let link = Ssh::new(
        "bastion".into(),
        session::connect("bastion", &target, &Options::default(), &mut |_, _| {})
            .await
            .unwrap(),
    );

    let start = Instant::now();
    let snap = loop {
        let snap = tunnels::sample(&link, false).await.unwrap();
        let shook = snap
            .interfaces
            .iter()
            .flat_map(|i| &i.peers)
            .any(|p| p.latest_handshake.is_some());
        if shook {
            break snap;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no handshake seen: {snap:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(snap.access, WgAccess::Ok);
    let iface = snap
        .interfaces
        .iter()
        .find(|i| i.name == a_if)
        .expect("the bastion's interface");
    assert_eq!(iface.listen_port, Some(51820));
    assert_eq!(iface.public_key, a_pub);
    let peer = &iface.peers[0];
    assert_eq!(
        (
            peer.public_key.as_str(),
            peer.endpoint.as_deref(),
            peer.allowed_ips.as_str()
        ),
        (b_pub.as_str(), Some(a_endpoint.as_str()), "10.214.0.2/32")
    );
    assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0);
    let a_private = std::fs::read_to_string(&a_key).unwrap();
    assert!(
        !format!("{snap:?}").contains(a_private.trim()),
        "the interface's private key must not be kept"
    );
}
