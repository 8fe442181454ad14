// Reference answers from Rust's standard library, which Symbolicator uses
// to split a source file into lines, to decide whether it is text, to find
// character boundaries and to lower-case source link patterns.
//
// Input on stdin: records, each a little-endian u32 length and that many
// bytes. Output: one answer per record.
//
//   rustref lines   record = text; answer = "invalid", or the number of
//                   lines of str::lines() then each line in hex, one a line
//   rustref lower   record = UTF-8 text; answer = str::to_lowercase() in hex
//   rustref floor   record = u32 index + UTF-8 text; answer =
//                   str::floor_char_boundary(index)
use std::io::{self, Read, Write};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

fn u32le(b: &[u8]) -> usize {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
}

fn main() {
    let mode = std::env::args().nth(1).expect("mode: lines, lower or floor");
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).unwrap();
    let mut out = String::new();
    let mut rest = &input[..];
    while rest.len() >= 4 {
        let n = u32le(rest);
        let rec = &rest[4..4 + n];
        rest = &rest[4 + n..];
        match mode.as_str() {
            "lines" => match std::str::from_utf8(rec) {
                Err(_) => out.push_str("invalid\n"),
                Ok(s) => {
                    let lines: Vec<&str> = s.lines().collect();
                    out.push_str(&format!("{}\n", lines.len()));
                    for l in lines {
                        out.push_str(&hex(l.as_bytes()));
                        out.push('\n');
                    }
                }
            },
            "lower" => {
                let s = std::str::from_utf8(rec).unwrap();
                out.push_str(&hex(s.to_lowercase().as_bytes()));
                out.push('\n');
            }
            "floor" => {
                let i = u32le(rec);
                let s = std::str::from_utf8(&rec[4..]).unwrap();
                out.push_str(&format!("{}\n", s.floor_char_boundary(i)));
            }
            _ => panic!("unknown mode {}", mode),
        }
    }
    io::stdout().write_all(out.as_bytes()).unwrap();
}
