// A scripted user agent: fetch with a cookie jar and manual redirects, plus
// the little HTML scraping the provider's forms need. Shared by the test
// browser (browser.mjs) and the server's own device approval (server.mjs).

export class CookieJar {
  #cookies = new Map(); // `${path}\0${name}` -> { name, value, path }

  store(response, url) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const attr of attrs) {
        const [key, val = ''] = attr.split('=');
        const lower = key.toLowerCase();
        if (lower === 'path') path = val;
        if (lower === 'max-age' && Number(val) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const key = `${path}\0${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
    return url;
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter(({ path }) => pathname === path || pathname.startsWith(path.endsWith('/') ? path : `${path}/`))
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
  }
}

export class Agent {
  constructor(log = () => {}) {
    this.jar = new CookieJar();
    this.log = log;
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { cookie: this.jar.header(url) };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    this.log(`${method} ${url}`);
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.jar.store(response, url);
    const text = await response.text();
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location ? new URL(location, url).href : undefined,
      text,
    };
  }

  // Follows redirects while they stay on `origin`; returns the last response
  // on the origin, or { leaving: url } for a redirect elsewhere.
  async follow(url, origin, init) {
    let response = await this.request(url, init);
    for (let hops = 0; hops < 20; hops += 1) {
      if (!response.location) return response;
      if (new URL(response.location).origin !== origin) {
        return { ...response, leaving: response.location };
      }
      response = await this.request(response.location);
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

// The value of a hidden input in an HTML form, e.g. xsrf.
export function inputValue(html, name) {
  const match = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`));
  return match?.[1];
}

export function formAction(html) {
  return html.match(/<form[^>]*action="([^"]*)"/)?.[1];
}
