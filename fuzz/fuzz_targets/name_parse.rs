//! `DomainName::parse` on arbitrary text: never panics, and its normal form is a fixed
//! point (parsing the output again gives the same name).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pecwatch::name::{DomainName, display_name};

fuzz_target!(|input: &str| {
    let Ok(name) = DomainName::parse(input) else {
        return;
    };
    let again = DomainName::parse(name.as_str());
    assert_eq!(
        again.as_ref(),
        Ok(&name),
        "parse is not idempotent on {input:?}"
    );
    // The DNS form spells the same name.
    assert_eq!(
        display_name(&name.to_dns()),
        name.as_str(),
        "to_dns of {input:?}"
    );
    let _ = name.to_unicode();
});
