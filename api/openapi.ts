/**
 * The OpenAPI 3.1 description of the local API, served at `GET /openapi.json`: generated from the
 * routes the app mounted (routes.ts, through its registry), so it lists exactly those routes with
 * the schemas that validate them. Only what is said about the API as a whole is written here.
 *
 * @module
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { ERRORS } from "./errors.ts";
import type { ApiEnv } from "./guard.ts";

/** A JSON object. */
export type Json = Record<string, unknown>;

/** The OpenAPI document: its paths, by path and lowercase method. */
export type OpenApiDocument = { paths: Record<string, Record<string, Json>> } & Json;

const cache = new WeakMap<object, OpenApiDocument>();

/**
 * Builds (once per app) the OpenAPI 3.1 document of an app whose routes were mounted with
 * `mount` (api/_validate.ts).
 *
 * @example
 * ```ts
 * Object.keys(openApiDocument(app).paths); // ["/health", "/openapi.json", "/send", …]
 * ```
 */
export function openApiDocument(app: OpenAPIHono<ApiEnv>): OpenApiDocument {
  const known = cache.get(app);
  if (known) return known;
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
  });
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "schied local API",
      version: "1",
      description: "The daemon's loopback API. Every route but GET /health needs " +
        "`Authorization: Bearer <token>` (the `api-token` file; `curl -H @api-auth-header`). " +
        "Browsers are refused (Origin/Referer), and Host must be localhost. Error codes: " +
        ERRORS.map((e) => `${e.code} (${e.http})`).join(", ") + ".",
    },
    security: [{ bearer: [] }],
  }) as unknown as OpenApiDocument;
  cache.set(app, doc);
  return doc;
}
