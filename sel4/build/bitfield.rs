//! Read libsel4's bitfield specifications (`*.bf`) for the one-word blocks
//! we pack by hand (message info, cap rights, cap data) and the tags of the
//! tagged unions (fault types).

use std::fmt::Write;

/// One field of a block: its bit offset from the least significant bit.
pub struct Field {
    pub name: String,
    pub shift: u32,
    pub width: u32,
}

pub struct Block {
    pub name: String,
    pub fields: Vec<Field>,
}

pub struct Spec {
    pub blocks: Vec<Block>,
    pub tags: Vec<(String, String, u64)>,
}

/// A block being read: its name and its (field or padding, width) items.
type OpenBlock = (String, Vec<(Option<String>, u32)>);

/// Parse a `.bf` file. Fields are listed from the most significant bit down;
/// blocks wider than one word are skipped (we never pack them by hand).
pub fn parse(text: &str) -> Spec {
    let mut spec = Spec { blocks: Vec::new(), tags: Vec::new() };
    let mut base = 64u32;
    let mut block: Option<OpenBlock> = None;
    let mut union: Option<String> = None;
    for line in text.lines() {
        let line = line.split("--").next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["base", n, ..] => base = n.parse().expect("base width"),
            ["block", name, ..] => block = Some((name.trim_end_matches('{').to_string(), Vec::new())),
            ["tagged_union", name, ..] => union = Some(name.to_string()),
            ["padding", n] => {
                block.as_mut().expect("padding outside block").1.push((None, n.parse().unwrap()))
            }
            ["field", name, n] => {
                let b = block.as_mut().expect("field outside block");
                b.1.push((Some(name.to_string()), n.parse().unwrap()));
            }
            ["tag", name, v] => {
                let u = union.clone().expect("tag outside tagged_union");
                spec.tags.push((u, name.to_string(), v.parse().unwrap()));
            }
            ["}"] => {
                if let Some((name, items)) = block.take() {
                    let total: u32 = items.iter().map(|i| i.1).sum();
                    if total == base {
                        let mut shift = base;
                        let mut fields = Vec::new();
                        for (field, width) in items {
                            shift -= width;
                            if let Some(name) = field {
                                fields.push(Field { name, shift, width });
                            }
                        }
                        spec.blocks.push(Block { name, fields });
                    }
                }
                union = None;
            }
            _ => {}
        }
    }
    spec
}

/// Emit `pub mod <block> { pub const <FIELD>: BitField = ...; }` per block.
pub fn emit(spec: &Spec, wanted: &[(&str, &str)], out: &mut String) {
    for (block_name, module) in wanted {
        let block = spec
            .blocks
            .iter()
            .find(|b| b.name == *block_name)
            .unwrap_or_else(|| panic!("bitfield block {block_name} not found"));
        writeln!(out, "/// Fields of libsel4's `{block_name}` bitfield block.").unwrap();
        writeln!(out, "pub mod {module} {{").unwrap();
        writeln!(out, "    use crate::BitField;").unwrap();
        for f in &block.fields {
            writeln!(
                out,
                "    /// `{}`: bits {}..{}.\n    pub const {}: BitField = BitField {{ shift: {}, width: {} }};",
                f.name,
                f.shift,
                f.shift + f.width,
                crate::screaming(&f.name),
                f.shift,
                f.width
            )
            .unwrap();
        }
        writeln!(out, "}}").unwrap();
    }
}
