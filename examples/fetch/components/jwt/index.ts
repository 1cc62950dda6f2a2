// jwt: the jose npm package signing and verifying HS256 JSON Web Tokens on
// rusm's Web Crypto (HMAC on the host). A tampered token and an expired
// one are refused. Then a fetch, which this component's profile does not
// allow.

import { errors, jwtVerify, SignJWT } from "jose";

export default async function main() {
  const secret = new TextEncoder().encode("a secret of at least thirty-two bytes!");
  const token = await new SignJWT({ room: "lobby" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("alice")
    .setIssuedAt(1_700_000_000)
    .setExpirationTime(4_000_000_000)
    .sign(secret);
  console.log(`token ${token}`);
  const { payload } = await jwtVerify(token, secret);
  console.log(`verified sub=${payload.sub} room=${payload.room}`);
  const [head, body, signature] = token.split(".");
  const forged = `${head}.${body.slice(0, -2)}${body.endsWith("A") ? "B" : "A"}${body.slice(-1)}.${signature}`;
  await jwtVerify(forged, secret).then(
    () => console.log("forged: accepted (wrong)"),
    (e) => console.log(`forged: ${(e as Error).constructor === errors.JWSSignatureVerificationFailed ? "refused" : e}`),
  );
  const stale = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime(1_000_000).sign(secret);
  await jwtVerify(stale, secret).then(
    () => console.log("expired: accepted (wrong)"),
    (e) => console.log(`expired: ${(e as errors.JOSEError).code}`),
  );
  await fetch("http://127.0.0.1:9400/").then(
    () => console.log("fetch: allowed (wrong)"),
    (e) => console.log(`fetch: ${(e as Error).name}: ${(e as Error).message}`),
  );
}
