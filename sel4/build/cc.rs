//! Ask the C compiler what the kernel's headers mean for our configuration.
//!
//! libsel4's constants are C enums and macros guarded by `#ifdef CONFIG_...`;
//! rather than re-implementing the preprocessor, we let `cc` evaluate them:
//! `cc -E` lists the enumerators, `cc -S` turns each expression into a
//! `.quad` in assembly that we read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the headers of one arch live, and the compiler that reads them.
pub struct Headers {
    include_dirs: Vec<PathBuf>,
    out_dir: PathBuf,
}

impl Headers {
    pub fn new(libsel4: &Path, arch: &crate::Arch, config_dir: &Path, out_dir: &Path) -> Self {
        let include_dirs = vec![
            config_dir.to_path_buf(),
            libsel4.join("include"),
            libsel4.join("arch_include").join(arch.arch_dir),
            libsel4.join("sel4_arch_include").join(arch.sel4_arch_dir),
            libsel4.join("sel4_plat_include").join(arch.plat_dir),
        ];
        Headers { include_dirs, out_dir: out_dir.to_path_buf() }
    }

    fn cc(&self, source: &str, name: &str, mode: &str) -> String {
        let src = self.out_dir.join(format!("{name}.c"));
        std::fs::write(&src, source).expect("write C probe");
        let cc = std::env::var("HOST_CC").unwrap_or_else(|_| "cc".into());
        let mut cmd = Command::new(&cc);
        cmd.args([mode, "-P", "-o", "-", "-DHAVE_AUTOCONF", "-nostdinc"]);
        for dir in &self.include_dirs {
            cmd.arg("-I").arg(dir);
        }
        let out = cmd.arg(&src).output().unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        if !out.status.success() {
            panic!("{cc} {mode} {} failed:\n{}", src.display(), String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8(out.stdout).expect("cc output is UTF-8")
    }

    /// Preprocess `source` and return the names of every `seL4_*`
    /// enumerator it declares, in order.
    pub fn enumerators(&self, source: &str, name: &str) -> Vec<String> {
        let text = self.cc(source, name, "-E");
        let mut names = Vec::new();
        let mut rest = text.as_str();
        while let Some(pos) = rest.find("enum") {
            rest = &rest[pos + 4..];
            let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else { break };
            if open > close || rest[..open].contains(';') {
                continue;
            }
            for item in rest[open + 1..close].split(',') {
                let ident = item.split('=').next().unwrap_or("").trim();
                if ident.starts_with("seL4_") {
                    names.push(ident.to_string());
                }
            }
            rest = &rest[close..];
        }
        names
    }

    /// Evaluate `(key, condition, expression)` triples after `prelude`.
    /// Keys whose condition is false are absent from the result.
    pub fn evaluate(
        &self,
        prelude: &str,
        items: &[(String, Option<String>, String)],
        name: &str,
    ) -> BTreeMap<String, i64> {
        let mut source = String::from(prelude);
        for (key, cond, expr) in items {
            if let Some(c) = cond {
                source.push_str(&format!("#if {c}\n"));
            }
            source.push_str(&format!("const long long probe_{key} = (long long)({expr});\n"));
            if cond.is_some() {
                source.push_str("#endif\n");
            }
        }
        let asm = self.cc(&source, name, "-S");
        parse_asm(&asm)
    }
}

/// Read `probe_KEY:` labels followed by `.quad N` (or `.zero 8` for 0).
fn parse_asm(asm: &str) -> BTreeMap<String, i64> {
    let mut values = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in asm.lines().map(str::trim) {
        if let Some(label) = line.strip_suffix(':').and_then(|l| l.strip_prefix("probe_")) {
            current = Some(label.to_string());
            continue;
        }
        let Some(key) = current.take() else { continue };
        let mut words = line.split_whitespace();
        let value = match (words.next(), words.next()) {
            (Some(".quad" | ".xword" | ".8byte"), Some(v)) => v.parse().expect("integer constant"),
            (Some(".zero"), Some(_)) => 0,
            _ => panic!("unexpected assembly after probe_{key}: {line}"),
        };
        values.insert(key, value);
    }
    values
}
