//! The fuzz targets on the stable toolchain: every seed of `fuzz/seeds/<target>/`, then
//! mutated variants of them (bit flips, interesting bytes, insertions, deletions, duplications,
//! splices and dictionary tokens), from a fixed seed so that a failure repeats.
//!
//! `DNS01_FUZZ_ITERATIONS` (default 1500 per target) and `DNS01_FUZZ_SEED` make a longer or
//! different run; coverage-guided fuzzing with libFuzzer is `fuzz/run.sh` (see
//! `fuzz/README.md`). A failing input is written to `target/fuzz-failures/<target>-<n>` so it can
//! be added to the seeds or replayed with `cargo fuzz run`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::fuzz_targets::TARGETS;

/// Tokens the mutator inserts: JSON structure, the payload's field names, and the characters
/// that name parsing and TXT decoding treat specially.
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\\"",
    b"\\065",
    b"\\256",
    b"\" \"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e400",
    b"4294967296",
    b"\"request\"",
    b"\"action\"",
    b"\"Present\"",
    b"\"CleanUp\"",
    b"\"config\"",
    b"\"delegation\"",
    b"\"zone\"",
    b"\"mode\"",
    b"\"map\"",
    b"\"tenantBinding\"",
    b"\"ttl\"",
    b"\"patSecretRef\"",
    b"\"namespace\"",
    b"\"resolvedFQDN\"",
    b"\"dnsName\"",
    b"\"key\"",
    b".",
    b"..",
    b"*.",
    b"@",
    b"/",
    b"%2F",
    b"xn--",
    b"xn--bcher-kva",
    b"\xc3\xa9",
    b"\xef\xbc\x8e",
    b"\xff",
    b"\0",
    b"\n",
    b"\r\n",
    b"_acme-challenge.",
    b"acme.platform.example",
];

const INTERESTING_BYTES: &[u8] = &[0, 0x7f, 0x80, 0xff, b'"', b'\\', b'.', b'-', b'*', b' '];

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Largest input the mutator builds; the payload target's body limit is 8 KiB, so this reaches
/// the 413 path.
const MAX_LEN: usize = 12 * 1024;

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = input[i..i + n].to_vec();
                let times = 1 + rng.below(64);
                for _ in 0..times {
                    input.splice(i..i, copy.iter().copied());
                }
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.below(len + 1);
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                input.splice(i..i, token.iter().copied());
            }
        }
        input.truncate(MAX_LEN);
    }
}

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

fn read_seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = seeds_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `body` on `input`; on a panic, saves the input and fails with where it is.
fn run_one(target: &str, n: u64, body: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| body(input))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{target}-{n}"));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {target} failed on input #{n} ({} bytes), saved to {}",
            input.len(),
            path.display()
        );
    }
}

fn fuzz(target: &str, default_iterations: u64) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let seeds = read_seeds(target);
    assert!(seeds.len() >= 5, "{target} has {} seeds", seeds.len());
    for (n, seed) in seeds.iter().enumerate() {
        run_one(target, n as u64, *body, seed);
    }
    let iterations = env_number("DNS01_FUZZ_ITERATIONS", default_iterations);
    let mut rng = Rng(env_number("DNS01_FUZZ_SEED", 0x5eed_d501).max(1));
    for n in 0..iterations {
        let mut input = if rng.below(10) == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        mutate(&mut rng, &mut input, &seeds);
        run_one(target, seeds.len() as u64 + n, *body, &input);
    }
}

#[test]
fn every_target_has_a_libfuzzer_entry_point_and_seeds() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = std::fs::read_to_string(fuzz_dir.join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        let entry = fuzz_dir.join(format!("fuzz_targets/{name}.rs"));
        let source =
            std::fs::read_to_string(&entry).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
        assert!(
            source.contains(&format!("dns01_fuzz::targets::{name}(data)")),
            "{} does not call its target",
            entry.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        assert!(seeds_dir(name).is_dir(), "no seeds for {name}");
    }
}

#[test]
fn the_payload_handler_survives_its_seeds_and_their_mutations() {
    fuzz("payload_handler", 1500);
}

#[test]
fn the_name_parser_keeps_its_invariants_on_its_seeds_and_their_mutations() {
    fuzz("name_parser", 5000);
}

#[test]
fn the_txt_decoder_round_trips_on_its_seeds_and_their_mutations() {
    fuzz("txt_decoder", 5000);
}

#[test]
fn the_config_parser_never_echoes_a_pasted_string_on_its_seeds_and_their_mutations() {
    fuzz("config_parser", 3000);
}
