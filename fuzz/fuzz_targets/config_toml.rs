//! Config file: UTF-8 -> `toml::from_str::<Settings>` -> `Config::from_settings`.
//! Neither may panic; errors are fine. (`from_settings` may read files the
//! settings name, e.g. `file:` token secrets or TLS files.)
#![no_main]

use crest::config::{Config, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(settings) = toml::from_str::<Settings>(text) else {
        return;
    };
    let _ = Config::from_settings(settings);
});
