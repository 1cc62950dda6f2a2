// rusm-ts's URL and URLSearchParams against Bun's (a WHATWG-conformant
// implementation): every component of every case must agree, and so must
// which inputs are refused.
import { expect, test } from "bun:test";
import { URL as OurURL, URLSearchParams as OurParams } from "../src/web/url";

const absolute = [
  "http://example.com",
  "http://example.com/",
  "https://EXAMPLE.com:443/a/b?c=d#e",
  "http://example.com:8080/path/to/file.html?x=1&y=2#frag",
  "http://user:pass@host.example:81/p",
  "http://user@host/",
  "http://host/a/./b/../c",
  "http://host/a/b/../../..",
  "http://host/%2e%2E/x",
  "http://host/a b/ü?q r=ü#f g",
  "http://host/path?a='b'",
  "http://host\\path\\to",
  "http://[::1]:3000/x",
  "http://127.0.0.1:80/",
  "ws://localhost:8081",
  "wss://host/chat?room=1",
  "ftp://files.example/pub",
  "file:///etc/hosts",
  "file://localhost/etc/hosts",
  "mailto:someone@example.com",
  "data:text/plain,hello world",
  "custom://host/a/../b?x#y",
  "  http://trimmed.example/  ",
  "http://tab\t.example/",
  "HTTP://UPPER.EXAMPLE/Path",
  "http://host?only=query",
  "http://host#only-fragment",
  "http://host/?",
  "http://host/#",
  "http://h/a%20b%zz",
  "https://host:0/",
  "http://host:65535/",
  "urn:isbn:0451450523",
];
const relative: [string, string][] = [
  ["/x", "http://host/a/b"],
  ["x", "http://host/a/b"],
  ["../x", "http://host/a/b/c"],
  ["./", "http://host/a/b"],
  ["?q=1", "http://host/a/b?z#h"],
  ["#h2", "http://host/a/b?z#h"],
  ["", "http://host/a/b?z#h"],
  ["//other/p", "https://host/a"],
  ["\\\\other\\p", "https://host/a"],
  ["http:rel", "http://host/a/b"],
  ["https://abs/", "http://host/a"],
  ["../../../../x", "http://host/a/b"],
  ["?", "http://host/a"],
];
const bad: [string, string?][] = [
  ["nothing"],
  ["http://"],
  ["http://exa mple.com/"],
  ["http://host:99999/"],
  ["http://host:port/"],
  ["x", "mailto:a@b"],
  ["http://[::1/"],
];

const fields = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"] as const;

function same(input: string, base?: string) {
  const theirs = new URL(input, base);
  const ours = new OurURL(input, base);
  for (const f of fields) expect([input, base, f, ours[f]]).toEqual([input, base, f, theirs[f]]);
  expect([...ours.searchParams]).toEqual([...theirs.searchParams]);
  expect(String(ours)).toBe(String(theirs));
}

for (const input of absolute) test(`parses ${JSON.stringify(input)}`, () => same(input));
for (const [input, base] of relative) test(`resolves ${JSON.stringify(input)} against ${base}`, () => same(input, base));
for (const [input, base] of bad) {
  test(`refuses ${JSON.stringify(input)}${base ? ` against ${base}` : ""}`, () => {
    expect(() => new URL(input, base)).toThrow();
    expect(() => new OurURL(input, base)).toThrow(TypeError);
  });
}

test("setters rebuild the URL as Bun's do", () => {
  const edits: [string, (u: URL | OurURL) => void][] = [
    ["search", (u) => (u.search = "a=1&b=ü")],
    ["hash", (u) => (u.hash = "top")],
    ["pathname", (u) => (u.pathname = "/new path")],
    ["port", (u) => (u.port = "8081")],
    ["hostname", (u) => (u.hostname = "other.example")],
    ["host", (u) => (u.host = "h.example:99")],
    ["username", (u) => (u.username = "me")],
    ["params", (u) => u.searchParams.append("who", "a b&c")],
  ];
  for (const [what, edit] of edits) {
    const theirs = new URL("http://host.example:8080/p?x=1#h");
    const ours = new OurURL("http://host.example:8080/p?x=1#h");
    edit(theirs);
    edit(ours);
    expect([what, ours.href]).toEqual([what, theirs.href]);
  }
});

test("URLSearchParams parses, edits and serializes as Bun's does", () => {
  for (const init of ["a=1&b=2&a=3", "?q=a+b%20c&empty=&flag", "x=%E2%9C%93&y=%zz", "", "=v&k="]) {
    const theirs = new URLSearchParams(init);
    const ours = new OurParams(init);
    expect([...ours]).toEqual([...theirs]);
    expect(ours.toString()).toBe(theirs.toString());
    for (const p of [theirs, ours]) {
      p.append("z", "1 2+3&4=5/ü");
      p.set("a", "only");
      p.delete("b");
      p.sort();
    }
    expect(ours.toString()).toBe(theirs.toString());
    expect([ours.get("a"), ours.getAll("z"), ours.has("b"), ours.size]).toEqual([
      theirs.get("a"),
      theirs.getAll("z"),
      theirs.has("b"),
      theirs.size,
    ]);
  }
  expect(new OurParams([["a", "1"], ["b", "2"]]).toString()).toBe("a=1&b=2");
  expect(new OurParams({ who: "x y" }).toString()).toBe("who=x+y");
});
