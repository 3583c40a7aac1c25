//! The system description as written: a `system.toml` per image.
//!
//! ```toml
//! ram = 536870912       # bytes of RAM of the smallest machine it is for
//!
//! [supervisor]          # optional; these are the defaults
//! arenas = 48           # apps alive at once, one untyped arena each
//! arena_bits = 20       # log2 bytes of an app's arena
//! app_cnode_bits = 10   # log2 slots of an app's CNode
//! app_priority = 100    # of a process the suite or benchmark spawns
//! app_budget = { memory = 16777216 } # its budget (fields as below)
//!
//! [memory_manager]      # optional; these are the defaults
//! program = "vmm-server"
//! name = "memory-manager"
//! priority = 150        # above every app
//! cnode_bits = 19       # half free: promised to clients, less the pool's
//!                       # bookkeeping (a slot per 4 KiB of pool at most)
//! arena_bits = 25
//! pool_count = 48       # its pool: at least this many untypeds
//! pool_bits = 22        # of 2^pool_bits bytes
//! pool_rest = true      # and every further one the machine has (up to
//!                       # what its CNode can keep the books of)
//! core = 0              # the core it runs on, serving every core
//!
//! programs = ["testapp"] # embedded besides the processes' programs, for a
//!                         # root task that spawns by program (the suite)
//!
//! [[process]]
//! name = "owner"        # the alias other processes find it by
//! program = "spreadsheet"
//! start = "boot"        # or { by = "owner" }: started by that process
//! priority = 100
//! restarts = 0          # how often it is restarted after a fault
//! heap = 0              # bytes of heap (rounded up to pages)
//! arg = 0               # its ProcessInfo::arg
//! core = 1              # the core it runs on (checked against the kernel's
//!                       # cores at boot); left out: the supervisor spreads
//!                       # processes over the cores, the memory manager's last
//! # What the memory manager promises it; each field left out is
//! # [supervisor] app_budget's (whose own default is
//! # libshm::protocol::Budget::DEFAULT). The build checks that the budgets
//! # of all processes fit what the memory manager can promise.
//! budget = { memory = 16777216, tables = 262144, slots = 8192, mappings = 8192, objects = 16, window = 1073741824 }
//! ```

use libshm::protocol::Budget;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A description that cannot be built, with where and why.
#[derive(Debug, PartialEq, Eq)]
pub struct DescError {
    /// The description's file.
    pub file: PathBuf,
    /// The entry at fault (e.g. "process 'viewer'"), if one is.
    pub entry: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "{}: {entry}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for DescError {}

/// A parsed description, with the file it came from.
#[derive(Debug)]
pub struct System {
    /// Where it was read from.
    pub file: PathBuf,
    /// What it says.
    pub spec: Spec,
}

/// The file's contents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Bytes of RAM of the smallest machine the system is built for (the
    /// build checks it fits there; `make run MEM=...` gives QEMU more).
    #[serde(default = "default_ram")]
    pub ram: u64,
    /// Programs embedded besides those the processes run.
    #[serde(default)]
    pub programs: Vec<String>,
    /// The supervisor's sizes.
    #[serde(default)]
    pub supervisor: Supervisor,
    /// The memory manager's.
    #[serde(default)]
    pub memory_manager: MemoryManager,
    /// The processes, in order.
    #[serde(default, rename = "process")]
    pub processes: Vec<Process>,
}

/// `[supervisor]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Supervisor {
    /// Apps alive at once.
    pub arenas: usize,
    /// log2 bytes of each app's arena.
    pub arena_bits: usize,
    /// log2 slots of an app's CNode.
    pub app_cnode_bits: usize,
    /// Priority of processes spawned by program (suite, benchmark).
    pub app_priority: u8,
    /// Budget of processes spawned by program.
    pub app_budget: BudgetSpec,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor {
            arenas: 48,
            arena_bits: 20,
            app_cnode_bits: 10,
            app_priority: 100,
            app_budget: BudgetSpec::default(),
        }
    }
}

/// A budget as written: every field optional. A process's missing fields
/// are the app budget's, the app budget's are [`Budget::DEFAULT`]'s.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Bytes of frames.
    pub memory: Option<u64>,
    /// Bytes of paging structures.
    pub tables: Option<u64>,
    /// Cap slots of the memory manager.
    pub slots: Option<u64>,
    /// Mapping records.
    pub mappings: Option<u64>,
    /// Objects owned.
    pub objects: Option<u64>,
    /// Bytes of the shared window.
    pub window: Option<u64>,
}

impl BudgetSpec {
    /// The budget it says, with `d`'s fields where it says none.
    pub fn over(&self, d: Budget) -> Budget {
        Budget {
            memory: self.memory.unwrap_or(d.memory),
            tables: self.tables.unwrap_or(d.tables),
            slots: self.slots.unwrap_or(d.slots),
            mappings: self.mappings.unwrap_or(d.mappings),
            objects: self.objects.unwrap_or(d.objects),
            window: self.window.unwrap_or(d.window),
        }
    }
}

/// `[memory_manager]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryManager {
    /// Its program.
    pub program: String,
    /// Its name.
    pub name: String,
    /// Its priority.
    pub priority: u8,
    /// log2 slots of its CNode.
    pub cnode_bits: usize,
    /// log2 bytes of its arena.
    pub arena_bits: usize,
    /// Untypeds in its pool.
    pub pool_count: usize,
    /// log2 bytes of each.
    pub pool_bits: usize,
    /// And every further untyped the machine has.
    pub pool_rest: bool,
    /// The core it runs on.
    pub core: u32,
}

impl Default for MemoryManager {
    fn default() -> Self {
        MemoryManager {
            program: "vmm-server".into(),
            name: "memory-manager".into(),
            priority: 150,
            cnode_bits: 19,
            arena_bits: 25,
            pool_count: 48,
            pool_bits: 22,
            pool_rest: true,
            core: 0,
        }
    }
}

/// When a process starts, as written.
#[derive(Debug, Deserialize, PartialEq, Eq, Clone)]
#[serde(untagged)]
pub enum Start {
    /// `"boot"` (anything else is refused by the check).
    Word(String),
    /// `{ by = "name" }`.
    By {
        /// The process allowed to start it.
        by: String,
    },
}

impl Default for Start {
    fn default() -> Self {
        Start::Word("boot".into())
    }
}

/// `[[process]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Its alias, unique.
    pub name: String,
    /// Its program.
    pub program: String,
    /// When it starts.
    #[serde(default)]
    pub start: Start,
    /// Its priority.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Restarts after a fault.
    #[serde(default)]
    pub restarts: u32,
    /// Bytes of heap.
    #[serde(default)]
    pub heap: u64,
    /// Its `ProcessInfo::arg`.
    #[serde(default)]
    pub arg: u64,
    /// What the memory manager promises it.
    #[serde(default)]
    pub budget: BudgetSpec,
    /// The core it runs on; `None`: spread by the supervisor.
    #[serde(default)]
    pub core: Option<u32>,
}

fn default_ram() -> u64 {
    512 << 20
}

fn default_priority() -> u8 {
    Supervisor::default().app_priority
}

impl Spec {
    /// The budget of a process spawned by program.
    pub fn app_budget(&self) -> Budget {
        self.supervisor.app_budget.over(Budget::DEFAULT)
    }

    /// The budget of `p`.
    pub fn budget_of(&self, p: &Process) -> Budget {
        p.budget.over(self.app_budget())
    }
}

impl System {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<System, DescError> {
        let text = std::fs::read_to_string(path).map_err(|e| DescError {
            file: path.to_owned(),
            entry: None,
            message: format!("cannot read it: {e}"),
        })?;
        System::parse(path, &text)
    }

    /// Parse `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<System, DescError> {
        let spec = toml::from_str(text).map_err(|e: toml::de::Error| DescError {
            file: path.to_owned(),
            entry: None,
            message: e.to_string().trim_end().replace('\n', "\n    "),
        })?;
        Ok(System { file: path.to_owned(), spec })
    }

    /// An error about `entry` of this description.
    pub fn error(&self, entry: Option<String>, message: String) -> DescError {
        DescError { file: self.file.clone(), entry, message }
    }

    /// The programs it embeds: the memory manager's, then each process's,
    /// each once, in order of first use.
    pub fn programs(&self) -> Vec<String> {
        let mut names = vec![self.spec.memory_manager.program.clone()];
        let used = self.spec.processes.iter().map(|p| &p.program);
        for name in used.chain(&self.spec.programs) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}
