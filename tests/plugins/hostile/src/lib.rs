//! A renderer that misbehaves on purpose, so the sandbox tests can prove each limit.
//! It implements the raw WIT bindings, as a hostile plugin would, rather than the SDK's
//! friendly trait. The HarborCluster's name picks the misbehaviour; any other name
//! renders one ConfigMap, which shows the same runtime still serves good renders.

#![forbid(unsafe_code)]
#![cfg(target_arch = "wasm32")]

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use berth_sdk::wit::{Guest, PluginDescription, RenderError, RenderInput, RenderOutput};

struct Hostile;

fn config_map(name: &str, value: &str) -> String {
    format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"x":"{value}"}}}}"#)
}

impl Guest for Hostile {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "berth-test-hostile".to_owned(),
            version: "0.0.0".to_owned(),
            component: "hostile".to_owned(),
            harbor_versions: vec!["2.13".to_owned(), "2.14".to_owned(), "2.15".to_owned()],
            contract_version: berth_sdk::CONTRACT_VERSION.to_owned(),
        }
    }

    fn render(input: RenderInput) -> Result<RenderOutput, RenderError> {
        let objects = match input.cluster.name.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "alloc" => {
                // 1 GiB, kept alive through black_box so it cannot be optimised away.
                let big = black_box(vec![1u8; 1 << 30]);
                vec![config_map("alloc", &big.len().to_string())]
            }
            "fill" => {
                // Takes memory a megabyte at a time and writes every page, until refused.
                let mut chunks = Vec::new();
                loop {
                    chunks.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            // Waiting, in every way std offers: each is a clock subscription and a poll.
            "sleep-hour" => {
                std::thread::sleep(Duration::from_secs(3600));
                vec![config_map("slept", "ok")]
            }
            "sleep-forever" => loop {
                std::thread::sleep(Duration::from_secs(u64::MAX / 4));
            },
            "sleep-loop" => loop {
                std::thread::sleep(Duration::from_millis(1));
            },
            "busy-wait" => {
                // Polls the clock until an hour has passed.
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(3600) {
                    black_box(());
                }
                vec![config_map("waited", "ok")]
            }
            // Spinning in host calls: stdin reads, stderr writes, clock reads.
            "spin-stdin" => loop {
                let mut buffer = [0u8; 64];
                black_box(std::io::stdin().read(&mut buffer).ok());
            },
            "spin-stderr" => loop {
                black_box(std::io::stderr().write(b"x").ok());
            },
            "spin-clock" => loop {
                black_box(std::time::SystemTime::now());
                black_box(Instant::now());
            },
            "huge" => {
                // 100 MiB built in place, so memory use stays near the output's size.
                let mut object = String::with_capacity(100 * 1024 * 1024 + 128);
                object.push_str(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"x":""#);
                object.extend(std::iter::repeat_n('x', 100 * 1024 * 1024));
                object.push_str(r#""}}"#);
                vec![object]
            }
            "badjson" => vec![r#"{"apiVersion": "v1", "kind": "#.to_owned()],
            "many" => (0..5000).map(|i| config_map(&format!("cm-{i}"), "y")).collect(),
            name => vec![config_map(&format!("{name}-fine"), "ok")],
        };
        Ok(RenderOutput { objects, secrets: Vec::new(), conditions: Vec::new() })
    }
}

berth_sdk::wit::__berth_export_renderer!(Hostile with_types_in berth_sdk::wit);
