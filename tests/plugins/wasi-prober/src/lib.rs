//! A renderer that reaches for everything the deny-by-default WASI stubs stand in for:
//! directories, files, TCP, UDP, name lookup, the environment. Using them makes Rust's
//! standard library import `wasi:filesystem/*` and `wasi:sockets/*`, as a Python
//! component does. It renders one ConfigMap whose data says, per probe, what happened:
//! "denied: ..." (the error std reported) or "REACHED: ..." (which a test fails on).
//! It implements the raw WIT bindings; the input is not read.

#![forbid(unsafe_code)]
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::{TcpListener, TcpStream, ToSocketAddrs as _, UdpSocket};

use berth_sdk::wit::{Guest, PluginDescription, RenderError, RenderInput, RenderOutput};

struct Prober;

fn probe<T: std::fmt::Debug>(result: std::io::Result<T>) -> String {
    match result {
        Ok(value) => format!("REACHED: {value:?}"),
        Err(e) => format!("denied: {:?}: {e}", e.kind()),
    }
}

impl Guest for Prober {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "berth-test-wasi-prober".to_owned(),
            version: "0.0.0".to_owned(),
            component: "prober".to_owned(),
            harbor_versions: vec!["2.13".to_owned(), "2.14".to_owned(), "2.15".to_owned()],
            contract_version: berth_sdk::CONTRACT_VERSION.to_owned(),
        }
    }

    fn render(_input: RenderInput) -> Result<RenderOutput, RenderError> {
        let mut data = BTreeMap::new();
        data.insert("read-dir-root", probe(std::fs::read_dir("/").map(|d| d.count())));
        data.insert("read-dir-cwd", probe(std::fs::read_dir(".").map(|d| d.count())));
        data.insert(
            "open-file",
            probe(std::fs::File::open("/etc/passwd").and_then(|mut f| {
                let mut text = String::new();
                f.read_to_string(&mut text).map(|_| text.len())
            })),
        );
        data.insert("write-file", probe(std::fs::write("/tmp/berth-prober", b"x")));
        data.insert("tcp-connect", probe(TcpStream::connect("127.0.0.1:80")));
        data.insert("tcp-listen", probe(TcpListener::bind("127.0.0.1:0")));
        data.insert("udp-bind", probe(UdpSocket::bind("127.0.0.1:0")));
        data.insert("name-lookup", probe(("localhost", 80).to_socket_addrs().map(|a| a.count())));
        let vars: Vec<(String, String)> = std::env::vars().collect();
        data.insert("environment", if vars.is_empty() { "denied: empty".to_owned() } else { format!("REACHED: {vars:?}") });
        let object = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probes"}, "data": data});
        Ok(RenderOutput { objects: vec![object.to_string()], secrets: Vec::new(), conditions: Vec::new() })
    }
}

berth_sdk::wit::__berth_export_renderer!(Prober with_types_in berth_sdk::wit);
