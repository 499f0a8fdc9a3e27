//! RFC 4514 reading and writing of distinguished names.

use super::*;

fn name(text: &str) -> Name {
    text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn text(kind: &[u64], value: &str) -> Attribute {
    Attribute { kind: AttributeType::new(kind.to_vec()), value: Value::Text(value.into()) }
}

const CN: &[u64] = &[2, 5, 4, 3];
const O: &[u64] = &[2, 5, 4, 10];
const UID: &[u64] = &[0, 9, 2342, 19_200_300, 100, 1, 1];

#[test]
fn a_cn_with_a_comma_is_one_attribute_and_is_written_escaped() {
    let forged = Name::new(vec![vec![text(CN, "ops, O=Admins")]]);
    let real = Name::new(vec![vec![text(CN, "ops")], vec![text(O, "Admins")]]);
    assert_eq!(forged.to_string(), r"CN=ops\, O=Admins");
    assert_eq!(real.to_string(), "CN=ops, O=Admins");
    assert_ne!(forged, real);
    assert_eq!(name("CN=ops, O=Admins"), real);
    assert_eq!(name(r"CN=ops\, O=Admins"), forged);
    assert_ne!(name("O=Admins, CN=ops"), real, "RDN order counts");
}

#[test]
fn escapes_hex_pairs_and_spaces() {
    assert_eq!(name(r#"CN=a\+b\;c\<d\>e\\f\"g\=h\#i"#), Name::new(vec![vec![text(CN, r#"a+b;c<d>e\f"g=h#i"#)]]));
    assert_eq!(name(r"CN=\4F\70s"), name("CN=Ops"), "hex pairs are bytes");
    assert_eq!(name(r"CN=Zo\C3\AB"), Name::new(vec![vec![text(CN, "Zoë")]]), "UTF-8 from hex pairs");
    assert_eq!(name(r"cn = \ padded\  ,  o=x"), Name::new(vec![vec![text(CN, " padded ")], vec![text(O, "x")]]));
    assert_eq!(name("CN=a b  "), name("CN=a b"), "unescaped trailing spaces are not part of the value");
    assert_eq!(name("CN=a=b"), Name::new(vec![vec![text(CN, "a=b")]]), "= needs no escape in a value");
    assert_eq!(name("CN="), Name::new(vec![vec![text(CN, "")]]));
}

#[test]
fn multi_valued_rdns_are_sets() {
    let n = name("CN=a+UID=b, O=c");
    assert_eq!(n.rdns().len(), 2);
    assert_eq!(n.rdns()[0], vec![text(CN, "a"), text(UID, "b")]);
    assert_eq!(n, name("UID=b+CN=a,O=c"));
    assert_ne!(n, name("CN=a, UID=b, O=c"));
    assert_ne!(n, name("CN=a+UID=b"));
    assert_eq!(n.to_string(), "CN=a+UID=b, O=c");
}

#[test]
fn types_by_name_alias_or_oid() {
    assert_eq!(name("2.5.4.3=x"), name("CN=x"));
    assert_eq!(name("Email=a@b"), name("emailAddress=a@b"));
    assert_eq!(name("E=a@b").to_string(), "emailAddress=a@b");
    assert_eq!(name("dc=example,DC=com").to_string(), "DC=example, DC=com");
    assert_eq!(name("1.2.3.4=x").to_string(), "1.2.3.4=x");
}

#[test]
fn der_values_read_and_written_as_hex() {
    // UTF8String "ops": the same value as the text.
    assert_eq!(name("CN=#0C036F7073"), name("CN=ops"));
    // BMPString "ops".
    assert_eq!(name("CN=#1E06006F00700073"), name("CN=ops"));
    // An INTEGER is not text: it stays DER.
    let n = name("1.2.3.4=#020105");
    assert_eq!(n.rdns()[0][0].value, Value::Der(vec![2, 1, 5]));
    assert_eq!(n.to_string(), "1.2.3.4=#020105");
    assert_eq!(name(&n.to_string()), n);
}

#[test]
fn writing_escapes_what_is_not_printable_ascii() {
    for (value, written) in [
        ("#lead", r"CN=\#lead"),
        ("mid#", "CN=mid#"),
        (" x ", r"CN=\ x\ "),
        ("a\nb", r"CN=a\0Ab"),
        ("nul\0", r"CN=nul\00"),
        ("\u{202e}evil", r"CN=\E2\80\AEevil"),
        ("Zoë", r"CN=Zo\C3\AB"),
        (r#"q"<>;\+"#, r#"CN=q\"\<\>\;\\\+"#),
    ] {
        let n = Name::new(vec![vec![text(CN, value)]]);
        assert_eq!(n.to_string(), written, "{value:?}");
        assert_eq!(name(written), n, "{written} reads back");
    }
    assert_eq!(Name::new(vec![vec![text(CN, "ops")], vec![text(O, "x")]]).to_string(), "CN=ops, O=x");
}

#[test]
fn bad_text_is_refused_with_a_reason() {
    for (bad, needle) in [
        ("", "empty"),
        ("   ", "empty"),
        ("scaler-1", "has no \"=\""),
        ("=x", "attribute type is missing"),
        ("CN=a,", "missing at the end"),
        ("CN=a,,O=b", "before \"=\""),
        ("XX=a", "unknown attribute type \"XX\""),
        ("2.5.x=a", "not a dotted OID"),
        ("2=a", "not a dotted OID"),
        (r"CN=a\", "escapes nothing"),
        (r"CN=a\q", "must be followed by"),
        (r"CN=a\4", "one hex digit"),
        ("CN=a;b", "must be escaped"),
        ("CN=\"a\"", "must be escaped"),
        ("CN=<a>", "must be escaped"),
        (r"CN=\FF", "not UTF-8"),
        ("CN=#0C0", "even number"),
        ("CN=#0C05616263", "one DER value"),
        ("CN=#0C zz", "hex digits only"),
    ] {
        let e = bad.parse::<Name>().unwrap_err().to_string();
        assert!(e.contains(needle), "{bad:?}: {e}");
    }
}
