//! The root task of a described system: it starts what the description
//! says and supervises it until every process has ended.

#![no_std]
#![no_main]
#![deny(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/system.rs"));

root_task::image!(SYSTEM, root_task::supervise);
