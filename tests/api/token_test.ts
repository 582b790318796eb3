import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import {
  AUTH_HEADER_FILE,
  createToken,
  loadOrCreateToken,
  readAuthHeader,
  readToken,
  TOKEN_FILE,
  writeTokenFiles,
} from "../../api/mod.ts";
import { startApi } from "./_helpers.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "schied-api-token-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createToken: 32 random bytes as 43 base64url characters", () => {
  const a = createToken();
  assertOk(/^[A-Za-z0-9_-]{43}$/.test(a), a);
  assertOk(a !== createToken());
});

Deno.test("token files: 0600, exact contents, atomic (no temp left), read back", async () => {
  await withDir(async (dir) => {
    const token = createToken();
    await writeTokenFiles(dir, token);
    assertEquals(await Deno.readTextFile(`${dir}/${TOKEN_FILE}`), token);
    assertEquals(
      await Deno.readTextFile(`${dir}/${AUTH_HEADER_FILE}`),
      `Authorization: Bearer ${token}\n`,
    );
    if (Deno.build.os !== "windows") {
      for (const f of [TOKEN_FILE, AUTH_HEADER_FILE]) {
        assertEquals((await Deno.stat(`${dir}/${f}`)).mode! & 0o777, 0o600, f);
      }
    }
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names.sort(), [AUTH_HEADER_FILE, TOKEN_FILE].sort());
    assertEquals(await readToken(dir), token);
    assertEquals(await readAuthHeader(dir), token);
    const next = createToken();
    await writeTokenFiles(dir, next); // replaces
    assertEquals(await readToken(dir), next);
    await assertRejects(() => writeTokenFiles(dir, "short"), (e) => e instanceof TypeError);
  });
});

Deno.test("readToken refuses a missing or malformed file", async () => {
  await withDir(async (dir) => {
    await assertRejects(() => readToken(dir), (e) => e instanceof Deno.errors.NotFound);
    await Deno.writeTextFile(`${dir}/${TOKEN_FILE}`, "not a token");
    await assertRejects(() => readToken(dir), (e) => e instanceof TypeError);
  });
});

Deno.test("loadOrCreateToken: creates once, then keeps it; repairs the header file", async () => {
  await withDir(async (dir) => {
    const t = await loadOrCreateToken(dir);
    assertEquals(await loadOrCreateToken(dir), t);
    await Deno.remove(`${dir}/${AUTH_HEADER_FILE}`);
    assertEquals(await loadOrCreateToken(dir), t);
    assertEquals(await readAuthHeader(dir), t);
  });
});

Deno.test("the header file works as `curl -H @file` would send it", async () => {
  await withDir(async (dir) => {
    await using api = startApi();
    await writeTokenFiles(dir, api.token);
    const line = (await Deno.readTextFile(`${dir}/${AUTH_HEADER_FILE}`)).trimEnd();
    const i = line.indexOf(": ");
    const res = await fetch(`${api.url}/send?to=alice`, {
      method: "POST",
      headers: {
        [line.slice(0, i)]: line.slice(i + 2),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "hi",
    });
    assertEquals(res.status, 202);
    await res.body?.cancel();
    assertEquals(api.fake.sends, [{ to: "alice", text: "hi" }]);
  });
});
