//! Fuzzes driver version and kernel release ordering for the properties sorting relies on: antisymmetry,
//! transitivity, and equality agreeing with the order.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use nvfix::model::guards::compare_kernel_releases;
use nvfix::model::DriverVersion;

/// Checks that `cmp` is a total order on `a`, `b`, `c`.
fn check_order<T: std::fmt::Debug>(items: [&T; 3], cmp: impl Fn(&T, &T) -> Ordering) {
    let [a, b, c] = items;
    assert_eq!(cmp(a, a), Ordering::Equal, "{a:?} is not equal to itself");
    assert_eq!(
        cmp(a, b),
        cmp(b, a).reverse(),
        "not antisymmetric on {a:?}, {b:?}"
    );
    if cmp(a, b) != Ordering::Greater && cmp(b, c) != Ordering::Greater {
        assert_ne!(
            cmp(a, c),
            Ordering::Greater,
            "not transitive on {a:?} <= {b:?} <= {c:?}"
        );
    }
    if cmp(a, b) == Ordering::Equal && cmp(b, c) == Ordering::Equal {
        assert_eq!(
            cmp(a, c),
            Ordering::Equal,
            "equality not transitive on {a:?}, {b:?}, {c:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c]: [String; 3] = nvfix_fuzz::parts(data, 3).try_into().unwrap();
    check_order([&a, &b, &c], |x: &String, y: &String| {
        compare_kernel_releases(x, y)
    });
    let versions: Vec<DriverVersion> = [&a, &b, &c]
        .iter()
        .filter_map(|s| s.parse().ok().or_else(|| DriverVersion::parse_prefix(s)))
        .collect();
    if let [x, y, z] = versions.as_slice() {
        check_order([x, y, z], DriverVersion::cmp);
        assert_eq!(x == y, x.cmp(y) == Ordering::Equal);
        // The text round-trips.
        assert_eq!(x.as_str().parse::<DriverVersion>().as_ref(), Ok(x));
    }
});
