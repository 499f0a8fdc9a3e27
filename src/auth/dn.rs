//! Distinguished names as data, never as text: a sequence of RDNs, each a
//! set of (attribute type, value). A `--cert-role` subject is parsed from
//! RFC 4514 text, a certificate's subject is built from its DER
//! (`net::identity`), and the two are compared attribute by attribute. For
//! history and logs a name is written with RFC 4514's escapes, so no value
//! can pass for a separator: the single CN `ops, O=Admins` is written
//! `CN=ops\, O=Admins`, never `CN=ops, O=Admins`.
//!
//! * Order: RDNs are written, read and compared in the certificate's order
//!   (first RDN first: `CN=ApiGateway, L=Seattle, C=US`), the order crest
//!   has always shown, not reversed as RFC 4514 writes them. Within a
//!   multi-valued RDN (`CN=a+UID=b`) the attributes are a set.
//! * Values compare exactly: case and inner spaces count. Every ASN.1
//!   string type is its text; any other value is its DER, written `#HEX`.
//! * Writing escapes `" + , ; < > \`, a leading `#` or space, a trailing
//!   space, and every byte outside printable ASCII as `\XX` (hex), so a
//!   rendered name is one unambiguous line of ASCII. Reading accepts what
//!   writing produces, plus spaces after `,` and `+` and around `=`.

use std::fmt::{self, Write as _};

/// An attribute type: the arcs of its OID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttributeType(Vec<u64>);

/// The names crest reads and writes, with their OIDs.
const NAMES: [(&str, &[u64]); 11] = [
    ("CN", &[2, 5, 4, 3]),
    ("serialNumber", &[2, 5, 4, 5]),
    ("C", &[2, 5, 4, 6]),
    ("L", &[2, 5, 4, 7]),
    ("ST", &[2, 5, 4, 8]),
    ("STREET", &[2, 5, 4, 9]),
    ("O", &[2, 5, 4, 10]),
    ("OU", &[2, 5, 4, 11]),
    ("DC", &[0, 9, 2342, 19_200_300, 100, 1, 25]),
    ("UID", &[0, 9, 2342, 19_200_300, 100, 1, 1]),
    ("emailAddress", &[1, 2, 840, 113_549, 1, 9, 1]),
];

/// Other spellings read (never written): `Email` is how crest showed
/// emailAddress before.
const ALIASES: [(&str, &str); 2] = [("Email", "emailAddress"), ("E", "emailAddress")];

impl AttributeType {
    pub fn new(arcs: Vec<u64>) -> Self {
        Self(arcs)
    }

    pub fn arcs(&self) -> &[u64] {
        &self.0
    }

    /// A name (any case) or a dotted OID.
    fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            let arcs: Option<Vec<u64>> = text
                .split('.')
                .map(|a| if a.len() > 1 && a.starts_with('0') { None } else { a.parse().ok() })
                .collect();
            return match arcs {
                Some(arcs) if arcs.len() >= 2 => Ok(Self(arcs)),
                _ => Err(format!("{text:?} is not a dotted OID like 2.5.4.3")),
            };
        }
        let name = ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(text)).map_or(text, |(_, n)| n);
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, arcs)| Self(arcs.to_vec())).ok_or_else(|| {
            format!(
                "unknown attribute type {text:?}; use CN, O, OU, C, L, ST, STREET, DC, UID, serialNumber, \
                 emailAddress or a dotted OID like 2.5.4.3"
            )
        })
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = NAMES.iter().find(|(_, arcs)| *arcs == self.0.as_slice()) {
            return f.write_str(name);
        }
        let mut first = true;
        for arc in &self.0 {
            if !first {
                f.write_char('.')?;
            }
            first = false;
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// The text of any ASN.1 string type.
    Text(String),
    /// Any other value (or a string that does not decode): its DER.
    Der(Vec<u8>),
}

impl Value {
    /// A value from its DER encoding (tag, length, content): the text of
    /// a string type, else the DER itself.
    pub fn from_der(der: &[u8]) -> Self {
        let text = match (der.first(), content(der)) {
            (Some(0x0c | 0x12 | 0x13 | 0x14 | 0x16 | 0x19 | 0x1a | 0x1b), Some(c)) => {
                std::str::from_utf8(c).ok().map(str::to_owned)
            }
            (Some(0x1e), Some(c)) if c.len() % 2 == 0 => {
                char::decode_utf16(c.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])))
                    .collect::<Result<String, _>>()
                    .ok()
            }
            (Some(0x1c), Some(c)) if c.len() % 4 == 0 => c
                .chunks_exact(4)
                .map(|q| char::from_u32(u32::from_be_bytes([q[0], q[1], q[2], q[3]])))
                .collect::<Option<String>>(),
            _ => None,
        };
        text.map_or_else(|| Self::Der(der.to_vec()), Self::Text)
    }
}

/// The content of one complete DER TLV with a low tag number; None when
/// `der` is anything else (or has bytes after it).
fn content(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() == len).then_some(rest)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Der(der) => {
                f.write_char('#')?;
                der.iter().try_for_each(|b| write!(f, "{b:02X}"))
            }
            Self::Text(text) => {
                for (i, c) in text.char_indices() {
                    let (first, last) = (i == 0, i + c.len_utf8() == text.len());
                    match c {
                        '"' | '+' | ',' | ';' | '<' | '>' | '\\' => write!(f, "\\{c}")?,
                        '#' if first => f.write_str("\\#")?,
                        ' ' if first || last => f.write_str("\\ ")?,
                        ' '..='~' => f.write_char(c)?,
                        _ => c.encode_utf8(&mut [0; 4]).bytes().try_for_each(|b| write!(f, "\\{b:02X}"))?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// One attribute of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attribute {
    pub kind: AttributeType,
    pub value: Value,
}

/// A distinguished name: RDNs in the certificate's order.
#[derive(Debug, Clone, Default)]
pub struct Name {
    rdns: Vec<Vec<Attribute>>,
}

impl Name {
    pub fn new(rdns: Vec<Vec<Attribute>>) -> Self {
        Self { rdns }
    }

    pub fn rdns(&self) -> &[Vec<Attribute>] {
        &self.rdns
    }
}

/// Same RDNs in the same order; within an RDN, the same set of attributes.
impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.rdns.len() == other.rdns.len() && self.rdns.iter().zip(&other.rdns).all(|(a, b)| same_set(a, b))
    }
}

impl Eq for Name {}

fn same_set(a: &[Attribute], b: &[Attribute]) -> bool {
    match (a, b) {
        ([x], [y]) => x == y,
        _ if a.len() != b.len() => false,
        _ => {
            let (mut a, mut b): (Vec<&Attribute>, Vec<&Attribute>) = (a.iter().collect(), b.iter().collect());
            a.sort();
            b.sort();
            a == b
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            for (j, a) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_char('+')?;
                }
                write!(f, "{}={}", a.kind, a.value)?;
            }
        }
        Ok(())
    }
}

/// Why a text is not a distinguished name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnError(String);

impl std::str::FromStr for Name {
    type Err = DnError;

    /// Reads RFC 4514 text, RDNs in the certificate's order.
    fn from_str(text: &str) -> Result<Self, DnError> {
        Reader { s: text.as_bytes(), at: 0 }.name().map_err(DnError)
    }
}

/// A cursor over the text being read.
struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn name(&mut self) -> Result<Name, String> {
        if self.s.iter().all(|b| *b == b' ') {
            return Err("is empty; write at least one attribute, e.g. CN=scaler-1".into());
        }
        let (mut rdns, mut rdn) = (Vec::new(), Vec::new());
        loop {
            self.skip_spaces();
            let kind = self.attribute_type()?;
            self.skip_spaces();
            let value = self.value()?;
            rdn.push(Attribute { kind, value });
            match self.peek() {
                None => break,
                Some(b',') => rdns.push(std::mem::take(&mut rdn)),
                Some(_) => {} // '+': the next attribute of this RDN
            }
            self.at += 1;
        }
        rdns.push(rdn);
        Ok(Name { rdns })
    }

    fn attribute_type(&mut self) -> Result<AttributeType, String> {
        let start = self.at;
        while let Some(b) = self.peek() {
            match b {
                b'=' => break,
                b',' | b'+' => return Err(format!("character {}: {:?} before \"=\"", self.at + 1, b as char)),
                _ => self.at += 1,
            }
        }
        let text = String::from_utf8_lossy(&self.s[start..self.at]);
        let text = text.trim_end_matches(' ');
        if self.peek().is_none() {
            return Err(if text.is_empty() {
                format!("character {}: an attribute is missing at the end", start + 1)
            } else {
                format!("{text:?} has no \"=\"; write TYPE=VALUE, e.g. CN=scaler-1")
            });
        }
        if text.is_empty() {
            return Err(format!("character {}: an attribute type is missing before \"=\"", self.at + 1));
        }
        self.at += 1;
        AttributeType::parse(text)
    }

    fn value(&mut self) -> Result<Value, String> {
        if self.peek() == Some(b'#') {
            return self.hex_value();
        }
        let (mut out, mut keep) = (Vec::new(), 0);
        while let Some(b) = self.peek() {
            let at = self.at + 1;
            match b {
                b',' | b'+' => break,
                b'\\' => {
                    let next = self.s.get(self.at + 1).copied();
                    match next {
                        Some(c @ (b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'#' | b'=' | b' ')) => {
                            out.push(c);
                            self.at += 2;
                        }
                        Some(h) if h.is_ascii_hexdigit() => {
                            let pair = self.s.get(self.at + 1..self.at + 3).and_then(|p| std::str::from_utf8(p).ok());
                            let byte = pair.and_then(|p| u8::from_str_radix(p, 16).ok()).ok_or_else(|| {
                                format!("character {at}: \"\\\" with one hex digit; write two, e.g. \\2C")
                            })?;
                            out.push(byte);
                            self.at += 3;
                        }
                        None => return Err(format!("character {at}: \"\\\" at the end escapes nothing")),
                        Some(_) => {
                            return Err(format!(
                                "character {at}: \"\\\" must be followed by one of , + \" \\ < > ; # = space, \
                                 or two hex digits"
                            ));
                        }
                    }
                    keep = out.len();
                    continue;
                }
                b'"' | b';' | b'<' | b'>' | 0 => {
                    return Err(format!("character {at}: {:?} must be escaped with \"\\\"", b as char));
                }
                _ => {
                    out.push(b);
                    self.at += 1;
                    if b != b' ' {
                        keep = out.len();
                    }
                }
            }
        }
        out.truncate(keep);
        String::from_utf8(out).map(Value::Text).map_err(|_| "a value is not UTF-8 once unescaped".to_owned())
    }

    /// `#` and the hex of a DER value.
    fn hex_value(&mut self) -> Result<Value, String> {
        let start = self.at + 1;
        self.at = start;
        while self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
            self.at += 1;
        }
        let hex = &self.s[start..self.at];
        self.skip_spaces();
        if !matches!(self.peek(), None | Some(b',' | b'+')) {
            return Err(format!("character {}: a #HEX value holds hex digits only", self.at + 1));
        }
        let der =
            hex::decode(hex).map_err(|_| format!("character {start}: #HEX needs an even number of hex digits"))?;
        if content(&der).is_none() {
            return Err(format!("character {start}: #HEX must be one DER value (tag, length, content)"));
        }
        Ok(Value::from_der(&der))
    }
}

#[cfg(test)]
#[path = "dn_tests.rs"]
mod tests;
