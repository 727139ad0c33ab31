//! The integration tests, in one binary: one link of the AWS SDK instead of one per file.
//! Each module is one capability, tested through the real binary, real HTTP on loopback, moto
//! and Chromium; `common` holds the shared helpers.

mod common;

mod abort;
mod autoscaling;
mod bad_input;
mod caps;
mod cli_docs;
mod connections;
mod distributed;
mod faults;
mod interrupts;
mod layout;
mod llama;
mod llm_sizing;
mod managed;
mod managed_teardown;
mod measure;
mod output_safety;
mod pages;
mod real_server;
mod resume;
mod sagemaker;
mod sagemaker_cli;
mod sagemaker_fast;
mod sagemaker_moto;
mod spine;
mod stream;
