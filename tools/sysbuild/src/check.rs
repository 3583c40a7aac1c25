//! What a description must satisfy to be built: every name known and
//! unique, every start allowed, and every size fitting what the root task
//! has (its CNode's slots, the machine's memory, each arena).

use crate::desc::{DescError, Start, System};
use crate::gen::Embedded;
use libshm::layout::{
    memory_manager_heap_bytes, slots::FIRST_FREE, HEAP_MAX, LARGE_PAGE_SIZE, MAX_PROCESSES, PAGE_SIZE,
    ROOT_RESERVE_BITS, STACK_PAGES,
};
use libshm::protocol::{Budget, Capacity, Name, GENERATION_BITS};

/// log2 slots of the root task's CNode (the kernel's `ROOT_CNODE_SIZE_BITS`
/// on both arches).
pub const ROOT_CNODE_BITS: usize = 12;
/// Root-CNode slots taken before the root task runs: the kernel's initial
/// caps, at most `MAX_NUM_BOOTINFO_UNTYPED_CAPS` untypeds, and one frame
/// cap per page of the root task's own code (estimated, without programs).
const KERNEL_SLOTS: usize = 16 + 167 + ROOT_TASK_CODE_BYTES / PAGE_SIZE as usize;
const ROOT_TASK_CODE_BYTES: usize = 1 << 20;
/// Root-CNode slots the supervisor takes besides its arenas' (endpoints,
/// the memory manager's caller cap, the suite's own objects).
const SUPERVISOR_SLOTS: usize = 256;
/// Root-CNode slots each arena reserves (`root_task::process`).
const ARENA_SLOTS: usize = 16;
/// RAM a machine keeps from the untyped memory it hands the root task: the
/// kernel, its boot-time objects, the root task (on the smaller of the two
/// QEMU machines, 512 MiB on x86_64, 384 MiB are left).
pub const KEPT_RAM_BYTES: u64 = 128 << 20;
/// Cores of the largest kernel configuration (tools/kernel/build.sh); a
/// core below it but beyond the booted kernel's is refused at boot.
pub const MAX_CORES: u32 = 4;
/// The memory manager's first free slot.
const FIRST_FREE_SLOT: u64 = FIRST_FREE;
/// Slots the memory manager takes for itself before it serves (its heap's
/// paging structures, its scratch mappings; generous).
const MM_SETUP_SLOTS: u64 = 64;
/// Bytes of a CNode slot (`seL4_SlotBits` = 5).
const SLOT_BYTES: u64 = 32;
/// An arena's fixed objects: VSpace root, TCB, IPC buffer, info page and
/// the paging structures of image, stack and heap (generous).
const ARENA_FIXED_BYTES: u64 = 16 * PAGE_SIZE;
/// Priority of the root task's threads (`root_task::thread`): every process
/// runs below it, so the supervisor always gets to answer.
const SUPERVISOR_PRIORITY: u8 = 255;
/// The most restarts a policy may ask for: a generation must stay unique.
const MAX_RESTARTS: u32 = (1 << GENERATION_BITS) - 1;

/// Check `system`; `images` are the programs it embeds (their bytes, if
/// built, size the arenas' images).
pub fn check(system: &System, images: &[Embedded]) -> Result<(), DescError> {
    let spec = &system.spec;
    let sup = &spec.supervisor;
    let mm = &spec.memory_manager;
    let err = |entry: &str, message: String| Err(system.error(Some(entry.to_owned()), message));

    // Sizes of the supervisor and the memory manager.
    if sup.arenas == 0 || sup.arenas > MAX_PROCESSES - 1 {
        return err("[supervisor] arenas", format!("{} is not in 1..={}", sup.arenas, MAX_PROCESSES - 1));
    }
    for (entry, bits, range) in [
        ("[supervisor] arena_bits", sup.arena_bits, 16..=28),
        ("[supervisor] app_cnode_bits", sup.app_cnode_bits, 6..=16),
        ("[memory_manager] cnode_bits", mm.cnode_bits, 8..=22),
        ("[memory_manager] arena_bits", mm.arena_bits, 16..=28),
        ("[memory_manager] pool_bits", mm.pool_bits, 12..=28),
    ] {
        if !range.contains(&bits) {
            return err(entry, format!("{bits} is not in {}..={}", range.start(), range.end()));
        }
    }
    let pool = (mm.pool_count as u64) << mm.pool_bits;
    if mm.pool_count == 0 {
        return err("[memory_manager] pool_count", "the memory manager needs a pool".into());
    }
    let untyped =
        ((sup.arenas as u64) << sup.arena_bits) + (1 << mm.arena_bits) + pool + (1 << ROOT_RESERVE_BITS);
    let max_untyped = spec.ram.saturating_sub(KEPT_RAM_BYTES);
    if untyped > max_untyped {
        return err(
            "[supervisor]",
            format!(
                "arenas, the memory manager's arena and its pool take {} MiB of untyped memory; at most {} MiB fit \
                 in ram = {} MiB",
                untyped >> 20,
                max_untyped >> 20,
                spec.ram >> 20
            ),
        );
    }
    // On the smallest machine it is built for, the pool also takes what is
    // left (pool_rest), as the root task gives it.
    let pool = if mm.pool_rest {
        let limit = Capacity::pool_limit(1 << (mm.cnode_bits - 1)) >> mm.pool_bits << mm.pool_bits;
        ((max_untyped - untyped + pool) >> mm.pool_bits << mm.pool_bits).min(limit).max(pool)
    } else {
        pool
    };
    let embedded_bytes: u64 = images.iter().map(|i| i.bytes.as_ref().map_or(0, |b| b.len() as u64)).sum();
    let slots = KERNEL_SLOTS
        + embedded_bytes.div_ceil(PAGE_SIZE) as usize
        + sup.arenas
        + (sup.arenas + 1) * ARENA_SLOTS
        + pool_caps(mm)
        + MAX_PROCESSES
        + SUPERVISOR_SLOTS;
    if slots > 1 << ROOT_CNODE_BITS {
        return err(
            "[supervisor]",
            format!(
                "the root task would need about {slots} slots of its CNode (the embedded programs take one per \
                 4 KiB, each arena {}, the pool one per untyped); it has {}",
                ARENA_SLOTS + 1,
                1 << ROOT_CNODE_BITS
            ),
        );
    }
    if mm.priority == SUPERVISOR_PRIORITY {
        return err(
            "[memory_manager] priority",
            format!("must be below the supervisor's {SUPERVISOR_PRIORITY}"),
        );
    }
    if mm.core >= MAX_CORES {
        return err("[memory_manager] core", format!("{} is not below {MAX_CORES}", mm.core));
    }
    check_name(system, "[memory_manager] name", &mm.name)?;
    fits_arena(system, "[memory_manager]", &mm.program, images, 1 << mm.arena_bits, mm.cnode_bits, 0)?;
    if sup.app_priority >= mm.priority {
        return err(
            "[supervisor] app_priority",
            format!("must be below the memory manager's {}", mm.priority),
        );
    }

    // The budgets: every described process may be alive at once, so theirs
    // must fit together in what the memory manager can promise; an app
    // spawned by program is admitted at run time, while its budget fits.
    let capacity = memory_manager_capacity(mm.cnode_bits, pool >> mm.pool_bits, pool);
    let app = spec.app_budget();
    if !capacity.holds(&app) {
        return err(
            "[supervisor] app_budget",
            format!("{app:?} is more than the memory manager has: {capacity:?}"),
        );
    }
    let mut total = Budget::NONE;
    for p in &spec.processes {
        let entry = format!("process '{}'", p.name);
        let sum = total.checked_add(&spec.budget_of(p));
        match sum.filter(|t| capacity.holds(t)) {
            Some(t) => total = t,
            None => {
                return err(
                    &entry,
                    format!(
                        "with this budget the processes' budgets add up to more than the memory manager has \
                         ({capacity:?}; memory and tables share the pool): give it or the others less, or the \
                         memory manager more (pool_count, cnode_bits)"
                    ),
                )
            }
        }
    }

    // The processes.
    if spec.processes.len() > sup.arenas {
        return err(
            "[supervisor] arenas",
            format!(
                "{} processes are described but only {} may be alive at once",
                spec.processes.len(),
                sup.arenas
            ),
        );
    }
    for (i, p) in spec.processes.iter().enumerate() {
        let entry = format!("process '{}'", p.name);
        check_name(system, &entry, &p.name)?;
        if p.name == mm.name || spec.processes[..i].iter().any(|q| q.name == p.name) {
            return err(&entry, "another process has this name".into());
        }
        if p.program == mm.program {
            return err(&entry, format!("'{}' is the memory manager's program", p.program));
        }
        match &p.start {
            Start::Word(w) if w == "boot" => {}
            Start::Word(w) => {
                return err(&entry, format!("start = \"{w}\": expected \"boot\" or {{ by = \"NAME\" }}"))
            }
            Start::By { by } if by == &p.name => return err(&entry, "a process cannot start itself".into()),
            Start::By { by } if !spec.processes.iter().any(|q| &q.name == by) => {
                return err(&entry, format!("start by '{by}': no process has that name"));
            }
            Start::By { .. } => {}
        }
        if p.priority >= mm.priority {
            return err(
                &entry,
                format!("priority {} must be below the memory manager's {}", p.priority, mm.priority),
            );
        }
        if let Some(core) = p.core.filter(|&c| c >= MAX_CORES) {
            return err(&entry, format!("core = {core}: the largest kernel has {MAX_CORES} cores"));
        }
        if p.restarts > MAX_RESTARTS {
            return err(&entry, format!("restarts = {}: at most {MAX_RESTARTS}", p.restarts));
        }
        if p.heap > HEAP_MAX {
            return err(&entry, format!("heap = {}: at most {HEAP_MAX} bytes", p.heap));
        }
        fits_arena(system, &entry, &p.program, images, 1 << sup.arena_bits, sup.app_cnode_bits, p.heap)?;
    }
    Ok(())
}

/// The most untyped caps the memory manager's pool may take: its count, or
/// with `pool_rest` as many as its CNode can keep the books of.
fn pool_caps(mm: &crate::desc::MemoryManager) -> usize {
    let most = (Capacity::pool_limit(1 << (mm.cnode_bits - 1)) >> mm.pool_bits) as usize;
    if mm.pool_rest {
        most.max(mm.pool_count)
    } else {
        mm.pool_count
    }
}

/// What a memory manager built as described can promise (as it computes
/// on target: `libshm::protocol::Capacity::of`): its CNode's free half less
/// the slots its info page's first entries and its pool's caps take, and
/// its pool less its heap.
pub fn memory_manager_capacity(cnode_bits: usize, pool_count: u64, pool: u64) -> Capacity {
    let free = (1u64 << (cnode_bits - 1)).saturating_sub(FIRST_FREE_SLOT + pool_count + MM_SETUP_SLOTS);
    let heap = memory_manager_heap_bytes(free, pool);
    // Its heap's 2 MiB frames take a slot each.
    Capacity::of(free.saturating_sub(heap / LARGE_PAGE_SIZE), pool, heap)
}

fn check_name(system: &System, entry: &str, name: &str) -> Result<(), DescError> {
    Name::new(name).map(|_| ()).map_err(|_| {
        system
            .error(Some(entry.to_owned()), format!("name '{name}' is not 1 to 32 printable ASCII characters"))
    })
}

/// A process must fit its arena: CNode, image, stack, heap, fixed objects.
fn fits_arena(
    system: &System,
    entry: &str,
    program: &str,
    images: &[Embedded],
    arena: u64,
    cnode_bits: usize,
    heap: u64,
) -> Result<(), DescError> {
    let image = images.iter().find(|i| i.name == program).and_then(|i| i.loaded_bytes()).unwrap_or(0);
    let cnode = SLOT_BYTES << cnode_bits;
    let need = cnode + image + STACK_PAGES * PAGE_SIZE + heap.next_multiple_of(PAGE_SIZE) + ARENA_FIXED_BYTES;
    if need > arena {
        return Err(system.error(
            Some(entry.to_owned()),
            format!(
                "needs {} KiB (CNode {} KiB, image {} KiB, stack {} KiB, heap {} KiB, fixed {} KiB) but its arena has {} KiB",
                need >> 10,
                cnode >> 10,
                image >> 10,
                (STACK_PAGES * PAGE_SIZE) >> 10,
                heap.next_multiple_of(PAGE_SIZE) >> 10,
                ARENA_FIXED_BYTES >> 10,
                arena >> 10
            ),
        ));
    }
    Ok(())
}
