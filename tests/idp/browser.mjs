#!/usr/bin/env node
// A test "browser" for $BROWSER: follows an authorization URL through the
// provider's (auto-approving) interactions with a cookie jar until the
// redirect leaves the provider, then delivers that redirect to the loopback
// callback, as a real browser would. Logs each step on stderr.

import { Agent } from './agent.mjs';

const log = (line) => process.stderr.write(`test-browser: ${line}\n`);

async function main(url) {
  if (!url) throw new Error('usage: browser.mjs AUTHORIZATION_URL');
  const agent = new Agent(log);
  const { origin } = new URL(url);
  const last = await agent.follow(url, origin);
  if (!last.leaving) {
    throw new Error(`stopped at the provider with ${last.status}: ${last.text.slice(0, 400)}`);
  }
  const callback = await fetch(last.leaving, { redirect: 'manual' });
  log(`callback answered ${callback.status}`);
  await callback.arrayBuffer();
}

main(process.argv[2]).then(
  () => process.exit(0),
  (err) => {
    log(`error: ${err.message}`);
    process.exit(1);
  },
);
