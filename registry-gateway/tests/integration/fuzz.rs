//! The registry fuzz targets (`fuzz/src/registry.rs`) on the stable toolchain: every seed of
//! `fuzz/seeds/<target>/`, then proptest inputs shaped like the real values (challenges,
//! scopes, names under each route's prefixes) and arbitrary strings. Coverage-guided runs are
//! `fuzz/run.sh` (see `fuzz/README.md`).

use proptest::prelude::*;

#[path = "../../../fuzz/src/registry.rs"]
#[allow(dead_code, unreachable_pub)]
mod targets;

use targets::{REGISTRY_TARGETS, name_rewriter, scope_parser, www_authenticate};

#[test]
fn every_seed_of_the_registry_targets_keeps_their_invariants() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for (name, target) in REGISTRY_TARGETS {
        let dir = seeds.join(name);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            target(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n >= 2, "{} has {n} seeds", dir.display());
    }
}

fn param() -> impl Strategy<Value = String> {
    (
        prop_oneof!["realm", "service", "scope", "error", "Scope", "x"],
        prop_oneof![
            "\"[a-z0-9:/._ ,*=\\\\\"-]{0,30}\"".prop_map(|s| s),
            "[a-z0-9:/._*-]{1,20}",
            Just(
                "\"repository:proj-a/app:pull,push repository:b/c:pull registry:catalog:*\""
                    .to_owned()
            ),
        ],
        prop_oneof![",", ", ", " ,", ""],
    )
        .prop_map(|(n, v, sep)| format!("{n}={v}{sep}"))
}

fn challenge_header() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop_oneof!["Bearer", "bearer", "Basic", "Negotiate"],
            proptest::collection::vec(param(), 0..5),
        )
            .prop_map(|(scheme, ps)| format!("{scheme} {}", ps.concat())),
        "Basic [A-Za-z0-9+/]{0,12}={0,2}",
        any::<String>(),
    ]
}

fn scope_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(repository|registry|repository\\(plugin\\)|[a-z(]{0,6}):[a-z0-9/:._-]{0,20}:[a-z*,]{0,12}",
        any::<String>(),
    ]
}

fn client_name() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(""),
            Just("proxy/app1/ghcr.io/"),
            Just("team/x/"),
            Just("proj-a/"),
            Just("proj-b/sub/"),
            Just("proxy/app1/")
        ],
        "[a-z0-9]{1,6}([._-]{1,2}[a-z0-9]{1,4})?(/[a-z0-9]{1,5}){0,2}",
    )
        .prop_map(|(p, n)| format!("{p}{n}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn www_authenticate_values_round_trip(header in challenge_header()) {
        www_authenticate(header.as_bytes());
    }

    #[test]
    fn scopes_round_trip(lines in proptest::collection::vec(scope_text(), 1..4), sep in prop_oneof!["\n", " "]) {
        scope_parser(lines.join(&sep).as_bytes());
    }

    #[test]
    fn names_rewritten_for_the_upstream_come_back_unchanged(name in client_name(), header in challenge_header()) {
        name_rewriter(format!("{name}\n{header}").as_bytes());
    }

    #[test]
    fn rewritten_challenges_name_only_scopes_the_upstream_asked_for(
        names in proptest::collection::vec(client_name(), 1..4),
        actions in prop_oneof![Just("pull"), Just("pull,push"), Just("*"), Just("delete,pull")],
    ) {
        let scopes: Vec<String> = names.iter().map(|n| format!("repository:{n}:{actions}")).collect();
        let header = format!("Bearer realm=\"https://up.example/token\",service=\"up\",scope=\"{} registry:catalog:*\"", scopes.join(" "));
        name_rewriter(format!("{}\n{header}", names[0]).as_bytes());
    }
}
