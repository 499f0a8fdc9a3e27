//! The status page's switch: `ui = "on"` or `"off"`; unset, it is on when
//! every listener that serves the API is a loopback address (a laptop, a
//! sidecar), and off otherwise (a server reachable from elsewhere shows no
//! page unless asked to).

use super::{Config, ConfigError, bad};

/// Whether `/ui` is served.
pub(super) fn ui(value: Option<&str>, c: &Config) -> Result<bool, ConfigError> {
    match value {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(bad("ui", "--ui", format!("{other:?} is not one of on, off"))),
        None => {
            let plain_serves_api = c.tls.is_none() || c.http_api;
            let plain = !plain_serves_api || c.listen.ip().is_loopback();
            Ok(plain && c.tls.as_ref().is_none_or(|t| t.listen.ip().is_loopback()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::Settings;
    use super::super::validate::config;

    fn ui(listen: &str, value: Option<&str>) -> Result<bool, String> {
        let s = Settings { listen: Some(listen.into()), ui: value.map(Into::into), ..Settings::default() };
        config(&s).map(|c| c.ui).map_err(|e| e.to_string())
    }

    #[test]
    fn on_by_default_on_loopback_only() {
        assert_eq!(ui("127.0.0.1:8080", None), Ok(true));
        assert_eq!(ui("[::1]:8080", None), Ok(true));
        assert_eq!(ui("0.0.0.0:8080", None), Ok(false));
        assert_eq!(ui("0.0.0.0:8080", Some("on")), Ok(true));
        assert_eq!(ui("127.0.0.1:8080", Some("off")), Ok(false));
        let e = ui("127.0.0.1:8080", Some("yes")).unwrap_err();
        assert_eq!(e, "config key ui (--ui, CREST_UI): \"yes\" is not one of on, off");
    }
}
