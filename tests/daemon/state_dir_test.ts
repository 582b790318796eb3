import { assertEquals } from "../_assert.ts";
import { startRelayProcess } from "../harness.ts";
import { startDaemonProcess, waitOnline } from "../daemon_harness.ts";

async function modes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = { ".": ((await Deno.stat(dir)).mode! & 0o777).toString(8) };
  for await (const e of Deno.readDir(dir)) {
    out[e.name] = ((await Deno.stat(`${dir}/${e.name}`)).mode! & 0o777).toString(8);
  }
  return out;
}

Deno.test("state dirs: the dir is 0700 and every file in it 0600 (relay and daemon)", async () => {
  const relay = await startRelayProcess();
  const d = await startDaemonProcess({ relay: relay.address });
  await waitOnline(d);
  const live = { relay: await modes(relay.stateDir), daemon: await modes(d.stateDir) };
  assertEquals(await d.stop(), 0);
  assertEquals(await relay.stop(), 0);
  for (const [who, m] of Object.entries(live)) {
    for (const [name, mode] of Object.entries(m)) {
      assertEquals(mode, name === "." ? "700" : "600", `${who}: ${name}`);
    }
  }
});
