//! Bad descriptions are refused with the file, the entry and the reason;
//! the ones the repository ships pass.

use std::path::Path;
use sysbuild::desc::System;
use sysbuild::gen::Embedded;

const FILE: &str = "apps/x/system.toml";

fn check(text: &str) -> Result<(), String> {
    let system = System::parse(Path::new(FILE), text).map_err(|e| e.to_string())?;
    let images: Vec<_> = system.programs().into_iter().map(Embedded::unbuilt).collect();
    sysbuild::check::check(&system, &images).map_err(|e| e.to_string())
}

fn refused(text: &str, expected: &str) {
    match check(text) {
        Ok(()) => panic!("accepted: {text}"),
        Err(e) => {
            assert!(e.starts_with(FILE), "no file in: {e}");
            assert!(e.contains(expected), "expected {expected:?} in: {e}");
        }
    }
}

const OWNER: &str = "[[process]]\nname = \"owner\"\nprogram = \"app\"\n";

#[test]
fn the_shipped_descriptions_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [
        "apps/spreadsheet/system.toml",
        "apps/hello/system.toml",
        "apps/large/system.toml",
        "tests/suite/system.toml",
        "bench/image/system.toml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        check(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn a_minimal_description_passes() {
    check(OWNER).unwrap();
}

#[test]
fn duplicate_names_are_refused() {
    refused(&format!("{OWNER}{OWNER}"), "process 'owner': another process has this name");
    refused(
        "[[process]]\nname = \"memory-manager\"\nprogram = \"app\"\n",
        "process 'memory-manager': another process has this name",
    );
}

#[test]
fn a_start_by_an_unknown_process_or_by_itself_is_refused() {
    let viewer = "[[process]]\nname = \"viewer\"\nprogram = \"app\"\nstart = { by = \"ownr\" }\n";
    refused(&format!("{OWNER}{viewer}"), "process 'viewer': start by 'ownr': no process has that name");
    let selfish = "[[process]]\nname = \"viewer\"\nprogram = \"app\"\nstart = { by = \"viewer\" }\n";
    refused(selfish, "process 'viewer': a process cannot start itself");
    refused("[[process]]\nname = \"v\"\nprogram = \"app\"\nstart = \"later\"\n", "expected \"boot\"");
}

#[test]
fn unknown_fields_and_bad_names_are_refused() {
    refused(&format!("{OWNER}priorty = 3\n"), "unknown field `priorty`");
    refused("[[process]]\nname = \"\"\nprogram = \"app\"\n", "is not 1 to 32 printable ASCII");
    refused(&format!("{OWNER}program = \"vmm-server\"\n"), "duplicate key");
}

#[test]
fn priorities_must_stay_below_the_memory_manager() {
    refused(
        &format!("{OWNER}priority = 150\n"),
        "process 'owner': priority 150 must be below the memory manager's 150",
    );
}

#[test]
fn cores_beyond_the_largest_kernel_are_refused() {
    check(&format!("{OWNER}core = 3\n")).unwrap();
    refused(&format!("{OWNER}core = 4\n"), "process 'owner': core = 4: the largest kernel has 4 cores");
    refused(&format!("[memory_manager]\ncore = 9\n{OWNER}"), "[memory_manager] core");
}

#[test]
fn sizes_that_cannot_fit_are_refused() {
    refused("[supervisor]\narenas = 300\n", "[supervisor] arenas: 300 is not in 1..=127");
    refused("[supervisor]\narenas = 120\narena_bits = 22\n", "MiB of untyped memory");
    refused("[memory_manager]\npool_count = 1\npool_rest = false\n", "[supervisor] app_budget: Budget");
    refused("ram = 268435456\n", "at most 128 MiB fit in ram = 256 MiB");
    // Three processes of a third of the window each cannot all be promised it.
    let third = format!("{OWNER}budget = {{ window = 805306368 }}\n");
    let three = format!("{third}{}{}", third.replace("owner", "a"), third.replace("owner", "b"));
    refused(&three, "process 'b': with this budget the processes' budgets add up to more");
    refused(&format!("{OWNER}heap = 1048576\n"), "process 'owner': needs");
    refused(&format!("{OWNER}heap = 999999999\n"), "heap = 999999999: at most");
    refused("[supervisor]\napp_cnode_bits = 19\n", "[supervisor] app_cnode_bits: 19 is not in");
    refused("[memory_manager]\ncnode_bits = 20\n", "[memory_manager]: needs");
}

#[test]
fn too_many_embedded_pages_do_not_fit_the_root_cnode() {
    let system = System::parse(Path::new(FILE), OWNER).unwrap();
    let big = Embedded { name: "app".into(), path: None, bytes: Some(vec![0; 16 << 20]) };
    let e = sysbuild::check::check(&system, &[big]).unwrap_err().to_string();
    assert!(e.contains("slots of its CNode"), "{e}");
}
