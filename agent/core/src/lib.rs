//! rcodex's core: configuration, the model client, context assembly, the turn loop, tools and sessions.

pub mod agents;
pub mod auth;
pub mod client;
pub mod code_mode;
pub mod config;
pub mod context;
pub mod events;
pub mod exec_policy;
pub mod hooks;
pub mod images;
pub mod interaction;
pub mod items;
pub mod mcp;
pub mod notify;
pub mod records;
pub mod request;
pub mod review;
pub mod rollout;
pub mod session;
pub mod shell_env;
pub mod skills;
pub mod thread;
pub mod tools;
pub mod websocket;
