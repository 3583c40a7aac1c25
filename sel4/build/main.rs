//! Generates the kernel-facing constants of this crate from seL4's own
//! libsel4 sources (XML interface files, headers, bitfield specs) and our
//! kernel configuration, so that no label or object number is typed by hand.
//!
//! Inputs: the kernel source copy made by `tools/kernel/build.sh` (default
//! `target/sel4/src`, or `SEL4_SRC`) and `tools/kernel/config/<arch>.h`
//! (through `tools/kernel/config/cores.sh`, for one core or, with the `smp`
//! feature, several).

mod bitfield;
mod cc;
mod invocations;

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Where one architecture's pieces live in libsel4.
pub struct Arch {
    /// The Rust `target_arch`.
    pub name: &'static str,
    /// libsel4's `arch_include/` folder.
    pub arch_dir: &'static str,
    /// libsel4's `sel4_arch_include/` folder.
    pub sel4_arch_dir: &'static str,
    /// libsel4's `sel4_plat_include/` folder.
    pub plat_dir: &'static str,
    /// Arch-only macros whose values we need, by Rust name.
    pub macros: &'static [(&'static str, &'static str)],
}

const X86_64: Arch = Arch {
    name: "x86_64",
    arch_dir: "x86",
    sel4_arch_dir: "x86_64",
    plat_dir: "pc99",
    macros: &[("PDPT_BITS", "seL4_PDPTBits"), ("PML4_BITS", "seL4_PML4Bits")],
};

const AARCH64: Arch = Arch {
    name: "aarch64",
    arch_dir: "arm",
    sel4_arch_dir: "aarch64",
    plat_dir: "hikey",
    macros: &[("PUD_BITS", "seL4_PUDBits"), ("PGD_BITS", "seL4_PGDBits")],
};

/// Macros (not enumerators) whose values we need, by Rust name.
const MACROS: &[(&str, &str)] = &[
    ("WORD_BITS", "seL4_WordBits"),
    ("PAGE_BITS", "seL4_PageBits"),
    ("LARGE_PAGE_BITS", "seL4_LargePageBits"),
    ("HUGE_PAGE_BITS", "seL4_HugePageBits"),
    ("SLOT_BITS", "seL4_SlotBits"),
    ("TCB_BITS", "seL4_TCBBits"),
    ("ENDPOINT_BITS", "seL4_EndpointBits"),
    ("NOTIFICATION_BITS", "seL4_NotificationBits"),
    ("PAGE_TABLE_BITS", "seL4_PageTableBits"),
    ("PAGE_DIR_BITS", "seL4_PageDirBits"),
    ("ASID_POOL_BITS", "seL4_ASIDPoolBits"),
    ("MIN_UNTYPED_BITS", "seL4_MinUntypedBits"),
    ("MAX_UNTYPED_BITS", "seL4_MaxUntypedBits"),
    ("MSG_MAX_EXTRA_CAPS", "seL4_MsgMaxExtraCaps"),
    ("DATA_FAULT", "seL4_DataFault"),
    ("INSTRUCTION_FAULT", "seL4_InstructionFault"),
    ("MAX_NUM_BOOTINFO_UNTYPED_CAPS", "CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS"),
    ("ROOT_CNODE_SIZE_BITS", "CONFIG_ROOT_CNODE_SIZE_BITS"),
    ("NUM_PRIORITIES", "CONFIG_NUM_PRIORITIES"),
];

/// Headers whose enumerators become constants, and what we call the group.
const ENUM_HEADERS: &[(&str, &str)] = &[
    ("errors", "#include <sel4/errors.h>\n"),
    (
        "objects",
        "#include <sel4/objecttype.h>\n#include <sel4/sel4_arch/objecttype.h>\n#include <sel4/arch/objecttype.h>\n",
    ),
    (
        "constants",
        "#include <sel4/constants.h>\n#include <sel4/sel4_arch/constants.h>\n#include <sel4/bootinfo_types.h>\n#include <sel4/shared_types.h>\n",
    ),
    ("vm_attributes", "#include <sel4/arch/types.h>\n"),
];

/// Declarations the headers expect from headers we do not include
/// (the generated ones, and libsel4's own type headers).
const PRELUDE: &str = "#include <autoconf.h>\n#include <sel4/macros.h>\n#include <sel4/simple_types.h>\n\
typedef seL4_Uint64 seL4_Word;\ntypedef seL4_Word seL4_CPtr;\ntypedef seL4_Word seL4_NodeId;\n\
typedef seL4_Word seL4_Domain;\ntypedef seL4_Word seL4_MessageInfo_t;\ntypedef struct seL4_IPCBuffer_ seL4_IPCBuffer;\n";

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let arch = match env("CARGO_CFG_TARGET_ARCH").as_str() {
        "x86_64" => X86_64,
        "aarch64" => AARCH64,
        other => panic!("seL4 bindings: unsupported target arch {other}"),
    };
    let src = std::env::var_os("SEL4_SRC").map(PathBuf::from).unwrap_or_else(|| root.join("target/sel4/src"));
    let libsel4 = src.join("libsel4");
    if !libsel4.is_dir() {
        panic!(
            "seL4 source not found at {}: run `make kernel` (tools/kernel/build.sh) first, or set SEL4_SRC",
            src.display()
        );
    }
    let config = root.join("tools/kernel/config").join(format!("{}.h", arch.name));
    let config_dir = out_dir.join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    // Feature `smp`: the multicore kernel's bindings. They depend only on
    // whether there is more than one core (the XML's conditions test
    // CONFIG_MAX_NUM_NODES > 1), so any N > 1 gives the same; programs read
    // the real count from BootInfo.
    let cores = if std::env::var_os("CARGO_FEATURE_SMP").is_some() { "2" } else { "1" };
    let filter = root.join("tools/kernel/config/cores.sh");
    let header = std::fs::File::open(&config)
        .unwrap_or_else(|e| panic!("cannot read kernel config {}: {e}", config.display()));
    let filtered = std::process::Command::new(&filter)
        .arg(cores)
        .stdin(header)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", filter.display()));
    assert!(
        filtered.status.success(),
        "{} failed: {}",
        filter.display(),
        String::from_utf8_lossy(&filtered.stderr)
    );
    std::fs::write(config_dir.join("autoconf.h"), filtered.stdout).unwrap();
    println!("cargo:rerun-if-changed={}", config.display());
    println!("cargo:rerun-if-changed={}", filter.display());
    println!("cargo:rerun-if-changed={}", libsel4.display());
    println!("cargo:rerun-if-env-changed=SEL4_SRC");
    println!("cargo:rerun-if-changed=build");

    let headers = cc::Headers::new(&libsel4, &arch, &config_dir, &out_dir);
    let mut out = String::new();
    writeln!(out, "// Generated by sel4/build from seL4's libsel4 for {}; do not edit.\n", arch.name)
        .unwrap();

    // Enumerators and macros, evaluated by the C compiler.
    let mut items = Vec::new();
    let mut groups = Vec::new();
    for (group, includes) in ENUM_HEADERS {
        let names = headers.enumerators(&format!("{PRELUDE}{includes}"), &format!("enum_{group}"));
        groups.push((*group, names.clone()));
        items.extend(names.into_iter().map(|n| (n.clone(), None, n)));
    }
    let macros: Vec<_> = MACROS.iter().chain(arch.macros).collect();
    for (rust, c) in &macros {
        items.push((rust.to_string(), None, c.to_string()));
    }
    let all_includes: String = ENUM_HEADERS.iter().map(|(_, i)| *i).collect();
    let values = headers.evaluate(&format!("{PRELUDE}{all_includes}"), &items, "values");

    for (rust, _) in &macros {
        let v = values.get(*rust).unwrap_or_else(|| panic!("no value for {rust}"));
        writeln!(out, "/// From libsel4 / our kernel configuration.\npub const {rust}: usize = {v};")
            .unwrap();
    }
    for (group, names) in &groups {
        match *group {
            "errors" => emit_errors(names, &values, &mut out),
            "objects" => emit_enum(
                "ObjectType",
                "Kernel object types for Untyped_Retype.",
                "seL4_",
                names,
                &values,
                &mut out,
            ),
            _ => emit_consts(names, &values, &mut out),
        }
    }

    // Syscall numbers: every syscall in the XML takes the next number,
    // present or not; only those compiled into this kernel are emitted.
    emit_syscalls(&src.join("include/api/syscall.xml"), &headers, &mut out);

    // Bitfields and fault tags.
    let mut bf = String::new();
    for f in [
        "include/sel4/shared_types_64.bf".to_string(),
        "include/sel4/types_64.bf".to_string(),
        format!("arch_include/{}/sel4/arch/shared_types.bf", arch.arch_dir),
    ] {
        let path = libsel4.join(&f);
        bf.push_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        bf.push('\n');
    }
    let spec = bitfield::parse(&bf);
    bitfield::emit(
        &spec,
        &[
            ("seL4_MessageInfo", "message_info"),
            ("seL4_CapRights", "cap_rights"),
            ("seL4_PrioProps", "prio_props"),
            ("Guard", "cnode_guard"),
            ("Badge", "cap_badge"),
        ],
        &mut out,
    );
    writeln!(out, "/// Fault types: the label of a fault message.\n#[repr(u64)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum FaultType {{").unwrap();
    for (union, tag, v) in &spec.tags {
        if union == "seL4_Fault" {
            writeln!(out, "    /// `seL4_Fault_{tag}`.\n    {tag} = {v},").unwrap();
        }
    }
    writeln!(out, "}}").unwrap();
    for (union, tag, v) in &spec.tags {
        if union == "seL4_CapData" {
            writeln!(
                out,
                "/// `seL4_CapData` tag `{tag}`.\npub const CAP_DATA_{}: u64 = {v};",
                screaming(tag)
            )
            .unwrap();
        }
    }

    // The register file, as libsel4 declares it.
    let types_h = libsel4.join(format!("sel4_arch_include/{}/sel4/sel4_arch/types.h", arch.sel4_arch_dir));
    let regs = user_context_fields(&std::fs::read_to_string(&types_h).unwrap());
    emit_user_context(&regs, &mut out);

    // Invocations.
    let xmls = [
        libsel4.join("include/interfaces/sel4.xml"),
        libsel4.join(format!("sel4_arch_include/{}/interfaces/sel4arch.xml", arch.sel4_arch_dir)),
        libsel4.join(format!("arch_include/{}/interfaces/sel4arch.xml", arch.arch_dir)),
    ];
    let mut methods = Vec::new();
    for x in &xmls {
        methods.extend(invocations::parse(&std::fs::read_to_string(x).unwrap()));
    }
    let conds: Vec<_> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("method{i}"), m.condition.clone(), "1".to_string()))
        .collect();
    let present = headers.evaluate(PRELUDE, &conds, "conditions");
    let present: Vec<_> = methods
        .iter()
        .enumerate()
        .filter(|(i, _)| present.contains_key(&format!("method{i}")))
        .map(|(_, m)| m)
        .collect();
    invocations::emit(&present, regs.len() as u32, &mut out);

    std::fs::write(out_dir.join("generated.rs"), out).unwrap();
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"))
}

/// `seL4_CapInitThreadTCB` -> `CAP_INIT_THREAD_TCB`.
pub fn screaming(name: &str) -> String {
    snake(name.trim_start_matches("seL4_")).to_uppercase()
}

/// CamelCase (with acronyms) to snake_case: `X86_PDPT` -> `x86_pdpt`,
/// `PageUpperDirectory` -> `page_upper_directory`, `IRQHandler` -> `irq_handler`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut s = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !s.ends_with('_') {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    // libsel4 spells CNode and VSpace as words of their own.
    s.replace("c_node", "cnode").replace("v_space", "vspace")
}

/// `seL4_X86_PageDirectoryObject` -> `X86PageDirectory` (a variant name).
fn camel(name: &str, prefix: &str) -> String {
    let base = name.trim_start_matches(prefix);
    let base = base.strip_suffix("Object").unwrap_or(base);
    base.split('_')
        .map(|part| {
            if part.starts_with(|c: char| c.is_ascii_digit()) {
                // `X86_4K` stays `X86_4K`: digits cannot be joined.
                format!("_{part}")
            } else if part.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) && part.len() > 1 {
                let mut p = part[..1].to_string();
                p.push_str(&part[1..].to_lowercase());
                p
            } else {
                part.to_string()
            }
        })
        .collect()
}

fn emit_errors(names: &[String], values: &std::collections::BTreeMap<String, i64>, out: &mut String) {
    writeln!(out, "/// An error the kernel returned for an invocation (`seL4_Error`).\n#[repr(u64)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum Error {{").unwrap();
    let real: Vec<_> = names.iter().filter(|n| *n != "seL4_NoError" && *n != "seL4_NumErrors").collect();
    for n in &real {
        writeln!(out, "    /// `{n}`.\n    {} = {},", n.trim_start_matches("seL4_"), values[*n]).unwrap();
    }
    writeln!(out, "}}\nimpl Error {{\n    /// The error for a non-zero reply label, if it names one.\n    pub fn from_label(label: u64) -> Option<Self> {{\n        match label {{").unwrap();
    for n in &real {
        writeln!(out, "            {} => Some(Error::{}),", values[*n], n.trim_start_matches("seL4_"))
            .unwrap();
    }
    writeln!(out, "            _ => None,\n        }}\n    }}\n}}").unwrap();
}

fn emit_enum(
    ty: &str,
    doc: &str,
    prefix: &str,
    names: &[String],
    values: &std::collections::BTreeMap<String, i64>,
    out: &mut String,
) {
    writeln!(out, "/// {doc}\n#[allow(non_camel_case_types)]\n#[repr(u64)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum {ty} {{").unwrap();
    for n in names.iter().filter(|n| !n.ends_with("Count")) {
        writeln!(out, "    /// `{n}`.\n    {} = {},", camel(n, prefix), values[n]).unwrap();
    }
    writeln!(out, "}}").unwrap();
}

fn emit_consts(names: &[String], values: &std::collections::BTreeMap<String, i64>, out: &mut String) {
    for n in names {
        let v = values[n];
        if v < 0 {
            writeln!(out, "/// `{n}`.\npub const {}: i64 = {v};", screaming(n)).unwrap();
        } else {
            writeln!(out, "/// `{n}`.\npub const {}: usize = {v};", screaming(n)).unwrap();
        }
    }
}

fn emit_syscalls(xml_path: &Path, headers: &cc::Headers, out: &mut String) {
    let text = std::fs::read_to_string(xml_path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut items = Vec::new();
    let mut number = -1i64;
    for config in doc.descendants().filter(|n| n.has_tag_name("config")) {
        let cond = config.attribute("condition").map(str::to_string);
        for s in config.children().filter(|n| n.has_tag_name("syscall")) {
            items.push((s.attribute("name").unwrap().to_string(), cond.clone(), number.to_string()));
            number -= 1;
        }
    }
    let present = headers.evaluate(PRELUDE, &items, "syscalls");
    writeln!(out, "/// System call numbers compiled into this kernel.\n#[repr(i64)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum Syscall {{").unwrap();
    for (name, _, n) in &items {
        if present.contains_key(name) {
            writeln!(out, "    /// `seL4_Sys{name}`.\n    {name} = {n},").unwrap();
        }
    }
    writeln!(out, "}}").unwrap();
}

/// The register names of `seL4_UserContext`, in declaration order.
fn user_context_fields(types_h: &str) -> Vec<String> {
    let start = types_h.find("typedef struct seL4_UserContext_").expect("seL4_UserContext in types.h");
    let body = &types_h[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    let mut regs = Vec::new();
    for decl in body.split(';') {
        let decl: String =
            decl.lines().filter(|l| !l.trim_start().starts_with("/*")).collect::<Vec<_>>().join(" ");
        if let Some(rest) = decl.trim().strip_prefix("seL4_Word") {
            regs.extend(rest.split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()));
        }
    }
    regs
}

fn emit_user_context(regs: &[String], out: &mut String) {
    writeln!(out, "/// A thread's registers, in the order the kernel transfers them.\n#[repr(C)]\n#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]\npub struct UserContext {{").unwrap();
    for r in regs {
        writeln!(out, "    /// Register `{r}`.\n    pub {r}: u64,").unwrap();
    }
    writeln!(
        out,
        "}}\n/// Registers in `UserContext`.\npub const USER_CONTEXT_WORDS: usize = {};",
        regs.len()
    )
    .unwrap();
    writeln!(out, "impl UserContext {{\n    /// The registers as words, in transfer order.\n    pub fn to_words(&self) -> [u64; USER_CONTEXT_WORDS] {{\n        [").unwrap();
    for r in regs {
        writeln!(out, "            self.{r},").unwrap();
    }
    writeln!(out, "        ]\n    }}").unwrap();
    writeln!(out, "    /// Build from words in transfer order.\n    pub fn from_words(w: &[u64]) -> Self {{\n        UserContext {{").unwrap();
    for (i, r) in regs.iter().enumerate() {
        writeln!(out, "            {r}: w[{i}],").unwrap();
    }
    writeln!(out, "        }}\n    }}\n}}").unwrap();
}
