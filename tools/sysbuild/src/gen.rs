//! The compiled description: Rust source for `root_task::system::System`,
//! with the programs embedded by `include_bytes!`.

use crate::desc::{Start, System};
use elf::abi::PT_LOAD;
use elf::endian::AnyEndian;
use elf::ElfBytes;
use libshm::layout::PAGE_SIZE;
use libshm::protocol::Budget;
use std::fmt::Write;
use std::path::PathBuf;

/// A program an image embeds.
pub struct Embedded {
    /// Its name.
    pub name: String,
    /// Where the stripped ELF is (none when the programs were not built).
    pub path: Option<PathBuf>,
    /// Its bytes.
    pub bytes: Option<Vec<u8>>,
}

impl Embedded {
    /// A program not built (yet): checks that need its bytes skip it.
    pub fn unbuilt(name: String) -> Embedded {
        Embedded { name, path: None, bytes: None }
    }

    /// Bytes its loadable segments take once loaded, in whole pages.
    pub fn loaded_bytes(&self) -> Option<u64> {
        let elf = ElfBytes::<AnyEndian>::minimal_parse(self.bytes.as_ref()?).ok()?;
        let segments = elf.segments()?;
        Some(
            segments
                .iter()
                .filter(|s| s.p_type == PT_LOAD)
                .map(|s| {
                    let start = s.p_vaddr & !(PAGE_SIZE - 1);
                    (s.p_vaddr + s.p_memsz).next_multiple_of(PAGE_SIZE) - start
                })
                .sum(),
        )
    }
}

/// The `system.rs` an image includes.
pub fn system_rs(system: &System, images: &[Embedded]) -> String {
    let spec = &system.spec;
    let (sup, mm) = (&spec.supervisor, &spec.memory_manager);
    let mut out = String::new();
    let source = system.file.display().to_string();
    writeln!(out, "// Written by tools/sysbuild from {source}; do not edit.").unwrap();
    writeln!(out, "/// The system this image runs, as its description says.").unwrap();
    writeln!(out, "pub static SYSTEM: root_task::system::System = root_task::system::System {{").unwrap();
    writeln!(out, "    source: {source:?},").unwrap();
    writeln!(out, "    programs: &[").unwrap();
    for image in images {
        let bytes = match &image.path {
            Some(path) => format!("include_bytes!({:?})", path.display().to_string()),
            None => "&[]".into(),
        };
        writeln!(out, "        root_task::system::Program {{ name: {:?}, image: {bytes} }},", image.name)
            .unwrap();
    }
    writeln!(out, "    ],").unwrap();
    writeln!(out, "    processes: &[").unwrap();
    for p in &spec.processes {
        let start = match &p.start {
            Start::By { by } => format!("root_task::system::Start::OnRequest {{ by: {by:?} }}"),
            Start::Word(_) => "root_task::system::Start::Boot".into(),
        };
        writeln!(
            out,
            "        root_task::system::ProcessDesc {{ name: {:?}, program: {:?}, start: {start}, priority: {}, \
             restarts: {}, heap_bytes: {}, arg: {}, budget: {}, core: {:?} }},",
            p.name,
            p.program,
            p.priority,
            p.restarts,
            p.heap,
            p.arg,
            budget_rs(&spec.budget_of(p)),
            p.core
        )
        .unwrap();
    }
    writeln!(out, "    ],").unwrap();
    writeln!(
        out,
        "    supervisor: root_task::system::SupervisorConfig {{ arenas: {}, arena_bits: {}, app_cnode_bits: {}, \
         app_priority: {}, app_budget: {} }},",
        sup.arenas,
        sup.arena_bits,
        sup.app_cnode_bits,
        sup.app_priority,
        budget_rs(&spec.app_budget())
    )
    .unwrap();
    writeln!(
        out,
        "    memory_manager: root_task::system::MemoryManagerConfig {{ program: {:?}, name: {:?}, priority: {}, \
         cnode_bits: {}, arena_bits: {}, pool_count: {}, pool_bits: {}, pool_rest: {}, core: {} }},",
        mm.program,
        mm.name,
        mm.priority,
        mm.cnode_bits,
        mm.arena_bits,
        mm.pool_count,
        mm.pool_bits,
        mm.pool_rest,
        mm.core
    )
    .unwrap();
    writeln!(out, "}};").unwrap();
    out
}

fn budget_rs(b: &Budget) -> String {
    format!(
        "root_task::system::Budget {{ memory: {}, tables: {}, slots: {}, mappings: {}, objects: {}, window: {} }}",
        b.memory, b.tables, b.slots, b.mappings, b.objects, b.window
    )
}
