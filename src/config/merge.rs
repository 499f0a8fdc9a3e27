//! The layers of settings: reading the config file, and merging it under
//! the flags and environment (clap has already put flags over `CREST_*`).

use super::ConfigError;
use super::settings::{DefaultSettings, Settings};
use std::path::Path;

/// The config file's settings.
pub(super) fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("config file {} (--config, CREST_CONFIG): {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
}

impl Settings {
    /// Field by field: `self` where set, else `lower`.
    pub(super) fn or(self, lower: Settings) -> Settings {
        let token_set = !self.token_spec.is_empty() || !self.token.is_empty();
        Settings {
            listen: self.listen.or(lower.listen),
            store: self.store.or(lower.store),
            store_max_connections: self.store_max_connections.or(lower.store_max_connections),
            store_acquire_timeout: self.store_acquire_timeout.or(lower.store_acquire_timeout),
            store_statement_timeout: self.store_statement_timeout.or(lower.store_statement_timeout),
            store_password_file: self.store_password_file.or(lower.store_password_file),
            store_poll_interval: self.store_poll_interval.or(lower.store_poll_interval),
            mode: self.mode.or(lower.mode),
            simulate_failure: self.simulate_failure.or(lower.simulate_failure),
            demo_style: self.demo_style.or(lower.demo_style),
            demo_step: self.demo_step.or(lower.demo_step),
            demo_rate: self.demo_rate.or(lower.demo_rate),
            strict: self.strict.or(lower.strict),
            register: if self.register.is_empty() { lower.register } else { self.register },
            max_dimensions: self.max_dimensions.or(lower.max_dimensions),
            defaults: DefaultSettings {
                version: self.defaults.version.or(lower.defaults.version),
                resource_name: self.defaults.resource_name.or(lower.defaults.resource_name),
                dimension_name: self.defaults.dimension_name.or(lower.defaults.dimension_name),
                desired_capacity: self.defaults.desired_capacity.or(lower.defaults.desired_capacity),
                actual_capacity: self.defaults.actual_capacity.or(lower.defaults.actual_capacity),
            },
            tls_listen: self.tls_listen.or(lower.tls_listen),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            client_ca: if self.client_ca.is_empty() { lower.client_ca } else { self.client_ca },
            client_cert_pin: if self.client_cert_pin.is_empty() { lower.client_cert_pin } else { self.client_cert_pin },
            client_auth: self.client_auth.or(lower.client_auth),
            http_api: self.http_api.or(lower.http_api),
            tls_handshake_timeout: self.tls_handshake_timeout.or(lower.tls_handshake_timeout),
            acme_domain: if self.acme_domain.is_empty() { lower.acme_domain } else { self.acme_domain },
            acme_email: self.acme_email.or(lower.acme_email),
            acme_directory: self.acme_directory.or(lower.acme_directory),
            acme_ca_root: self.acme_ca_root.or(lower.acme_ca_root),
            acme_challenge: self.acme_challenge.or(lower.acme_challenge),
            acme_eab_kid: self.acme_eab_kid.or(lower.acme_eab_kid),
            acme_eab_hmac: self.acme_eab_hmac.or(lower.acme_eab_hmac),
            acme_retry_min: self.acme_retry_min.or(lower.acme_retry_min),
            acme_poll_interval: self.acme_poll_interval.or(lower.acme_poll_interval),
            tls_reload_interval: self.tls_reload_interval.or(lower.tls_reload_interval),
            // One setting under two names: a layer that gives either
            // replaces both of the layer below.
            // One setting under two names (`token` is the deprecated one):
            // a layer that gives either replaces both of the layer below.
            token_spec: if token_set { self.token_spec } else { lower.token_spec },
            token: if token_set { self.token } else { lower.token },
            cert_role: if self.cert_role.is_empty() { lower.cert_role } else { self.cert_role },
            cert_default_role: self.cert_default_role.or(lower.cert_default_role),
            history_limit: self.history_limit.or(lower.history_limit),
            history_max_age: self.history_max_age.or(lower.history_max_age),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            metrics_max_dimensions: self.metrics_max_dimensions.or(lower.metrics_max_dimensions),
            rate_limit: self.rate_limit.or(lower.rate_limit),
            rate_limit_burst: self.rate_limit_burst.or(lower.rate_limit_burst),
            log_format: self.log_format.or(lower.log_format),
            log_level: self.log_level.or(lower.log_level),
            access_log: self.access_log.or(lower.access_log),
            log_access_budget: self.log_access_budget.or(lower.log_access_budget),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            shutdown_delay: self.shutdown_delay.or(lower.shutdown_delay),
            header_read_timeout: self.header_read_timeout.or(lower.header_read_timeout),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            ui: self.ui.or(lower.ui),
        }
    }
}
