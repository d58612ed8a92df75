// The real OpenID provider for kaccess tests: oidc-provider v9 with one public
// native client, auto-approving interactions (no browser, no login page) and
// test-only endpoints under /__test/ to steer it. Options come as JSON in
// IDP_OPTIONS (snake_case, as IdpOptions in tests/it/support/idp.rs); the
// port from IDP_PORT (default 0). Prints `listening http://127.0.0.1:PORT`
// once ready.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import * as jose from 'jose';

import { Agent, inputValue } from './agent.mjs';

const opts = {
  subject: 'alice',
  email: 'alice@example.com',
  groups: ['sre'],
  amr: ['pwd', 'otp'],
  acr: 'urn:example:mfa',
  auth_time_offset_secs: 0,
  deny: false,
  client_id: 'kaccess',
  id_token_ttl_secs: 3600,
  access_token_ttl_secs: 3600,
  refresh_token_ttl_secs: 86400,
  device_code_ttl_secs: 600,
  device_interval_secs: 1,
  device_auto_approve_ms: null,
  advertised_issuer: null,
  ...JSON.parse(process.env.IDP_OPTIONS || '{}'),
};

const log = (...args) => {
  if (process.env.IDP_DEBUG) console.error('idp:', ...args);
};
const now = () => Math.floor(Date.now() / 1000);

// Signing keys: `signing` is what the provider publishes and signs with.
async function newSigningKey() {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const kid = crypto.randomBytes(8).toString('hex');
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, jwk, privateKey, publicKey };
}
// RSA key generation runs on the thread pool: overlap it with loading
// oidc-provider, which together dominate the start time.
const firstKey = newSigningKey();
const { default: Provider } = await import('oidc-provider');
// One store for every provider instance, so grants and tokens outlive a key
// rotation (which builds a new instance). Deep import: the version is pinned.
const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
const adapter = createMemoryAdapter();
let signing = await firstKey;

const cookieKeys = [crypto.randomBytes(32).toString('hex')];
let lastAuthorization = null;
let issuer;
let provider;

const ttl = (seconds) => () => seconds();

function buildProvider() {
  const p = new Provider(issuer, {
    clients: [{
      client_id: opts.client_id,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      // Native loopback client: any port is accepted (RFC 8252 section 7.3).
      redirect_uris: ['http://127.0.0.1/callback'],
    }],
    adapter,
    jwks: { keys: [signing.jwk] },
    cookies: { keys: cookieKeys },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // acr, amr and auth_time reach the ID token only when they belong to a scope.
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      profile: ['name', 'preferred_username'],
    },
    // Scope claims (email, groups) go into the ID token, not only userinfo.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: opts.email,
            email_verified: true,
            groups: opts.groups,
            name: sub,
            preferred_username: sub,
          };
        },
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      claimsParameter: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    ttl: {
      AccessToken: ttl(() => opts.access_token_ttl_secs),
      AuthorizationCode: 60,
      IdToken: ttl(() => opts.id_token_ttl_secs),
      RefreshToken: ttl(() => opts.refresh_token_ttl_secs),
      DeviceCode: ttl(() => opts.device_code_ttl_secs),
      Grant: ttl(() => opts.refresh_token_ttl_secs),
      Interaction: 600,
      Session: 3600,
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  // Say why a request failed: shown with a failing test's output.
  for (const event of ['authorization.error', 'grant.error', 'device_authorization.error',
    'code_verification.error', 'device_resume.error', 'introspection.error', 'revocation.error',
    'discovery.error', 'jwks.error', 'server_error']) {
    p.on(event, (_ctx, err) => console.error(`idp: ${event}: ${err.message} (${err.error_detail ?? ''})`));
  }

  p.use(async (ctx, next) => {
    const query = Object.fromEntries(new URLSearchParams(ctx.querystring));
    await next();
    const route = ctx.oidc?.route;
    if (route === 'authorization' || route === 'device_authorization') {
      lastAuthorization = {
        endpoint: route,
        ...query,
        ...(ctx.oidc.body ?? {}),
      };
      log('authorization request', lastAuthorization);
    }
    if (route === 'discovery' && opts.advertised_issuer && ctx.body) {
      ctx.body = { ...ctx.body, issuer: opts.advertised_issuer };
    }
    if (route === 'device_authorization' && ctx.status === 200) {
      // RFC 8628 lets the server omit interval (default 5 s); tests want it short and explicit.
      ctx.body = { ...ctx.body, interval: opts.device_interval_secs };
      if (opts.device_auto_approve_ms != null) {
        const userCode = ctx.body.user_code;
        setTimeout(() => {
          playDeviceUser(userCode, { abort: false }).catch((err) => console.error('idp: auto-approve failed:', err));
        }, opts.device_auto_approve_ms);
      }
    }
  });
  return p;
}

// The login and consent pages, answered without a human.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  log('interaction', prompt.name, details.uid);
  if (opts.deny) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User denied the request',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, {
      login: {
        accountId: opts.subject,
        acr: opts.acr ?? undefined,
        amr: opts.amr,
        ts: now() + opts.auth_time_offset_secs,
      },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  throw new Error(`unexpected prompt ${prompt.name}`);
}

// Plays the user on the provider's own device pages: enter the code, confirm
// (or abort), then the login/consent interactions.
async function playDeviceUser(userCode, { abort }) {
  const agent = new Agent(log);
  const page = `${issuer}/device`;
  const entry = await agent.request(page);
  const xsrf = inputValue(entry.text, 'xsrf');
  const confirmPage = await agent.request(page, { method: 'POST', form: { xsrf, user_code: userCode } });
  const confirmXsrf = inputValue(confirmPage.text, 'xsrf');
  if (!confirmXsrf) throw new Error(`device code ${userCode} not accepted: ${confirmPage.text.slice(0, 400)}`);
  const form = { xsrf: confirmXsrf, user_code: userCode, ...(abort ? { abort: 'yes' } : { confirm: 'yes' }) };
  const done = await agent.follow(page, issuer, { method: 'POST', form });
  // With `deny` the login itself fails, which the device pages also show as interrupted.
  const ok = abort || opts.deny ? /interrupted/.test(done.text) : /Sign-in Success/.test(done.text);
  if (!ok) throw new Error(`device flow for ${userCode} ended with ${done.status}: ${done.text.slice(0, 400)}`);
}

// Test-only token minting, for ID-token validation tests.
async function mint({ claims = {}, how = 'rs256' }) {
  const t = now();
  const payload = {
    iss: issuer,
    aud: opts.client_id,
    sub: opts.subject,
    email: opts.email,
    groups: opts.groups,
    amr: opts.amr,
    ...(opts.acr ? { acr: opts.acr } : {}),
    auth_time: t + opts.auth_time_offset_secs,
    iat: t,
    exp: t + opts.id_token_ttl_secs,
    ...claims,
  };
  for (const [key, value] of Object.entries(payload)) if (value === null) delete payload[key];
  const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  switch (how) {
    case 'rs256':
      return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: 'JWT' }).sign(signing.privateKey);
    case 'unknown_kid': {
      // A key the provider never published.
      const stranger = await newSigningKey();
      return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: stranger.kid, typ: 'JWT' }).sign(stranger.privateKey);
    }
    case 'alg_none':
      return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
    case 'hs256_with_public_key': {
      // Key confusion: HMAC keyed with the published RSA public key (PEM).
      const pem = await jose.exportSPKI(signing.publicKey);
      const input = `${b64({ alg: 'HS256', kid: signing.kid, typ: 'JWT' })}.${b64(payload)}`;
      const sig = crypto.createHmac('sha256', pem).update(input).digest('base64url');
      return `${input}.${sig}`;
    }
    default:
      throw new Error(`unknown mint method ${how}`);
  }
}

async function introspect(token) {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: opts.client_id }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`introspection failed: ${JSON.stringify(body)}`);
  return body;
}

const testRoutes = {
  'POST /__test/set': async (body) => {
    Object.assign(opts, body);
    return opts;
  },
  'GET /__test/last-authorization': async () => lastAuthorization,
  'POST /__test/approve-device': async ({ user_code }) => {
    await playDeviceUser(user_code, { abort: false });
    return { ok: true };
  },
  'POST /__test/deny-device': async ({ user_code }) => {
    await playDeviceUser(user_code, { abort: true });
    return { ok: true };
  },
  'POST /__test/mint': async (body) => ({ token: await mint(body) }),
  'POST /__test/rotate-keys': async () => {
    signing = await newSigningKey();
    provider = buildProvider();
    handler = provider.callback();
    return { kid: signing.kid };
  },
  'POST /__test/introspect': async ({ token }) => introspect(token),
};

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

let handler;
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, 'http://x');
  try {
    if (pathname.startsWith('/__test/')) {
      const route = testRoutes[`${req.method} ${pathname}`];
      if (!route) return reply(res, 404, { error: `no test route ${req.method} ${pathname}` });
      return reply(res, 200, await route(await readJson(req)));
    }
    if (pathname.startsWith('/interaction/') && req.method === 'GET') {
      return await interaction(req, res);
    }
    return handler(req, res);
  } catch (err) {
    console.error('idp:', req.method, pathname, err);
    if (!res.headersSent) reply(res, 500, { error: String(err?.message ?? err) });
    else res.end();
  }
});

server.listen(Number(process.env.IDP_PORT || 0), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = buildProvider();
  handler = provider.callback();
  process.stdout.write(`listening ${issuer}\n`);
});

// Exit with the parent: a test holds our stdin pipe and closes it by dying.
if (fs.fstatSync(0).isFIFO()) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
