//! nvfix's reading of a blacklist entry against the real thing: Python's own `re.match`, on hand-picked and generated
//! patterns. Needs `python3` (CI installs it); without it the test says so loudly and passes.

use nvfix::model::python_re::PythonRegex;
use std::io::Write;
use std::process::{Command, Stdio};

/// Package names as unattended-upgrades sees them (python-apt's `pkg.name`: `:arch` for foreign packages), and the
/// odd characters the generated patterns use.
const NAMES: &[&str] = &[
    "",
    "a",
    "ab",
    "aab",
    "b",
    "ba",
    "a-b",
    "a.b",
    "a+b",
    "a:i386",
    "A",
    "nvidia",
    "nvidia-driver-580",
    "nvidia-driver-580-open",
    "libnvidia-compute-580",
    "libnvidia-compute-580:i386",
    "xnvidia",
    "a{",
    "a{}",
    "a]",
    "{",
    "_",
    "0",
    "9a",
];

/// Patterns that each exercise one rule of Python's grammar.
const CHOSEN: &[&str] = &[
    "nvidia-",
    "libnvidia-",
    "nvidia-driver-580$",
    "x)|(nvidia",
    "(nvidia",
    "nvidia)",
    "a|",
    "|a",
    "(?:)*",
    "()*",
    "a{",
    "a{}",
    "a{,}",
    "a{,1}b",
    "a{1,}b",
    "a{x}",
    "a{1,x}",
    "a{2,1}",
    "a{4294967295}",
    "a{4294967294}",
    "a**",
    "a*?",
    "a*+",
    "a??",
    "a?+",
    "a{1}{2}",
    "a{1}?",
    "^*",
    "$*",
    r"\b*",
    r"\A+",
    "*a",
    "+",
    "?",
    "[",
    "[]",
    "[]a]",
    "[^]a]",
    "[a-]",
    "[-a]",
    "[a-z]",
    "[z-a]",
    r"[\w-a]",
    r"[a-\w]",
    r"[\w-]",
    r"[\d]",
    r"[\b]",
    r"[\B]",
    r"[\A]",
    r"[\8]",
    r"[\777]",
    r"[\12]",
    "[[a]",
    "[a--b]",
    "[a&&b]",
    r"\q",
    r"\8",
    r"\1",
    r"(a)\1",
    r"(a\1)",
    r"\0",
    r"\01",
    r"\012",
    r"\141",
    r"\400",
    r"\x61",
    r"\x6",
    r"\u0061",
    r"\u006",
    r"\U00000061",
    r"\U00110000",
    r"\N{LATIN SMALL LETTER A}",
    r"\N",
    r"\Z",
    r"a\Z",
    r"\-",
    r"\:",
    r"\é",
    "\\",
    "(?i)A",
    "(?i)NVIDIA",
    "a(?i)",
    "(?i)(?x) a b",
    "(?x)a b|c d",
    "(?x)a#c\nb",
    "(?x)[ ]",
    "(?L)a",
    "(?a)a",
    "(?u)a",
    "(?au)a",
    "(?a)(?u)a",
    "(?t)a",
    "(?t:a)",
    "(?-t:a)",
    "(?i-i:a)",
    "(?-a:a)",
    "(?-",
    "(?-:a)",
    "(?i",
    "(?z)",
    "(?-z:a)",
    "(?i:A)b",
    "(?-i:a)",
    "(?s:.)",
    "(?m)^a",
    "(?=a)",
    "(?!b)a",
    "(?<=a)b",
    "(?<!a)b",
    "(?<a>b)",
    "(?P<a>b)",
    "(?P<a>b)(?P=a)",
    "(?P<a>b)(?P<a>c)",
    "(?P<1>b)",
    "(?P=a)",
    "(?Px)",
    "(?P",
    "(?#comment)a",
    "a(?#comment)*",
    "(?#unterminated",
    "(?>a)",
    "(?(1)a)",
    "(a)(?(1)b|c)",
    "(a)(?(1)b|c|d)",
    "(?(0)a)",
    "(?(x)a)",
    "(?P<x>a)(?(x)b)",
    "(?",
    "(",
    ")",
    "a)",
    ".",
    ".+",
    "^a",
    "a$",
    "a|b",
    r"\w+",
    r"\W",
    r"\d",
    r"\D",
    r"\s",
    r"\S",
    r"\w{500}",
    "nvidia-.*",
    "(lib)?nvidia-compute-[0-9]+",
    "libnvidia-compute-580:i386",
    "libnvidia-compute-580(:i386)?$",
    r"[\x41-\x5a]+",
    r"[\0-\x2f]",
    r"[\141-\172]+$",
    "(?i)[^a]",
    "(?i)[a-c]+$",
    "(?i)[Z-a]",
    r"(?i)[\w]+$",
    r"(?i)\W",
    "(?s).",
    "(?m)a$",
    "(?m:^a)",
    "(?x)[#]a",
    "(?x)a{ 2}",
    "(?x)a {2}",
    "(?x)\\ a",
    "a(?x: b c)d",
    "(?-x: b)",
    "(?x)(?-x: b)",
    "(?i)(?-i:a)A",
    "[^]",
    "[^]]",
    r"[\]]",
    r"[\-]",
    r"[a\-z]",
    r"[\d-z]",
    r"[a-\d]",
    r"\d+$",
    r"\s",
    r"\S+",
    r"nvidia\-driver\-580$",
    r"nvidia-firmware-580-580\.95\.05$",
    r"libnvidia\+x$",
    "a{0}",
    "a{0,0}b",
    "(a|)+$",
    "(?:a|b)*?c",
    "(|a)+",
    "a|*",
    "(*)",
    "(?:*)",
    "((a)",
    "(?P<n>a)(?(n)b|c)",
    "(?P<n>a)(?(m)b)",
    "(?(a-)b)",
    "(?P<a-b>c)",
    "(?P<>c)",
    "(?P=)",
    r"\N{",
    r"\N{NO SUCH NAME}",
    "(?u)(?a)a",
    "(?a)(?u)a",
    "(?ia)k",
    "(?i)K",
];

/// Python's answers: per pattern, "E" (it raises) or one 0/1 per name.
fn python_answers(python: &str, patterns: &[String]) -> Vec<String> {
    let program = r#"
import json, re, sys, warnings
warnings.simplefilter("ignore")
names = json.loads(sys.argv[1])
for line in sys.stdin:
    pattern = json.loads(line)
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, ValueError, RecursionError):
        print("E")
        continue
    print("".join("1" if compiled.match(n) else "0" for n in names))
"#;
    let mut child = Command::new(python)
        .args(["-c", program, &serde_json::to_string(NAMES).unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut input = String::new();
    for p in patterns {
        input.push_str(&serde_json::to_string(p).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Short patterns over the characters that make Python's grammar branch, from a fixed seed.
fn generated(count: usize) -> Vec<String> {
    const ALPHABET: &[&str] = &[
        "a", "b", "a", "-", ":", "(", ")", "|", "*", "+", "?", "{", "}", ",", "1", "2", "[", "]",
        "^", "$", ".", "\\", "w", "d", "0", "?:", "(?", "i", "x", "P", "<", ">", "=", "!", "#",
        " ", "A", "Z",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = 1 + (next() % 8) as usize;
            (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn python3() -> Option<&'static str> {
    Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "python3")
}

#[test]
fn blacklist_entries_mean_what_python_re_match_means() {
    let Some(python) = python3() else {
        eprintln!("\n\n*** SKIPPED: python3 is not installed; the cross-check with Python's re.match did not run ***\n");
        return;
    };
    let mut patterns: Vec<String> = CHOSEN.iter().map(|s| s.to_string()).collect();
    patterns.extend(generated(20_000));
    let answers = python_answers(python, &patterns);
    assert_eq!(answers.len(), patterns.len());
    let (mut exact, mut invalid, mut unchecked) = (0, 0, 0);
    let mut wrong = Vec::new();
    for (pattern, python) in patterns.iter().zip(&answers) {
        let ours = PythonRegex::compile(pattern);
        let agrees = match &ours {
            PythonRegex::Exact(_) => {
                exact += 1;
                let mine: String = NAMES
                    .iter()
                    .map(|n| {
                        if ours.matches(n) == Some(true) {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect();
                &mine == python
            }
            PythonRegex::Invalid(_) => {
                invalid += 1;
                python == "E"
            }
            // Python may compile it or refuse it (a lookbehind of varying width): nvfix claims nothing either way.
            PythonRegex::Unchecked(_) => {
                unchecked += 1;
                true
            }
        };
        if !agrees {
            wrong.push(format!("{pattern:?}: python {python}, nvfix {ours:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} patterns differ:\n{}",
        wrong.len(),
        patterns.len(),
        wrong
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("python_re cross-check: {exact} exact, {invalid} invalid, {unchecked} unchecked");
    // The generator must reach every outcome, or the comparison proves little.
    assert!(
        exact > 1000 && invalid > 1000 && unchecked > 10,
        "{exact} {invalid} {unchecked}"
    );
}
