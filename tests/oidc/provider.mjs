// A real OpenID provider for passline's single sign-on tests: panva's certified
// `oidc-provider`, on 127.0.0.1, with the clients and users the tests give it.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"port": 0, "clients": [{client_id, client_secret, redirect_uris}],
//               "users": {"<sub>": {"password": "...", "claims": {email, email_verified, ...}}}}
// Once listening it prints one line, `READY <issuer>`, and serves until killed.
//
// What the tests need beyond a well-behaved provider is under /rogue/<mode>/: a provider
// of its own (its own discovery document and issuer) that sends the browser to the real
// authorization endpoint, lets the real token endpoint check the code, the client and
// PKCE, and then changes the ID token the way <mode> says (wrong audience, expired,
// signed with a key nobody published...). The app under test talks to it exactly as
// it talks to any provider.
//
// The sign-in page is this script's own small form (the package's development pages
// load a font from Google, and the browser tests refuse any third-party request).

import { readFileSync } from 'node:fs';
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

async function signingKey(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

function publicPart({ kty, n, e, kid, alg, use }) {
  return { kty, n, e, kid, alg, use };
}

// The provider's own key, a key published only after POST /test/rotate (key rotation),
// and a stranger's key that claims the provider's kid (a forged signature).
const providerKey = await signingKey('key-1');
const rotatedKey = await signingKey('key-2');
const strangerKey = await signingKey('key-1');
let rotated = false;

const server = http.createServer();
await new Promise((resolve) => { server.listen(config.port || 0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [providerKey] },
  cookies: { keys: ['passline-tests-only'] },
  // hd (Google Workspace) and tid (Microsoft Entra) come with the openid scope.
  claims: {
    openid: ['sub', 'hd', 'tid'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The ID token carries the claims (as Google's and Microsoft's do), not only /me.
  conformIdTokenClaims: false,
  // Every client must use PKCE: a client that does not is refused.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = config.users[sub];
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...user.claims }) };
  },
  // First-party test clients: consent is given once signed in.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
const providerCallback = provider.callback();

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test provider: sign in</title></head><body>
<main><h1>Test provider: sign in</h1>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="login" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Continue</button></form></main></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'interaction mismatch', 'text/plain');
  if (req.method === 'GET') return send(res, 200, loginPage(uid), 'text/html; charset=utf-8');
  if (action !== 'login') return send(res, 404, 'not found', 'text/plain');
  const form = new URLSearchParams(await readBody(req));
  const sub = form.get('login') || '';
  const user = config.users[sub];
  if (!user || user.password !== form.get('password')) {
    return send(res, 200, loginPage(uid, 'Wrong username or password.'), 'text/html; charset=utf-8');
  }
  return provider.interactionFinished(req, res, { login: { accountId: sub } }, {
    mergeWithLastSubmission: false,
  });
}

// ------------------------------------------------------------------ misbehaving providers

const MODES = new Set([
  'tampered', 'wrong-audience', 'wrong-issuer', 'expired', 'bad-signature', 'wrong-nonce',
  'no-id-token', 'rotated',
]);

async function rogueMetadata(mode) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  const metadata = await response.json();
  const base = `${issuer}/rogue/${mode}`;
  return {
    ...metadata,
    issuer: base,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    // The browser comes back from the real authorization endpoint, with its `iss`.
    authorization_response_iss_parameter_supported: false,
  };
}

function rogueJwks(mode) {
  const keys = [publicPart(providerKey)];
  if (mode === 'rotated' && rotated) keys.push(publicPart(rotatedKey));
  return { keys };
}

async function sign(claims, jwk) {
  const key = await jose.importJWK(jwk, 'RS256');
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .sign(key);
}

async function rogueToken(req, res, mode) {
  // The real token endpoint checks the code, the client's secret and the PKCE verifier.
  const answer = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: req.headers.authorization || '',
    },
    body: await readBody(req),
  });
  const token = await answer.json();
  if (!answer.ok || !token.id_token) return send(res, answer.status, token);
  const claims = jose.decodeJwt(token.id_token);
  const now = Math.floor(Date.now() / 1000);
  claims.iss = `${issuer}/rogue/${mode}`;
  let key = providerKey;
  // For another client, even with an `azp` naming the real one.
  if (mode === 'wrong-audience') Object.assign(claims, { azp: claims.aud, aud: 'another-application' });
  if (mode === 'wrong-issuer') claims.iss = `${issuer}/someone-else`;
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'wrong-nonce') claims.nonce = 'not-the-nonce-passline-sent';
  if (mode === 'bad-signature') key = strangerKey;
  if (mode === 'rotated' && rotated) key = rotatedKey;
  if (mode === 'no-id-token') delete token.id_token;
  else token.id_token = await sign(claims, key);
  return send(res, 200, token);
}

async function rogue(req, res, mode, rest) {
  if (!MODES.has(mode)) return send(res, 404, { error: 'no such mode' });
  if (rest === '/.well-known/openid-configuration') return send(res, 200, await rogueMetadata(mode));
  if (rest === '/jwks') return send(res, 200, rogueJwks(mode));
  if (rest === '/token' && req.method === 'POST') return rogueToken(req, res, mode);
  return send(res, 404, { error: 'not found' });
}

server.on('request', async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    let match = path.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    match = path.match(/^\/rogue\/([a-z-]+)(\/.*)$/);
    if (match) return await rogue(req, res, match[1], match[2]);
    if (path === '/test/rotate' && req.method === 'POST') {
      rotated = true;
      return send(res, 200, { rotated });
    }
    return providerCallback(req, res);
  } catch (error) {
    console.error(error);
    return send(res, 500, { error: String(error) });
  }
});

console.log(`READY ${issuer}`);
