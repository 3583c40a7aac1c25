//! `sysbuild programs FILE`: the programs a system description embeds, one
//! per line, after checking the description and that each program is a
//! crate of the workspace (the Makefile builds them before the image).

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cmd, file] = args.as_slice() else {
        eprintln!("usage: sysbuild programs FILE");
        return ExitCode::from(2);
    };
    if cmd != "programs" {
        eprintln!("sysbuild: unknown command '{cmd}' (expected: programs)");
        return ExitCode::from(2);
    }
    match programs(Path::new(file)) {
        Ok(names) => {
            for n in names {
                println!("{n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn programs(file: &Path) -> Result<Vec<String>, sysbuild::desc::DescError> {
    let system = sysbuild::desc::System::load(file)?;
    let names = system.programs();
    let unbuilt: Vec<_> = names.iter().cloned().map(sysbuild::gen::Embedded::unbuilt).collect();
    sysbuild::check::check(&system, &unbuilt)?;
    let packages = workspace_binaries();
    for p in &system.spec.processes {
        if !packages.contains(&p.program) {
            return Err(system.error(
                Some(format!("process '{}'", p.name)),
                format!(
                    "unknown program '{}': no crate of the workspace builds a binary of that name",
                    p.program
                ),
            ));
        }
    }
    if let Some(name) = names.iter().find(|n| !packages.contains(n)) {
        return Err(
            system.error(None, format!("unknown program '{name}': no crate of the workspace builds it"))
        );
    }
    Ok(names)
}

/// The names of the binaries the workspace's crates build, from `cargo
/// metadata` (the program a description names is a binary's name).
fn workspace_binaries() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .output()
        .expect("run cargo metadata");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut names = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        for target in package["targets"].as_array().into_iter().flatten() {
            if target["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")) {
                names.extend(target["name"].as_str().map(String::from));
            }
        }
    }
    names
}
