/**
 * All-remote: the page served to other machines (run_demo.py --host ADDR). Then this dev server
 * must not add the token for whoever asks, or anyone who can reach the page could drive the
 * trainer. Instead the person given the token opens `http://HOST:PORT/?token=TOKEN` once; we
 * move it into an HttpOnly, SameSite=Strict cookie and every request the page makes carries it,
 * through the proxy, to the trainer, which checks it (a cookie is per host, not per port, and
 * another site's page never gets a SameSite=Strict cookie sent along).
 *
 * The trainer also checks Origin against its own page's origin (`TOWNLET_PAGE_ORIGIN`,
 * http://127.0.0.1:PORT). A browser at http://gpu-box:PORT sends that name instead, so a
 * same-origin request (Origin's host equals the Host it was sent to) has its Origin rewritten
 * to the page's; any other Origin is passed on unchanged and refused there.
 *
 * The Python side sets `TOWNLET_TOKEN_IN_COOKIE=1` and `TOWNLET_PAGE_ORIGIN` for this mode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Plugin } from 'vite'

export const TOKEN_COOKIE = 'townlet_token'

type Env = Record<string, string | undefined>

export interface PageTokenMode {
  /** The origin the trainer accepts for our page (http://127.0.0.1:PORT). */
  pageOrigin: string
}

export function pageTokenMode(env: Env = process.env): PageTokenMode | null {
  if (env.TOWNLET_TOKEN_IN_COOKIE !== '1')
    return null
  const pageOrigin = env.TOWNLET_PAGE_ORIGIN?.trim()
  if (!pageOrigin)
    throw new Error('TOWNLET_TOKEN_IN_COOKIE=1 needs TOWNLET_PAGE_ORIGIN (http://127.0.0.1:PORT)')
  return { pageOrigin }
}

/** The token in a request's `townlet_token` cookie, or null. */
export function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === TOKEN_COOKIE && rest.length > 0) {
      try {
        return decodeURIComponent(rest.join('='))
      }
      catch {
        return null
      }
    }
  }
  return null
}

/** `GET /anything?token=T`: keep T in the cookie and send the browser on without it in the URL. */
export function tokenToCookie(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if (req.method !== 'GET' || !req.url?.includes('token=')) {
    next()
    return
  }
  const url = new URL(req.url, 'http://page.invalid')
  const token = url.searchParams.get('token')
  if (!token) {
    next()
    return
  }
  url.searchParams.delete('token')
  res.statusCode = 303
  res.setHeader('Set-Cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`)
  // Off the address bar and out of the history: the URL is not where a secret should stay.
  res.setHeader('Location', url.pathname + url.search)
  res.setHeader('Cache-Control', 'no-store')
  res.end()
}

interface HeaderSetter { setHeader: (name: string, value: string) => unknown }

/** For the proxy: a same-origin request's Origin becomes the page origin the trainer accepts. */
export function rewriteSameOrigin(mode: PageTokenMode) {
  return (proxyReq: HeaderSetter, req: IncomingMessage): void => {
    const origin = req.headers.origin
    const host = req.headers.host
    if (!origin || !host)
      return
    let originHost: string
    try {
      originHost = new URL(origin).host
    }
    catch {
      return
    }
    if (originHost === host)
      proxyReq.setHeader('origin', mode.pageOrigin)
  }
}

export function pageTokenPlugin(): Plugin {
  return {
    name: 'townlet-page-token',
    configureServer(server) {
      server.middlewares.use(tokenToCookie)
    },
  }
}
