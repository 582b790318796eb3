/**
 * `schied cancel ID`: cancels a message you sent that is not delivered yet
 * (`DELETE /messages/{id}`).
 *
 * @module
 */
import { ApiError } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { CliError, escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied cancel <message-id> [--json]

Cancels a message you sent that is not delivered yet (the id 'schied send' printed): it becomes
failed with reason "cancelled" and the daemon never sends it again. A message the relay already
took ("sent") is cancelled too, but the copy in flight may still reach the peer. A delivered
message cannot be taken back (exit 1). Exit code 4 when no message has this id.

  --json   print the message as JSON

${GLOBAL_HELP}`;

/** What each refusal means for the user: exit code and hint. */
const REFUSALS: Record<string, [number, string]> = {
  not_found: [
    EXIT.recipient_unknown,
    "use the id 'schied send' printed (GET /messages lists them)",
  ],
  already_delivered: [
    EXIT.error,
    "the peer's daemon stored it; a delivered message stays delivered",
  ],
  bad_request: [EXIT.error, "only a message you sent can be cancelled"],
};

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { json: { type: "boolean" } });
  if (values.help) return printHelp(HELP);
  const [id, extra] = positionals;
  if (!id) throw usage("schied cancel needs a message id: schied cancel <message-id>");
  if (extra !== undefined) throw usage(`schied cancel takes one message id, got "${extra}" too`);
  const api = await connectApi(values, env);
  const m = await withApi(async () => {
    try {
      return await api.cancelMessage(id);
    } catch (e) {
      const refusal = e instanceof ApiError ? REFUSALS[e.code] : undefined;
      if (refusal) throw new CliError((e as Error).message, refusal[0], refusal[1]);
      throw e;
    }
  });
  if (values.json) console.log(JSON.stringify(m));
  else if (m.reason === "cancelled") console.log(`cancelled ${m.id}`);
  else console.log(`${m.id} had failed already: ${escapeText(m.reason ?? "")}`);
  return EXIT.ok;
}
