//! The crate's rooms and the direction of their imports.
//!
//! Reads every file under src/, finds each `crate::room` path outside
//! comments, and checks that it points down the layer table below (the same
//! table docs/architecture.md draws): a room may use rooms on lower layers,
//! never one on its own layer or above, so the import graph has no circles.
//! Run it alone with `cargo test --test layering`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The rooms, from the face down: (layer, room). A room may import only
/// rooms on a strictly greater layer.
const LAYERS: &[(u32, &str)] = &[
    (0, "lib"),
    (1, "engine"),
    (2, "reactor::acceptor"),
    (2, "reactor::event_loop"),
    (3, "reactor::listener"),
    (3, "reactor::timer"),
    (3, "reactor"), // reactor/mod.rs: only declares the rooms above
    (3, "bind"),
    (4, "balancer"),
    (4, "service"),
    (5, "handler"),
    (5, "metrics"),
    (6, "conn"),
    (7, "handle"),
    (8, "mailbox"),
    (8, "inherit"),
    (8, "listeners"),
    (9, "addr"),
    (9, "config"),
    (9, "drain"),
    (9, "stats"),
    (9, "tls"),
    (10, "action"),
    (10, "deadline"),
    (10, "error"),
    (10, "framing"),
    (10, "id"),
    (11, "buffer"),
    (12, "sys"),
    (12, "options"), // named constants only: every room may read them
];

/// Paths under `crate::` that name another crate re-exported by lib.rs.
const EXTERNAL: &[&str] = &["codec"];

fn layer_of(room: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(_, r)| *r == room)
        .map(|(l, _)| *l)
        .unwrap_or_else(|| panic!("room {room:?} is missing from the layer table in tests/layering.rs"))
}

/// The room a source file belongs to: `reactor/event_loop/read.rs` is in
/// `reactor::event_loop`, `sys/epoll.rs` in `sys`.
fn room_of_file(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [single] if single == "lib" => "lib".into(),
        [single] => single.clone(),
        [dir, rest @ ..] if dir == "reactor" => match rest {
            [m] if m == "mod" => "reactor".into(),
            [m, ..] => format!("reactor::{m}"),
            [] => unreachable!(),
        },
        [dir, ..] => dir.clone(),
        [] => unreachable!(),
    }
}

/// The room a `crate::a::b` path names.
fn room_of_path(path: &[&str]) -> Option<String> {
    let first = *path.first()?;
    if EXTERNAL.contains(&first) || first.chars().next()?.is_uppercase() {
        return None; // another crate, or a re-exported item of lib.rs (doc links)
    }
    if first == "reactor" {
        if let Some(second) = path.get(1).filter(|s| s.chars().next().is_some_and(char::is_lowercase)) {
            return Some(format!("reactor::{second}"));
        }
    }
    Some(first.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::x::y...` path in the code of `text` (comments skipped),
/// including the branches of `use crate::{a, b::c}` groups.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let preceded_by_ident = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[at + "crate::".len()..];
            if preceded_by_ident {
                continue; // `netreactor_crate::`, not ours
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for branch in inner.split(',') {
                    paths.push(segments(branch.trim()));
                }
            } else {
                paths.push(segments(rest));
            }
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

fn segments(s: &str) -> Vec<String> {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s[..end]
        .split("::")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// room -> the rooms it imports, over all of src/.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let room = room_of_file(file.strip_prefix(&src).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        let targets = graph.entry(room.clone()).or_default();
        for path in crate_paths(&text) {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(target) = room_of_path(&path) {
                if target != room {
                    targets.insert(target);
                }
            }
        }
    }
    graph
}

#[test]
fn every_import_points_down_the_layer_table() {
    let graph = import_graph();
    let mut upward = Vec::new();
    for (room, targets) in &graph {
        for target in targets {
            if room != "lib" && layer_of(target) <= layer_of(room) {
                upward.push(format!(
                    "{room} (layer {}) imports {target} (layer {})",
                    layer_of(room),
                    layer_of(target)
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn the_import_graph_has_no_circles() {
    fn visit(
        room: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|r| r == room) {
            panic!("import circle: {} -> {room}", path[at..].join(" -> "));
        }
        if done.contains(room) {
            return;
        }
        path.push(room.to_owned());
        for next in graph.get(room).into_iter().flatten() {
            // lib.rs re-exports everything; it is the root, never a target.
            if next != "lib" {
                visit(next, graph, path, done);
            }
        }
        path.pop();
        done.insert(room.to_owned());
    }
    let graph = import_graph();
    let mut done = BTreeSet::new();
    for room in graph.keys() {
        visit(room, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_scanner_sees_grouped_and_nested_paths_and_skips_comments() {
    let text = "use crate::{conn::Conn, mailbox::Task};\n\
                // use crate::engine::Engine;\n\
                let x = crate::sys::io::read(); /// crate::handler\n\
                use netreactor_crate::thing;";
    let rooms: Vec<String> = crate_paths(text)
        .iter()
        .filter_map(|p| room_of_path(&p.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    assert_eq!(rooms, ["conn", "mailbox", "sys"]);
    assert_eq!(
        room_of_file(Path::new("reactor/event_loop/read.rs")),
        "reactor::event_loop"
    );
    assert_eq!(room_of_file(Path::new("reactor/mod.rs")), "reactor");
    assert_eq!(room_of_file(Path::new("sys/epoll.rs")), "sys");
    assert_eq!(room_of_file(Path::new("lib.rs")), "lib");
}

/// The table is the whole truth: every file of src/ is in a room it names.
#[test]
fn every_room_is_in_the_table() {
    for room in import_graph().keys() {
        layer_of(room);
    }
}
