//! `mss_clamp` (`[relay]` and `[[service]]`): how far the datapath lowers
//! the MSS option of the SYN and SYN-ACK of a relayed TCP flow.

use std::fmt;

use fwd_common::service::mss_clamp::{MAX, MIN};
use serde::Deserialize;

use super::Problem;

/// `mss_clamp = "auto" | "off" | N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MssClamp {
    /// The MTU of the interfaces the flow uses, less 40 (the default).
    #[default]
    Auto,
    /// The MSS options are left as they are.
    Off,
    /// At most this MSS (536 to 65495).
    Value(u16),
}

impl MssClamp {
    /// The value of [`fwd_common::Backend4::mss_clamp`].
    pub fn datapath_value(self) -> u16 {
        use fwd_common::service::mss_clamp::{AUTO, OFF};
        match self {
            MssClamp::Auto => AUTO,
            MssClamp::Off => OFF,
            MssClamp::Value(v) => v,
        }
    }
}

impl fmt::Display for MssClamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MssClamp::Auto => f.write_str("auto"),
            MssClamp::Off => f.write_str("off"),
            MssClamp::Value(v) => write!(f, "{v}"),
        }
    }
}

/// The value as written: a string or a number (or anything else, refused
/// by [`parse`] with its own message rather than the TOML parser's).
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct RawMssClamp(toml::Value);

/// Shown in TOML syntax in error messages, as other values are.
impl fmt::Debug for RawMssClamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Parses `"auto"`, `"off"` or an integer from 536 to 65495.
pub(super) fn parse(raw: &RawMssClamp) -> Result<MssClamp, Problem> {
    match &raw.0 {
        toml::Value::String(s) if s == "auto" => Ok(MssClamp::Auto),
        toml::Value::String(s) if s == "off" => Ok(MssClamp::Off),
        toml::Value::Integer(n) => u16::try_from(*n)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(MssClamp::Value)
            .ok_or(Problem::OutOfRange {
                min: MIN.into(),
                max: MAX.into(),
            }),
        _ => Err(Problem::BadMssClamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> Result<MssClamp, Problem> {
        let table: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        let raw = RawMssClamp(table["v"].clone());
        assert_eq!(format!("{raw:?}"), text, "shown as written");
        parse(&raw)
    }

    #[test]
    fn words_and_numbers() {
        assert_eq!(parse_toml("\"auto\""), Ok(MssClamp::Auto));
        assert_eq!(parse_toml("\"off\""), Ok(MssClamp::Off));
        assert_eq!(parse_toml("1360"), Ok(MssClamp::Value(1360)));
        assert_eq!(parse_toml("536"), Ok(MssClamp::Value(536)));
        assert_eq!(parse_toml("65495"), Ok(MssClamp::Value(65495)));
        let range = Err(Problem::OutOfRange {
            min: 536,
            max: 65495,
        });
        for n in ["535", "65496", "0", "-1", "100000"] {
            assert_eq!(parse_toml(n), range, "{n}");
        }
        for bad in ["\"1360\"", "\"Auto\"", "\"on\"", "true", "1360.0", "[1360]"] {
            assert_eq!(parse_toml(bad), Err(Problem::BadMssClamp), "{bad}");
        }
    }

    #[test]
    fn datapath_values() {
        use fwd_common::service::mss_clamp::{AUTO, OFF};
        assert_eq!(MssClamp::Auto.datapath_value(), AUTO);
        assert_eq!(MssClamp::Off.datapath_value(), OFF);
        assert_eq!(MssClamp::Value(1360).datapath_value(), 1360);
        assert_eq!(MssClamp::Value(1360).to_string(), "1360");
    }
}
