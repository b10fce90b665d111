/**
 * The OpenAPI 3 document of the admin port, served at /api/v1/openapi.json. A static object kept
 * beside the route table of admin.ts; a test checks that each lists exactly the routes of the
 * other (path and method).
 */
import { VERSION } from '../version.js';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const jsonObject = (description: string, ref = 'Object') => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});

const AUTH_ERRORS = {
  '401': error('no token, or not the admin token (FERRY_ERR_UNAUTHORIZED)'),
  '403': error('a technician token: the admin API wants the operator scope (FERRY_ERR_FORBIDDEN)'),
};

const pathParameter = (name: string, description: string, pattern: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', pattern },
});

const SESSION_ID = pathParameter('id', 'session id', '^[A-Za-z0-9_-]{1,64}$');

const queryParameter = (
  name: string,
  description: string,
  schema: object = { type: 'string' },
) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});

const REASON_BODY = (required: boolean) => ({
  required,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: { reason: { type: 'string', maxLength: 512 } },
        ...(required ? { required: ['reason'] } : {}),
      },
    },
  },
});

const OPERATOR_HEADER = {
  name: 'X-Ferry-Operator',
  in: 'header',
  required: false,
  description: 'the operator acting, recorded in the audit log as admin:<name>',
  schema: { type: 'string', pattern: '^[\\w.@ -]{1,64}$' },
};

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'Ferry gateway admin API',
    version: VERSION,
    description:
      'Health, metrics, status, operator actions, report search and the audit log of one gateway (docs/operations.md). Errors are {"error": {"code": "FERRY_ERR_...", "message": "..."}} with the codes of docs/protocol.md.',
  },
  components: {
    securitySchemes: {
      admin: {
        type: 'http',
        scheme: 'bearer',
        description:
          'the admin token (--admin-token, or <dataDir>/admin-token); technician tokens get 403',
      },
    },
    schemas: {
      Object: { type: 'object', additionalProperties: true },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      ReportRow: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          createdAt: { type: 'string', format: 'date-time' },
          endedAt: { type: 'string', format: 'date-time', nullable: true },
          durationMs: { type: 'integer' },
          status: { type: 'string' },
          endReason: { type: 'string', nullable: true },
          owner: { type: 'string' },
          creator: { type: 'string' },
          technicians: { type: 'array', items: { type: 'string' } },
          customer: { type: 'string' },
          computerName: { type: 'string' },
          address: { type: 'string' },
          logEntries: { type: 'integer' },
        },
      },
      TechnicianList: {
        type: 'object',
        properties: {
          count: { type: 'integer' },
          technicians: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                gatewayId: { type: 'string' },
                participantId: { type: 'string' },
                name: { type: 'string' },
                teams: { type: 'array', items: { type: 'string' } },
                connectedAtMs: { type: 'integer', description: 'Unix ms' },
              },
            },
          },
        },
      },
      ReportPage: {
        type: 'object',
        properties: {
          count: { type: 'integer' },
          reports: { type: 'array', items: { $ref: '#/components/schemas/ReportRow' } },
          nextCursor: { type: 'string', nullable: true },
        },
      },
    },
  },
  paths: {
    '/healthz': {
      get: { summary: 'liveness', security: [], responses: { '200': jsonObject('alive') } },
    },
    '/readyz': {
      get: {
        summary: 'readiness: 503 while draining, or while the shared directory cannot be reached',
        security: [],
        responses: {
          '200': jsonObject('ready'),
          '503': jsonObject('draining, or directory unavailable'),
        },
      },
    },
    '/api/v1/gateways': {
      get: {
        summary:
          'the live gateways of the deployment (id, url, region, sessions, cpu, bytesPerSecond, draining, seenAtMs): this one alone without --directory redis://; public, for clients choosing a relay',
        security: [],
        responses: { '200': jsonObject('gateways') },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus exposition',
        security: [],
        responses: { '200': { description: 'text exposition', content: { 'text/plain': {} } } },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        summary: 'this document',
        security: [],
        responses: { '200': jsonObject('OpenAPI 3') },
      },
    },
    '/api/v1/status': {
      get: {
        summary: 'gateway summary',
        responses: { '200': jsonObject('status'), ...AUTH_ERRORS },
      },
    },
    '/api/v1/technicians': {
      get: {
        summary:
          'the technicians connected now, to every live gateway of the deployment (to this one alone without --directory redis://): gateway, participant id, name, teams, connection time',
        responses: {
          '200': {
            description: 'connected technicians, by gateway then connection time',
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/TechnicianList' } },
            },
          },
          '503': error('FERRY_ERR_DIRECTORY_UNAVAILABLE: the shared directory cannot be reached'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions': {
      get: {
        summary: 'live sessions',
        responses: { '200': jsonObject('session list'), ...AUTH_ERRORS },
      },
    },
    '/api/v1/sessions/{id}': {
      get: {
        summary: 'one live session with network statistics',
        parameters: [SESSION_ID],
        responses: {
          '200': jsonObject('session'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND, or FERRY_ERR_SESSION_ENDED (see its report)'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/report': {
      get: {
        summary: 'the report of an ended session',
        parameters: [SESSION_ID],
        responses: {
          '200': jsonObject('report'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND, or FERRY_ERR_REPORT_NOT_READY'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/recordings': {
      get: {
        summary: 'the shell recordings of a session',
        parameters: [SESSION_ID],
        responses: {
          '200': jsonObject('recording list'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/recordings/{file}': {
      get: {
        summary: 'one recording file (asciicast or transcript)',
        parameters: [SESSION_ID, pathParameter('file', 'a listed recording file', '^[^/]{1,64}$')],
        responses: {
          '200': {
            description: 'the file',
            content: { 'application/x-asciicast': {}, 'text/plain': {} },
          },
          '404': error('FERRY_ERR_SESSION_NOT_FOUND or FERRY_ERR_NOT_FOUND'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/end': {
      post: {
        summary: 'end a live session as an operator (participants told, normal close 4100)',
        parameters: [SESSION_ID, OPERATOR_HEADER],
        requestBody: REASON_BODY(true),
        responses: {
          '200': jsonObject('ended'),
          '400': error('FERRY_ERR_BAD_REQUEST: no reason'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND'),
          '409': error('FERRY_ERR_SESSION_ENDED: already ended'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/participants/{pid}/kick': {
      post: {
        summary: 'take a collaborator (or invited technician) out of a live session',
        parameters: [
          SESSION_ID,
          pathParameter('pid', 'participant id', '^[A-Za-z0-9_-]{1,64}$'),
          OPERATOR_HEADER,
        ],
        requestBody: REASON_BODY(false),
        responses: {
          '200': jsonObject('kicked'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND or FERRY_ERR_PARTICIPANT_NOT_FOUND'),
          '409': error(
            'FERRY_ERR_STATE_CONFLICT: the owner or the customer (end the session instead); FERRY_ERR_SESSION_ENDED',
          ),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/sessions/{id}/pin/revoke': {
      post: {
        summary: "revoke a session's open PIN; the session waiting on it ends",
        parameters: [SESSION_ID, OPERATOR_HEADER],
        responses: {
          '200': jsonObject('revoked'),
          '404': error('FERRY_ERR_SESSION_NOT_FOUND'),
          '409': error(
            'FERRY_ERR_STATE_CONFLICT: no open PIN (already used); FERRY_ERR_SESSION_ENDED',
          ),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/pins/{pin}': {
      delete: {
        summary: 'revoke an open PIN; the session waiting on it ends',
        parameters: [pathParameter('pin', 'the PIN', '^[0-9]{1,32}$'), OPERATOR_HEADER],
        responses: {
          '200': jsonObject('revoked'),
          '404': error('FERRY_ERR_PIN_NOT_FOUND'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/tokens/{jti}/revoke': {
      post: {
        summary:
          "revoke a technician token by its id: added to the data directory's deny-list, refused at Hello, its live connections ended (FERRY_ERR_TOKEN_REVOKED)",
        parameters: [
          pathParameter('jti', 'the token id (jti claim)', '^[A-Za-z0-9_.-]{1,128}$'),
          OPERATOR_HEADER,
        ],
        responses: {
          '200': jsonObject('revoked'),
          '400': error('FERRY_ERR_BAD_REQUEST: this gateway keeps no token deny-list'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/drain': {
      post: {
        summary:
          'drain the gateway: no new sessions; live ones finish or end at the deadline, then it stops. With move (?move=1 or "move": true, a gateway sharing a directory only), live sessions first move to the least loaded other gateway and their participants resume there',
        parameters: [
          OPERATOR_HEADER,
          {
            name: 'move',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['1', 'true'] },
          },
        ],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  reason: { type: 'string', maxLength: 512 },
                  deadlineSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
                  move: { type: 'boolean' },
                },
              },
            },
          },
        },
        responses: {
          '202': jsonObject('draining'),
          '400': error('FERRY_ERR_BAD_REQUEST'),
          '409': error('FERRY_ERR_STATE_CONFLICT: already draining'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/reports': {
      get: {
        summary: 'search ended sessions newest first; export as JSON Lines or CSV',
        parameters: [
          queryParameter(
            'technician',
            'a technician of the session (owner, creator or collaborator), case-insensitive',
          ),
          queryParameter('customer', "the customer's name, case-insensitive"),
          queryParameter('address', "the customer's address as the gateway saw it"),
          queryParameter('from', 'created at or after (ISO 8601 or epoch ms)'),
          queryParameter('to', 'created before (ISO 8601 or epoch ms)'),
          queryParameter('text', 'the session log (chat or events) contains this text'),
          queryParameter('limit', 'page size: 1-1000 (default 50); exports up to 10000 (default)', {
            type: 'integer',
            minimum: 1,
            maximum: 10000,
          }),
          queryParameter(
            'cursor',
            'nextCursor of the previous page (also the X-Next-Cursor header)',
          ),
          queryParameter('format', 'json (default), jsonl or csv', {
            type: 'string',
            enum: ['json', 'jsonl', 'csv'],
          }),
        ],
        responses: {
          '200': {
            description: 'a page of report rows',
            headers: { 'X-Next-Cursor': { schema: { type: 'string' } } },
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/ReportPage' } },
              'application/x-ndjson': {},
              'text/csv': {},
            },
          },
          '400': error('FERRY_ERR_BAD_REQUEST: a parameter or the cursor'),
          ...AUTH_ERRORS,
        },
      },
    },
    '/api/v1/audit': {
      get: {
        summary: 'the last audit entries and the verdict on the hash chain',
        parameters: [
          queryParameter('limit', '1-10000 (default 100)', {
            type: 'integer',
            minimum: 1,
            maximum: 10000,
          }),
        ],
        responses: {
          '200': jsonObject('entries'),
          '400': error('FERRY_ERR_BAD_REQUEST'),
          ...AUTH_ERRORS,
        },
      },
    },
  },
  security: [{ admin: [] }],
} as const;
