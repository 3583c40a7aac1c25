//! A QEMU TCG plugin that counts the guest instructions executed per
//! (phase, guest pc), the phase being set by marker instructions that the
//! guest executes.
//!
//! Markers (architectural no-ops, never counted themselves):
//! * x86_64: `nopl disp32(%rax)`, bytes `0F 1F 80 d0 d1 d2 d3`, with the
//!   little-endian disp32 equal to `0x5E14_5E00 | id`;
//! * AArch64: `MOVZ XZR, #imm16`, word `0xD280001F | (imm16 << 5)`, with
//!   `imm16 = 0xE500 | id`.
//!
//! Phase 0 (the initial one) means "not measuring". Markers with ids 1 to
//! [`LAST_OPENING`] open a measured window (a client about to call), and
//! its marker 0 closes it; within a window, any marker makes its id the
//! current phase (a server's phases of that call), while outside one the
//! markers of ids above [`LAST_OPENING`] are ignored (the server's work for
//! calls nobody measures). Each marker that takes effect counts one entry
//! into its phase; every other instruction executed while the phase is not
//! 0 adds 1 to `counts[(phase, pc)]`.
//!
//! Arguments (QEMU 7.2 syntax): `-plugin libqemu_profile_plugin.so,out=FILE,arch=x86_64|aarch64`.
//! At exit the plugin writes FILE:
//!
//! ```text
//! # qemu-profile-plugin v1 arch=x86_64
//! enter <id> <times>
//! count <id> <pc as 0x-hex> <n>
//! ```
//!
//! `enter` lines for every id whose marker executed, by id; `count` lines by
//! phase, then pc.

// The crate is the boundary with QEMU's C plugin API: exported symbols,
// raw pointers from QEMU and calls into it are unsafe by nature.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The last marker id that opens a measured window.
pub const LAST_OPENING: u8 = 15;

/// Whether marker `id` changes the phase from `now`: it opens or closes a
/// window, or a window is open.
pub fn takes_effect(now: u8, id: u8) -> bool {
    id <= LAST_OPENING || now != 0
}

/// Which marker encoding the guest uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `nopl 0x5E145Exx(%rax)`.
    X86_64,
    /// `movz xzr, #0xE5xx`.
    Aarch64,
}

impl Arch {
    /// The name used in the `arch=` argument, the output header and QEMU's
    /// `target_name`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The marker id if `bytes` (one whole instruction) is a marker.
    pub fn marker_id(self, bytes: &[u8]) -> Option<u8> {
        match self {
            Arch::X86_64 => {
                let [0x0F, 0x1F, 0x80, d0, d1, d2, d3] = *bytes else {
                    return None;
                };
                let disp = u32::from_le_bytes([d0, d1, d2, d3]);
                (disp & 0xFFFF_FF00 == 0x5E14_5E00).then_some(disp as u8)
            }
            Arch::Aarch64 => {
                let word = u32::from_le_bytes(bytes.try_into().ok()?);
                // MOVZ Xd, #imm16 (sf=1, hw=0) is 0xD2800000 | imm16 << 5 | Rd;
                // Rd = 31 (XZR), imm16 = 0xE500 | id: id sits in bits 5..=12.
                const ID_BITS: u32 = 0xFF << 5;
                const FIXED: u32 = 0xD280_001F | (0xE500 << 5);
                (word & !ID_BITS == FIXED).then_some((word >> 5) as u8)
            }
        }
    }
}

/// The plugin's arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    /// `out=`: the file written at exit.
    pub out: String,
    /// `arch=`: the marker encoding.
    pub arch: Arch,
}

/// Parses the plugin's `key=value` arguments (`out=` and `arch=`, both
/// required, each once).
pub fn parse_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Config, String> {
    let (mut out, mut arch) = (None, None);
    for arg in args {
        let (key, value) = arg.split_once('=').ok_or_else(|| format!("argument '{arg}' is not key=value"))?;
        let slot_taken = match key {
            "out" if value.is_empty() => return Err("out= needs a file name".into()),
            "out" => out.replace(value.to_owned()).is_some(),
            "arch" => {
                let a = match value {
                    "x86_64" => Arch::X86_64,
                    "aarch64" => Arch::Aarch64,
                    _ => return Err(format!("arch={value}: expected arch=x86_64 or arch=aarch64")),
                };
                arch.replace(a).is_some()
            }
            _ => return Err(format!("unknown argument '{arg}' (expected out=FILE and arch=x86_64|aarch64)")),
        };
        if slot_taken {
            return Err(format!("{key}= given twice"));
        }
    }
    Ok(Config { out: out.ok_or("missing out=FILE")?, arch: arch.ok_or("missing arch=x86_64|aarch64")? })
}

/// Slots per chunk of a phase's counters.
const CHUNK: usize = 1024;
/// Chunks per phase: at most `CHUNK * CHUNKS` (16 Mi) distinct pcs are counted.
const CHUNKS: usize = 16 * 1024;

/// One phase's counters, a counter per slot, allocated by chunk on first use
/// and never moved, so that counting needs no lock.
struct PhaseCounts {
    chunks: Box<[OnceLock<Box<[AtomicU64; CHUNK]>>]>,
}

/// What the exec callbacks accumulate. A pc's counters are found by its
/// slot, an index given out at translation time (the callback's userdata).
pub struct Counts {
    /// Slot of each pc seen so far, and pc of each slot (translation only).
    slots: Mutex<(HashMap<u64, usize>, Vec<u64>)>,
    /// Per phase, its counters (phase 0's stay unallocated).
    phases: Box<[OnceLock<Box<PhaseCounts>>]>,
    /// Per id, how many times its marker executed.
    enters: [AtomicU64; 256],
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            slots: Mutex::default(),
            phases: std::iter::repeat_with(OnceLock::new).take(256).collect(),
            enters: [const { AtomicU64::new(0) }; 256],
        }
    }
}

/// A lock that a panicking holder (none is expected) does not make unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Counts {
    /// The slot of `pc`, given out on first sight; `None` once all
    /// `CHUNK * CHUNKS` slots are taken.
    pub fn slot(&self, pc: u64) -> Option<usize> {
        let mut guard = lock(&self.slots);
        let (slot_of, pcs) = &mut *guard;
        if let Some(&slot) = slot_of.get(&pc) {
            return Some(slot);
        }
        if pcs.len() == CHUNK * CHUNKS {
            return None;
        }
        pcs.push(pc);
        slot_of.insert(pc, pcs.len() - 1);
        Some(pcs.len() - 1)
    }

    /// One execution of the marker for `id`.
    pub fn enter(&self, id: u8) {
        self.enters[usize::from(id)].fetch_add(1, Ordering::Relaxed);
    }

    /// One execution, in `phase`, of the instruction in `slot` (from
    /// [`Counts::slot`]).
    ///
    /// A load and a store, not an atomic add: this runs for every guest
    /// instruction, and a locked add would cost as much as the rest. Exact
    /// on one vCPU; with several (MTTCG) two simultaneous increments of one
    /// counter could make one.
    pub fn count(&self, phase: u8, slot: usize) {
        let phase = self.phases[usize::from(phase)].get_or_init(|| {
            Box::new(PhaseCounts { chunks: std::iter::repeat_with(OnceLock::new).take(CHUNKS).collect() })
        });
        let chunk = phase.chunks[slot / CHUNK].get_or_init(|| Box::new([const { AtomicU64::new(0) }; CHUNK]));
        let counter = &chunk[slot % CHUNK];
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The output file's text.
    pub fn render(&self, arch: Arch) -> String {
        let mut text = format!("# qemu-profile-plugin v1 arch={}\n", arch.name());
        for (id, times) in self.enters.iter().enumerate() {
            let times = times.load(Ordering::Relaxed);
            if times != 0 {
                let _ = writeln!(text, "enter {id} {times}");
            }
        }
        let pcs = &lock(&self.slots).1;
        for (phase, counts) in self.phases.iter().enumerate() {
            let Some(counts) = counts.get() else { continue };
            let mut rows: Vec<(u64, u64)> = Vec::new();
            for (c, chunk) in counts.chunks.iter().enumerate() {
                let Some(chunk) = chunk.get() else { continue };
                for (i, n) in chunk.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
                    if n != 0 {
                        rows.push((pcs[c * CHUNK + i], n));
                    }
                }
            }
            rows.sort_unstable();
            for (pc, n) in rows {
                let _ = writeln!(text, "count {phase} {pc:#x} {n}");
            }
        }
        text
    }
}

/// The QEMU entry points; not in unit tests, whose executable has no QEMU
/// to resolve the `qemu_plugin_*` functions against.
#[cfg(not(test))]
mod ffi {
    use super::{lock, parse_args, Arch, Counts};
    use qemu_plugin_sys as q;
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
    use std::fs::File;
    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Mutex, OnceLock};

    /// The plugin's state, set once by `qemu_plugin_install`.
    struct Plugin {
        arch: Arch,
        /// The current phase.
        phase: AtomicU8,
        counts: Counts,
        /// Whether some instruction went uncounted for want of a slot.
        full: AtomicBool,
        /// Created at install (so a bad path fails at once), written at exit.
        out: Mutex<Option<(String, File)>>,
    }

    static PLUGIN: OnceLock<Plugin> = OnceLock::new();

    /// The plugin API version this plugin is built against, which QEMU
    /// checks before calling `qemu_plugin_install` (QEMU 7.2: 1).
    // SAFETY: QEMU looks this symbol up by name; no other symbol has it.
    #[unsafe(no_mangle)]
    #[allow(non_upper_case_globals)]
    pub static qemu_plugin_version: c_int = q::QEMU_PLUGIN_VERSION as c_int;

    /// Called by QEMU once, when loading the plugin: parses the arguments,
    /// creates the output file and registers the callbacks. Nonzero (after
    /// a message on stderr) makes QEMU refuse to start.
    ///
    /// # Safety
    /// Only QEMU calls this: `info` points to a valid `qemu_info_t` and
    /// `argv` to `argc` NUL-terminated strings, all valid for the call.
    // SAFETY: the entry point QEMU looks up by name; no other symbol has it.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn qemu_plugin_install(
        id: q::qemu_plugin_id_t,
        info: *const q::qemu_info_t,
        argc: c_int,
        argv: *mut *mut c_char,
    ) -> c_int {
        let argc = usize::try_from(argc).unwrap_or(0);
        let args: Vec<String> = (0..argc)
            .map(|i| {
                // SAFETY: QEMU passes argc valid C strings in argv.
                unsafe { CStr::from_ptr(*argv.add(i)) }.to_string_lossy().into_owned()
            })
            .collect();
        let config = match parse_args(args.iter().map(String::as_str)) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("qemu-profile-plugin: {e}");
                eprintln!("qemu-profile-plugin: usage: -plugin libqemu_profile_plugin.so,out=FILE,arch=x86_64|aarch64");
                return 1;
            }
        };
        // SAFETY: QEMU passes a valid qemu_info_t whose target_name is a C
        // string (or null), valid for the call.
        let target = unsafe { info.as_ref() }
            .filter(|info| !info.target_name.is_null())
            // SAFETY: non-null target_name, a C string (above).
            .map(|info| unsafe { CStr::from_ptr(info.target_name) }.to_string_lossy());
        if let Some(target) = target {
            if target != config.arch.name() {
                eprintln!("qemu-profile-plugin: arch={} but QEMU emulates {target}", config.arch.name());
                return 1;
            }
        }
        let file = match File::create(&config.out) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("qemu-profile-plugin: cannot create {}: {e}", config.out);
                return 1;
            }
        };
        let plugin = Plugin {
            arch: config.arch,
            phase: AtomicU8::new(0),
            counts: Counts::default(),
            full: AtomicBool::new(false),
            out: Mutex::new(Some((config.out, file))),
        };
        if PLUGIN.set(plugin).is_err() {
            eprintln!("qemu-profile-plugin: loaded twice in one QEMU");
            return 1;
        }
        // SAFETY: plain registrations with this plugin's id and callbacks of
        // the types the API expects.
        unsafe {
            q::qemu_plugin_register_vcpu_tb_trans_cb(id, Some(on_translate));
            q::qemu_plugin_register_atexit_cb(id, Some(on_exit), std::ptr::null_mut());
        }
        0
    }

    /// Translation of a block: an exec callback on each instruction, the
    /// marker's (userdata: its id) or the counter's (userdata: the pc's slot).
    unsafe extern "C" fn on_translate(_id: q::qemu_plugin_id_t, tb: *mut q::qemu_plugin_tb) {
        let Some(plugin) = PLUGIN.get() else { return };
        // SAFETY: tb is the handle QEMU passed for this callback.
        let n = unsafe { q::qemu_plugin_tb_n_insns(tb) };
        for i in 0..n {
            // SAFETY: i < n, the block's instruction count.
            let insn = unsafe { q::qemu_plugin_tb_get_insn(tb, i) };
            // SAFETY: insn is a valid handle for the duration of this callback.
            let (data, size, pc) = unsafe {
                (
                    q::qemu_plugin_insn_data(insn).cast::<u8>(),
                    q::qemu_plugin_insn_size(insn),
                    q::qemu_plugin_insn_vaddr(insn),
                )
            };
            let bytes: &[u8] = if data.is_null() {
                &[]
            } else {
                // SAFETY: QEMU's insn data is `size` bytes, valid during this
                // callback; the slice does not outlive it.
                unsafe { std::slice::from_raw_parts(data, size) }
            };
            let (callback, userdata): (unsafe extern "C" fn(c_uint, *mut c_void), usize) =
                match plugin.arch.marker_id(bytes) {
                    Some(marker) => (on_marker, usize::from(marker)),
                    None => match plugin.counts.slot(pc) {
                        Some(slot) => (on_insn, slot),
                        None => {
                            if !plugin.full.swap(true, Ordering::Relaxed) {
                                eprintln!("qemu-profile-plugin: too many distinct pcs, some not counted");
                            }
                            continue;
                        }
                    },
                };
            // SAFETY: insn is valid during this callback; the userdata is a
            // plain integer, never dereferenced.
            unsafe {
                q::qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    Some(callback),
                    q::qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                    std::ptr::without_provenance_mut(userdata),
                );
            }
        }
    }

    /// A marker executes: its id (userdata) becomes the phase if it opens
    /// or closes a window, or if a window is open.
    unsafe extern "C" fn on_marker(_vcpu: c_uint, userdata: *mut c_void) {
        let Some(plugin) = PLUGIN.get() else { return };
        let id = userdata.addr() as u8;
        if super::takes_effect(plugin.phase.load(Ordering::Relaxed), id) {
            plugin.counts.enter(id);
            plugin.phase.store(id, Ordering::Relaxed);
        }
    }

    /// Any other instruction executes: counted in the current phase unless 0.
    unsafe extern "C" fn on_insn(_vcpu: c_uint, userdata: *mut c_void) {
        let Some(plugin) = PLUGIN.get() else { return };
        let phase = plugin.phase.load(Ordering::Relaxed);
        if phase != 0 {
            plugin.counts.count(phase, userdata.addr());
        }
    }

    /// QEMU exits: the counts go to the output file.
    unsafe extern "C" fn on_exit(_id: q::qemu_plugin_id_t, _userdata: *mut c_void) {
        let Some(plugin) = PLUGIN.get() else { return };
        let Some((path, mut file)) = lock(&plugin.out).take() else { return };
        let text = plugin.counts.render(plugin.arch);
        if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
            eprintln!("qemu-profile-plugin: cannot write {path}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_markers_count_only_inside_a_window() {
        assert!(takes_effect(0, 1), "a client's marker opens");
        assert!(!takes_effect(0, 21), "a server's marker alone does not");
        assert!(takes_effect(1, 21) && takes_effect(21, 25));
        assert!(takes_effect(25, 0), "and 0 closes");
    }

    #[test]
    fn x86_markers() {
        let a = Arch::X86_64;
        assert_eq!(a.marker_id(&[0x0F, 0x1F, 0x80, 0x07, 0x5E, 0x14, 0x5E]), Some(7));
        assert_eq!(a.marker_id(&[0x0F, 0x1F, 0x80, 0x00, 0x5E, 0x14, 0x5E]), Some(0));
        assert_eq!(a.marker_id(&[0x0F, 0x1F, 0x80, 0xFF, 0x5E, 0x14, 0x5E]), Some(255));
        // Another displacement, another ModRM, a prefix, a short NOP.
        assert_eq!(a.marker_id(&[0x0F, 0x1F, 0x80, 0x07, 0x5F, 0x14, 0x5E]), None);
        assert_eq!(a.marker_id(&[0x0F, 0x1F, 0x81, 0x07, 0x5E, 0x14, 0x5E]), None);
        assert_eq!(a.marker_id(&[0x66, 0x0F, 0x1F, 0x80, 0x07, 0x5E, 0x14, 0x5E]), None);
        assert_eq!(a.marker_id(&[0x90]), None);
        assert_eq!(a.marker_id(&[]), None);
    }

    #[test]
    fn aarch64_markers() {
        let a = Arch::Aarch64;
        let word = |imm16: u32| (0xD280_001F | (imm16 << 5)).to_le_bytes();
        assert_eq!(a.marker_id(&word(0xE501)), Some(1));
        assert_eq!(a.marker_id(&word(0xE500)), Some(0));
        assert_eq!(a.marker_id(&word(0xE5FF)), Some(255));
        assert_eq!(a.marker_id(&word(0xE601)), None);
        // movz x0, #0xe501 (Rd = 0); movz wzr (sf = 0); movz xzr, lsl #16.
        assert_eq!(a.marker_id(&(0xD280_0000u32 | (0xE501 << 5)).to_le_bytes()), None);
        assert_eq!(a.marker_id(&(0x5280_001Fu32 | (0xE501 << 5)).to_le_bytes()), None);
        assert_eq!(a.marker_id(&(0xD2A0_001Fu32 | (0xE501 << 5)).to_le_bytes()), None);
        assert_eq!(a.marker_id(&0xD503_201Fu32.to_le_bytes()), None); // nop
    }

    #[test]
    fn args() {
        assert_eq!(
            parse_args(["out=/tmp/x", "arch=aarch64"]),
            Ok(Config { out: "/tmp/x".into(), arch: Arch::Aarch64 })
        );
        assert_eq!(
            parse_args(["arch=x86_64", "out=a=b"]),
            Ok(Config { out: "a=b".into(), arch: Arch::X86_64 })
        );
        for bad in [
            &["arch=x86_64"][..],
            &["out=/tmp/x"],
            &["out=", "arch=x86_64"],
            &["out=/tmp/x", "arch=riscv"],
            &["out=/tmp/x", "arch=x86_64", "arch=x86_64"],
            &["out=/tmp/x", "arch=x86_64", "verbose"],
            &["out=/tmp/x", "arch=x86_64", "mode=1"],
        ] {
            assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counting_and_output() {
        let c = Counts::default();
        let (a, b) = (c.slot(0x2000).unwrap(), c.slot(0x1000).unwrap());
        assert_eq!(c.slot(0x2000), Some(a));
        c.count(3, a);
        c.enter(3);
        c.count(3, b);
        c.count(3, b);
        c.enter(1);
        c.enter(1);
        let late = c.slot(0x1800).unwrap();
        c.count(1, late);
        c.count(1, a);
        c.enter(0);
        assert_eq!(
            c.render(Arch::X86_64),
            "# qemu-profile-plugin v1 arch=x86_64\n\
             enter 0 1\nenter 1 2\nenter 3 1\n\
             count 1 0x1800 1\ncount 1 0x2000 1\n\
             count 3 0x1000 2\ncount 3 0x2000 1\n"
        );
        assert_eq!(Counts::default().render(Arch::Aarch64), "# qemu-profile-plugin v1 arch=aarch64\n");
    }
}
