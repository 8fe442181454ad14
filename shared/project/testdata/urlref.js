// Reads JSON strings, one a line, and writes for each how the WHATWG URL
// parser (the standard Symbolicator's url crate implements) reads it:
// {"ok", "scheme", "username", "password", "hostname", "port"}.
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin });
const out = [];
rl.on("line", (line) => {
  const s = JSON.parse(line);
  let r;
  try {
    const u = new URL(s);
    r = { ok: true, scheme: u.protocol.replace(/:$/, ""), username: u.username,
          password: u.password, hostname: u.hostname, port: u.port };
  } catch (e) {
    r = { ok: false, error: String(e) };
  }
  out.push(JSON.stringify(r));
});
rl.on("close", () => process.stdout.write(out.join("\n") + (out.length ? "\n" : "")));
