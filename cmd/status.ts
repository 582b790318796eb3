/**
 * `schied status`: the daemon's relay state, outbox and counts.
 *
 * @module
 */
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied status [--json]

Shows the daemon's id, the relay connection (connecting, online, offline, and while not online
the last error with a hint), the outbox (messages not yet delivered, and the age of the oldest),
sessions and contacts. Exit code 5 when the relay is not online.

  --json   the same as JSON

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { json: { type: "boolean" } });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied status takes no arguments, got "${positionals[0]}"`);
  }
  const api = await connectApi(values, env);
  const s = await withApi(() => api.status());
  if (values.json) console.log(JSON.stringify(s));
  else {
    const age = s.outbox.oldest === null
      ? ""
      : ` (oldest ${Math.round((Date.now() - s.outbox.oldest) / 1000)} s)`;
    console.log(`id        ${s.id}`);
    console.log(
      `relay     ${s.relay.state}${
        s.relay.address ? `  ${s.relay.address}` : "  (none configured)"
      }`,
    );
    const err = s.relay.state === "online" ? null : s.relay.last_error;
    if (err) {
      const ago = Math.max(0, Math.round((Date.now() - err.at) / 1000));
      console.log(
        `error     ${escapeText(err.reason)}${err.code ? ` (${err.code})` : ""}, ${ago} s ago`,
      );
      if (err.hint) console.log(`hint      ${escapeText(err.hint)}`);
    }
    console.log(`outbox    ${s.outbox.size} pending${age}`);
    console.log(`sessions  ${s.sessions}`);
    console.log(`contacts  ${s.contacts}`);
    console.log(`version   ${s.version}, up ${Math.round(s.uptime_ms / 1000)} s`);
  }
  return s.relay.state === "online" ? EXIT.ok : EXIT.relay_offline;
}
