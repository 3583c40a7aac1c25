//! Invocation labels and marshalling stubs from libsel4's interface XML.
//!
//! Labels are numbered as the kernel's own generator numbers them: the
//! generic interface file first (label 0 is `InvalidInvocation`), then the
//! sel4_arch file, then the arch file, each method in document order, and a
//! method whose `condition` is false for our configuration takes no number.
//! Arguments are packed as libsel4's stub generator packs them: each one
//! aligned to the smaller of its size and a word, caps as extra caps.

use std::fmt::Write;

pub struct Param {
    pub name: String,
    pub ty: String,
}

pub struct Method {
    pub interface: String,
    pub id: String,
    pub name: String,
    pub condition: Option<String>,
    pub inputs: Vec<Param>,
    pub outputs: Vec<Param>,
}

pub fn parse(xml: &str) -> Vec<Method> {
    let doc = roxmltree::Document::parse(xml).expect("interface XML parses");
    let mut methods = Vec::new();
    for iface in doc.descendants().filter(|n| n.has_tag_name("interface")) {
        let interface = iface.attribute("name").expect("interface name").to_string();
        for m in iface.children().filter(|n| n.has_tag_name("method")) {
            let params = |dir: &str| {
                m.children()
                    .filter(|p| p.has_tag_name("param") && p.attribute("dir") == Some(dir))
                    .map(|p| Param {
                        name: p.attribute("name").expect("param name").to_string(),
                        ty: p.attribute("type").expect("param type").to_string(),
                    })
                    .collect()
            };
            methods.push(Method {
                interface: interface.clone(),
                id: m.attribute("id").expect("method id").to_string(),
                name: m.attribute("name").expect("method name").to_string(),
                condition: m.attribute("condition").map(str::to_string),
                inputs: params("in"),
                outputs: params("out"),
            });
        }
    }
    methods
}

/// How a parameter of a given XML type travels.
enum Kind {
    /// Packed into message words: Rust type and size in bits.
    Value(&'static str, u32),
    /// A structure of whole words.
    Words(&'static str, u32),
    /// A capability, sent as an extra cap.
    Cap,
}

fn kind(ty: &str, user_context_words: u32) -> Option<Kind> {
    Some(match ty {
        "seL4_Word"
        | "seL4_Uint64"
        | "int"
        | "seL4_CapRights_t"
        | "seL4_CapData_t"
        | "seL4_PrioProps_t"
        | "seL4_X86_VMAttributes"
        | "seL4_ARM_VMAttributes" => Kind::Value("u64", 64),
        "seL4_Uint32" => Kind::Value("u32", 32),
        "seL4_Uint16" => Kind::Value("u16", 16),
        "seL4_Uint8" => Kind::Value("u8", 8),
        "seL4_Bool" => Kind::Value("bool", 8),
        "seL4_UserContext" => Kind::Words("UserContext", user_context_words * 64),
        t if t.starts_with("seL4_") && !t.ends_with("_t") => Kind::Cap,
        _ => return None,
    })
}

fn rust_ident(name: &str) -> String {
    let snake = crate::snake(name);
    match snake.as_str() {
        "type" | "ref" | "move" | "fn" | "in" | "self" => format!("{snake}_"),
        _ => snake,
    }
}

/// Position of each value parameter: (word index, bit shift).
fn positions(params: &[(&Param, Kind)]) -> (Vec<(usize, u32)>, u32) {
    let mut bits = 0u32;
    let mut out = Vec::new();
    for (_, k) in params {
        let size = match k {
            Kind::Value(_, s) | Kind::Words(_, s) => *s,
            Kind::Cap => continue,
        };
        let align = size.min(64);
        bits = bits.div_ceil(align) * align;
        out.push(((bits / 64) as usize, bits % 64));
        bits += size;
    }
    (out, bits.div_ceil(64))
}

/// Emit `InvocationLabel` and one stub per present method into `out`.
pub fn emit(methods: &[&Method], user_context_words: u32, out: &mut String) {
    writeln!(out, "/// Invocation labels of this kernel build, numbered as the kernel numbers them.")
        .unwrap();
    writeln!(out, "#[repr(u64)]\n#[derive(Copy, Clone, Debug, PartialEq, Eq)]\npub enum InvocationLabel {{")
        .unwrap();
    writeln!(out, "    /// Label 0: not a valid invocation.\n    InvalidInvocation = 0,").unwrap();
    for (i, m) in methods.iter().enumerate() {
        writeln!(out, "    /// `{}_{}`.\n    {} = {},", m.interface, m.name, m.id, i + 1).unwrap();
    }
    writeln!(out, "}}\n").unwrap();

    writeln!(out, "/// Raw invocation stubs: one per method, arguments packed as libsel4 packs them.")
        .unwrap();
    writeln!(
        out,
        "pub mod sys {{\n    #![allow(clippy::too_many_arguments, clippy::unnecessary_cast, unused_mut)]"
    )
    .unwrap();
    writeln!(out, "    use crate::{{CPtr, Error, InvocationLabel, UserContext, invoke}};").unwrap();
    'methods: for m in methods {
        let mut inputs = Vec::new();
        for p in &m.inputs {
            match kind(&p.ty, user_context_words) {
                Some(k) => inputs.push((p, k)),
                None => continue 'methods,
            }
        }
        let mut outputs = Vec::new();
        for p in &m.outputs {
            match kind(&p.ty, user_context_words) {
                Some(k @ (Kind::Value(..) | Kind::Words(..))) => outputs.push((p, k)),
                _ => continue 'methods,
            }
        }
        let fn_name =
            format!("{}_{}", crate::snake(m.interface.trim_start_matches("seL4_")), crate::snake(&m.name));
        let mut args = vec!["service: CPtr".to_string()];
        for (p, k) in &inputs {
            let ty = match k {
                Kind::Value(t, _) => t.to_string(),
                Kind::Words(t, _) => format!("&{t}"),
                Kind::Cap => "CPtr".into(),
            };
            args.push(format!("{}: {ty}", rust_ident(&p.name)));
        }
        let ret_types: Vec<String> = outputs
            .iter()
            .map(|(_, k)| match k {
                Kind::Value(t, _) | Kind::Words(t, _) => t.to_string(),
                Kind::Cap => unreachable!(),
            })
            .collect();
        let ret = match ret_types.len() {
            0 => "()".to_string(),
            1 => ret_types[0].clone(),
            _ => format!("({})", ret_types.join(", ")),
        };
        writeln!(out, "\n    /// `{}_{}` (label `{}`).", m.interface, m.name, m.id).unwrap();
        writeln!(out, "    pub fn {fn_name}({}) -> Result<{ret}, Error> {{", args.join(", ")).unwrap();

        let (pos, words) = positions(&inputs);
        writeln!(out, "        let mut mrs = [0u64; {words}];").unwrap();
        let mut vi = 0;
        let mut caps = Vec::new();
        for (p, k) in &inputs {
            let ident = rust_ident(&p.name);
            match k {
                Kind::Cap => caps.push(ident),
                Kind::Value(_, _) => {
                    let (w, s) = pos[vi];
                    vi += 1;
                    writeln!(out, "        mrs[{w}] |= ({ident} as u64) << {s};").unwrap();
                }
                Kind::Words(_, _) => {
                    let (w, _) = pos[vi];
                    vi += 1;
                    writeln!(
                        out,
                        "        mrs[{w}..{w} + {user_context_words}].copy_from_slice(&{ident}.to_words());"
                    )
                    .unwrap();
                }
            }
        }
        let (opos, owords) = positions(&outputs);
        writeln!(
            out,
            "        let reply = invoke::<{owords}>(service, InvocationLabel::{}, &mrs, &[{}])?;",
            m.id,
            caps.join(", ")
        )
        .unwrap();
        let mut vals = Vec::new();
        for ((_, k), (w, s)) in outputs.iter().zip(opos) {
            vals.push(match k {
                Kind::Value("bool", size) => format!("(reply[{w}] >> {s}) & ((1u64 << {size}) - 1) != 0"),
                Kind::Value(t, 64) => format!("reply[{w}] as {t}"),
                Kind::Value(t, size) => format!("((reply[{w}] >> {s}) & ((1u64 << {size}) - 1)) as {t}"),
                Kind::Words(t, _) => format!("{t}::from_words(&reply[{w}..{w} + {user_context_words}])"),
                Kind::Cap => unreachable!(),
            });
        }
        match vals.len() {
            0 => writeln!(out, "        let _ = reply;\n        Ok(())").unwrap(),
            1 => writeln!(out, "        Ok({})", vals[0]).unwrap(),
            _ => writeln!(out, "        Ok(({}))", vals.join(", ")).unwrap(),
        }
        writeln!(out, "    }}").unwrap();
    }
    writeln!(out, "}}").unwrap();
}
