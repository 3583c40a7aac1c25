//! Load the embedded images and hand over to the kernel.

use core::cell::UnsafeCell;
use core::panic::PanicInfo;

use elf::abi::{EM_AARCH64, PT_LOAD};
use elf::endian::LittleEndian;
use elf::segment::ProgramHeader;
use elf::ElfBytes;

use crate::arch;
use crate::layout::{self, Range, KERNEL_PHYS_BASE, KERNEL_RAM_END, KERNEL_VIRT_BASE};
use crate::mmu::{self, Tables};
use crate::uart::log;

static KERNEL_ELF: &[u8] = include_bytes!(env!("LOADER_KERNEL_ELF"));
static ROOT_TASK_ELF: &[u8] = include_bytes!(env!("LOADER_ROOT_TASK_ELF"));

/// The translation tables, in .bss: zeroed by _start, and above the kernel's
/// RAM like all of the loader.
struct TablesCell(UnsafeCell<Tables>);
// SAFETY: one CPU runs the loader; the tables are borrowed once (loader_main).
unsafe impl Sync for TablesCell {}
static TABLES: TablesCell = TablesCell(UnsafeCell::new(Tables::new()));

type Elf<'a> = ElfBytes<'a, LittleEndian>;

#[unsafe(no_mangle)]
extern "C" fn loader_main(entry_el: u64) -> ! {
    log!("entered at EL{entry_el}, running at EL1");

    // SAFETY: single CPU, and this is the only reference ever made to TABLES.
    let tables = unsafe { &mut *TABLES.0.get() };
    let (ttbr0, ttbr1) = tables.build();
    arch::enable_mmu(mmu::MAIR_EL1, mmu::tcr_el1(arch::id_aa64mmfr0()), ttbr0, ttbr1);

    let kernel = parse("kernel", KERNEL_ELF);
    let kernel_phys = span(&kernel, |ph| ph.p_paddr);
    layout::check_kernel(kernel_phys).unwrap_or_else(|e| fatal(format_args!("{e}")));
    for ph in loads(&kernel) {
        if ph.p_vaddr.wrapping_sub(ph.p_paddr) != KERNEL_VIRT_BASE - KERNEL_PHYS_BASE {
            fatal(format_args!("kernel segment at {:#x} is not in the kernel window", ph.p_vaddr));
        }
        copy_segment(&kernel, &ph, ph.p_paddr);
    }

    let root = parse("root task", ROOT_TASK_ELF);
    let image = layout::place_user_image(kernel_phys.end, span(&root, |ph| ph.p_vaddr))
        .unwrap_or_else(|e| fatal(format_args!("{e}")));
    // Zero the whole image first: gaps between segments must not leak data.
    ram(image.phys).fill(0);
    for ph in loads(&root) {
        copy_segment(&root, &ph, image.phys_of(ph.p_vaddr));
    }
    arch::sync_caches(KERNEL_PHYS_BASE, image.phys.end);

    log!(
        "kernel {:#x}..{:#x}, root task {:#x}..{:#x} (virtual {:#x}..{:#x}, entry {:#x})",
        kernel_phys.start,
        kernel_phys.end,
        image.phys.start,
        image.phys.end,
        image.virt.start,
        image.virt.end,
        root.ehdr.e_entry
    );
    arch::enter_kernel(
        kernel.ehdr.e_entry,
        [image.phys.start, image.phys.end, image.pv_offset() as u64, root.ehdr.e_entry],
    )
}

fn parse<'a>(what: &str, bytes: &'a [u8]) -> Elf<'a> {
    let file =
        Elf::minimal_parse(bytes).unwrap_or_else(|e| fatal(format_args!("{what}: not an ELF file: {e:?}")));
    if file.ehdr.e_machine != EM_AARCH64 || file.ehdr.class != elf::file::Class::ELF64 {
        fatal(format_args!("{what}: not an AArch64 ELF64 image"));
    }
    if loads(&file).next().is_none() {
        fatal(format_args!("{what}: no PT_LOAD segment"));
    }
    file
}

fn loads<'a>(file: &Elf<'a>) -> impl Iterator<Item = ProgramHeader> + 'a {
    file.segments().into_iter().flatten().filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0)
}

/// The range covered by the loadable segments, at `addr(ph)` each.
fn span(file: &Elf, addr: impl Fn(&ProgramHeader) -> u64) -> Range {
    loads(file)
        .map(|ph| Range { start: addr(&ph), end: addr(&ph).saturating_add(ph.p_memsz) })
        .reduce(Range::union)
        .expect("parse checked there is a PT_LOAD segment")
}

/// Copy one segment to physical `dest`, zero-filling its tail (.bss).
fn copy_segment(file: &Elf, ph: &ProgramHeader, dest: u64) {
    let data = file
        .segment_data(ph)
        .unwrap_or_else(|e| fatal(format_args!("bad segment at {:#x}: {e:?}", ph.p_vaddr)));
    if ph.p_filesz > ph.p_memsz {
        fatal(format_args!("segment at {:#x} has filesz > memsz", ph.p_vaddr));
    }
    let target = ram(Range { start: dest, end: dest.saturating_add(ph.p_memsz) });
    let (file_part, zero_part) = target.split_at_mut(data.len());
    file_part.copy_from_slice(data);
    zero_part.fill(0);
}

/// Physical memory for the images: only inside the RAM the kernel manages,
/// which holds nothing of the loader's (link.ld places it above).
fn ram(range: Range) -> &'static mut [u8] {
    let allowed = Range { start: KERNEL_PHYS_BASE, end: KERNEL_RAM_END };
    if !allowed.contains(range) {
        fatal(format_args!("{:#x}..{:#x} is outside the kernel's RAM", range.start, range.end));
    }
    // SAFETY: identity-mapped normal RAM, checked above to be disjoint from
    // the loader's own image, tables and stack; one writer, one CPU.
    unsafe { core::slice::from_raw_parts_mut(range.start as *mut u8, (range.end - range.start) as usize) }
}

fn fatal(why: core::fmt::Arguments) -> ! {
    log!("FATAL: {why}");
    arch::halt()
}

#[unsafe(no_mangle)]
extern "C" fn loader_exception(kind: u64) -> ! {
    let (esr, elr, far) = arch::exception_registers();
    fatal(format_args!("exception {kind} (ESR {esr:#x}, ELR {elr:#x}, FAR {far:#x})"))
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    fatal(format_args!("{info}"))
}
