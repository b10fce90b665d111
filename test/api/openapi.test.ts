/**
 * The OpenAPI document of the admin API and the route table agree: every route in code is in the
 * document and every documented operation is served; path parameters are declared; the gateway
 * serves the document at /api/v1/openapi.json without a token.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminRoutes } from '../../src/api/admin.js';
import type { GatewayView } from '../../src/api/gateway-view.js';
import { OPENAPI } from '../../src/api/openapi.js';
import { startGateway } from '../integration/harness.js';
import { adminRequest } from './harness.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** `GET /api/v1/sessions/{id}` for every operation of the document. */
function documented(): Set<string> {
  const ops = new Set<string>();
  for (const [route, item] of Object.entries(OPENAPI.paths)) {
    for (const method of METHODS) {
      if (method in item) ops.add(`${method.toUpperCase()} ${route}`);
    }
  }
  return ops;
}

test('every admin route in code is in the OpenAPI document, and every documented route is in code', () => {
  // building the table reads nothing of the view
  const routes = adminRoutes({} as GatewayView);
  const inCode = new Set(routes.map((r) => `${r.method} ${r.path}`));
  assert.equal(inCode.size, routes.length, 'no route is listed twice');
  const inDoc = documented();
  assert.deepEqual(
    [...inCode].filter((r) => !inDoc.has(r)),
    [],
    'routes missing from the document',
  );
  assert.deepEqual(
    [...inDoc].filter((r) => !inCode.has(r)),
    [],
    'documented routes the code does not serve',
  );
});

test('each documented path parameter is declared, and routes without a token say so', () => {
  const routes = adminRoutes({} as GatewayView);
  for (const route of routes) {
    const item = OPENAPI.paths[route.path as keyof typeof OPENAPI.paths] as Record<string, unknown>;
    const op = item[route.method.toLowerCase()] as {
      parameters?: { name: string; in: string }[];
      security?: unknown[];
    };
    const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
    const inPath = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    assert.deepEqual(declared, inPath, `${route.method} ${route.path}`);
    assert.equal(
      op.security !== undefined && op.security.length === 0,
      !route.auth,
      `${route.method} ${route.path}: security matches the token check`,
    );
  }
});

test('the gateway serves the OpenAPI document without a token', async (t) => {
  const { gateway } = await startGateway(t);
  const reply = await adminRequest(gateway, '/api/v1/openapi.json');
  assert.equal(reply.status, 200);
  assert.equal(reply.json.openapi, '3.0.3');
  assert.deepEqual(reply.json, JSON.parse(JSON.stringify(OPENAPI)));
});
