/**
 * The file routes of the local API (protocol/README.md, section 11.10): uploads (a raw streamed
 * body, or multipart), the list, downloads with `Range`, accepting and deleting. Described like
 * routes.ts's; the app mounts both (app.ts).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { errors, intParam, ok } from "./routes.ts";
import * as S from "./schemas.ts";

const fileId = z.object({ id: z.string().openapi({ description: "The file id (32 hex digits)" }) });
const binary = { schema: z.string().openapi({ type: "string", format: "binary" }) };
const uploadQuery = z.object({
  to: S.SendRequest.shape.to.openapi({
    description: "Recipient: a client id, a contact name, or a group's name or id",
  }),
  name: z.string().optional().openapi({
    description: "The file's name (multipart: default the part's file name; a raw body " +
      "without it is named upload-YYYYMMDD-HHMMSS.EXT, UTC, the extension from its type)",
  }),
  type: z.string().optional().openapi({
    description: "Media type (default: the body's Content-Type, else by the name's extension)",
  }),
  size: intParam("size", 0).optional().openapi({
    description: "The file's size, for a body sent without Content-Length (chunked): a file " +
      "over max-file-bytes is then refused before any byte, as with Content-Length",
  }),
});
const upload = (method: "put" | "post") =>
  createRoute({
    method,
    path: "/files",
    summary: "Sends a file (durable once answered; the transfer is reported on /events)",
    description: "The body is the file: raw and streamed (`curl -T FILE`, any Content-Type but " +
      "multipart), or `multipart/form-data` with the file in a part (`curl -F file=@FILE`; read " +
      "whole by the daemon, so prefer a raw body for large files). It is sealed into the " +
      "daemon's file store before the answer; a body over max-file-bytes is refused (413 " +
      "`file_too_large`) by its Content-Length before any byte is read, or as soon as it is " +
      "longer, its partial copy deleted.",
    request: {
      query: uploadQuery,
      body: {
        required: true,
        content: {
          "application/octet-stream": binary,
          "multipart/form-data": { schema: z.object({ file: binary.schema }) },
        },
      },
    },
    responses: {
      202: ok(
        "Accepted: the file, `offered`; to a group, its transfers (one per other member)",
        S.FileRecord.or(S.GroupFiles),
      ),
      ...errors(
        "bad_request",
        "recipient_unknown",
        "file_too_large",
        "key_mismatch",
        "key_changed",
        "busy",
      ),
    },
  });

/** The file routes, by name. */
export const fileRoutes = {
  putFile: upload("put"),
  postFile: upload("post"),
  files: createRoute({
    method: "get",
    path: "/files",
    summary: "Files sent and received, newest first",
    request: {
      query: z.object({
        with: S.SendRequest.shape.to.optional().openapi({ description: "Only with this peer" }),
        limit: intParam("limit", 1, 1000).optional().openapi({ default: 100 }),
      }),
    },
    responses: {
      200: ok("Files", z.object({ files: z.array(S.FileRecord) })),
      ...errors("bad_request", "recipient_unknown"),
    },
  }),
  fileContent: createRoute({
    method: "get",
    path: "/files/{id}",
    summary: "Downloads a received file (Range supported)",
    description: "The file's bytes with its media type and `Content-Disposition: attachment`; " +
      "one `Range: bytes=` range gives 206 with `Content-Range` (416 outside the file). " +
      "`?info=1` answers its FileRecord as JSON instead, for any file.",
    request: {
      params: fileId,
      query: z.object({ info: z.enum(["0", "1"]).optional() }),
    },
    responses: {
      200: {
        description: "The file (or with ?info=1 its record)",
        content: {
          "application/octet-stream": binary,
          "application/json": { schema: S.FileRecord },
        },
      },
      206: { description: "The range asked for", content: { "application/octet-stream": binary } },
      ...errors("not_found", "file_not_ready", "range_not_satisfiable"),
    },
  }),
  acceptFile: createRoute({
    method: "post",
    path: "/files/{id}/accept",
    summary: "Accepts a file held from a non-contact: it is received",
    request: { params: fileId },
    responses: {
      200: ok("The file, now `receiving` (or `failed`: too large, over the quota)", S.FileRecord),
      ...errors("bad_request", "not_found", "body_too_large"),
    },
  }),
  deleteFile: createRoute({
    method: "delete",
    path: "/files/{id}",
    summary: "Cancels, declines or deletes a file (its bytes leave the disk)",
    request: { params: fileId },
    responses: {
      200: ok("The file, now `failed` (cancelled, declined or deleted)", S.FileRecord),
      ...errors("not_found", "body_too_large"),
    },
  }),
};
