//! The compiled system description an image is built from: which programs
//! it embeds, which processes run and how, and the sizes of the supervisor
//! and the memory manager. `tools/sysbuild` writes one of these from an
//! image's `system.toml`, after checking it; the root task only reads it.

pub use libshm::protocol::Budget;

/// A whole image's description.
#[derive(Debug)]
pub struct System {
    /// Where the description came from (for messages).
    pub source: &'static str,
    /// The programs the image embeds, and only those.
    pub programs: &'static [Program],
    /// The processes, in the order the description lists them.
    pub processes: &'static [ProcessDesc],
    /// The supervisor's sizes.
    pub supervisor: SupervisorConfig,
    /// The memory manager (every image runs one).
    pub memory_manager: MemoryManagerConfig,
}

/// One embedded program.
#[derive(Debug)]
pub struct Program {
    /// Its name (the crate's binary).
    pub name: &'static str,
    /// Its stripped ELF image.
    pub image: &'static [u8],
}

/// When a process starts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// When the root task boots.
    Boot,
    /// When the process named `by` asks the supervisor to start it.
    OnRequest {
        /// The one process allowed to start it.
        by: &'static str,
    },
}

/// One process of the description.
#[derive(Copy, Clone, Debug)]
pub struct ProcessDesc {
    /// Its name: the patent's alias, unique in the description.
    pub name: &'static str,
    /// The program it runs.
    pub program: &'static str,
    /// When it starts.
    pub start: Start,
    /// Its scheduling priority (below the supervisor's).
    pub priority: u8,
    /// How often it is restarted after a fault.
    pub restarts: u32,
    /// Bytes of heap mapped for it at `libshm::layout::HEAP_BASE`.
    pub heap_bytes: u64,
    /// The word its `ProcessInfo::arg` holds.
    pub arg: u64,
    /// What the memory manager promises it.
    pub budget: Budget,
    /// The core it runs on; `None`: the supervisor spreads such processes
    /// over the cores, starting after the memory manager's.
    pub core: Option<u32>,
}

/// The supervisor's sizes.
#[derive(Copy, Clone, Debug)]
pub struct SupervisorConfig {
    /// How many apps may be alive at once: one untyped arena each.
    pub arenas: usize,
    /// log2 bytes of an app's arena (everything the process is made of).
    pub arena_bits: usize,
    /// log2 of the slots of an app's CNode.
    pub app_cnode_bits: usize,
    /// Priority of a process the suite or benchmark spawns by program.
    pub app_priority: u8,
    /// Budget of a process the suite or benchmark spawns by program.
    pub app_budget: Budget,
}

/// The memory manager's sizes.
#[derive(Copy, Clone, Debug)]
pub struct MemoryManagerConfig {
    /// Its program.
    pub program: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its priority: above every app, so a request is answered before its
    /// caller runs again.
    pub priority: u8,
    /// log2 of the slots of its CNode.
    pub cnode_bits: usize,
    /// log2 bytes of its arena (its CNode comes out of it).
    pub arena_bits: usize,
    /// How many untypeds its pool has.
    pub pool_count: usize,
    /// log2 bytes of each.
    pub pool_bits: usize,
    /// Whether the pool also takes every further untyped of that size the
    /// machine has (up to what its CNode can keep the books of).
    pub pool_rest: bool,
    /// The core it runs on, serving the processes of every core.
    pub core: u32,
}

impl System {
    /// The ELF image of `program`, if the image embeds it.
    pub fn image(&self, program: &str) -> Option<&'static [u8]> {
        self.programs.iter().find(|p| p.name == program).map(|p| p.image)
    }

    /// The process the description names `name`.
    pub fn process(&self, name: &str) -> Option<&'static ProcessDesc> {
        self.processes.iter().find(|p| p.name == name)
    }
}
