/**
 * Where the trainer is, and whether the page can reach it: the dev server's side of "trainer on
 * a GPU machine, page on a laptop".
 *
 * The Python side starts Vite with
 *
 * - `TOWNLET_TRAINER_URL`: the trainer's live server, e.g. `http://gpu-box:8766` (unset: the
 *   all-local `http://127.0.0.1:${TOWNLET_API_PORT ?? 8766}`);
 * - `TOWNLET_TOKEN`: optional bearer token the trainer wants. Only this process ever holds it:
 *   the proxy adds it to what it forwards, and nothing sent to the browser contains it.
 *
 * `trainerStatusPlugin` serves `GET /__townlet/trainer` to the page: this process asks the
 * trainer's `/health` (with the token, 2 s at most) and says in one JSON object whether that
 * worked and, when not, why in words a person at the laptop can act on. Plain Node: `fetch`
 * and Vite's connect middleware, nothing else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Plugin } from 'vite'

export const TRAINER_STATUS_PATH = '/__townlet/trainer'
/** How long the dev server waits for the trainer's /health before saying "timed out". */
export const HEALTH_TIMEOUT_MS = 2000

export interface TrainerTarget {
  /** Base URL without a trailing slash and without credentials: safe to show. */
  url: string
  host: string
  port: string
  token: string | null
}

/** What can go wrong between this process and the trainer, as the page shows it. */
export type TrainerError = 'refused' | 'timed out' | 'unreachable' | 'bad token' | 'unhealthy' | 'bad answer'

/** The answer of `GET /__townlet/trainer` (mirrored by the page's `parseTrainerStatus`). */
export interface TrainerStatus {
  url: string
  ok: boolean
  error: TrainerError | null
  /** One short sentence saying what to check; null when ok. */
  detail: string | null
  /** The trainer's wire protocol version from its /health (null when it does not say). */
  protocol_version: number | null
}

type Env = Record<string, string | undefined>

/** The trainer's address and token from the environment; a bad URL fails start-up, naming the fix. */
export function trainerTarget(env: Env = process.env): TrainerTarget {
  const raw = env.TOWNLET_TRAINER_URL?.trim() || `http://127.0.0.1:${env.TOWNLET_API_PORT?.trim() || 8766}`
  let parsed: URL
  try {
    parsed = new URL(raw)
  }
  catch {
    parsed = new URL('invalid:')
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    throw new Error(`TOWNLET_TRAINER_URL=${JSON.stringify(raw)} is not an http(s) URL: `
      + 'give the trainer\'s live server as http://HOST:PORT (e.g. http://gpu-box:8766)')
  }
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80')
  const path = parsed.pathname.replace(/\/+$/, '')
  const token = env.TOWNLET_TOKEN?.trim() || null
  return { url: `${parsed.protocol}//${parsed.host}${path}`, host: parsed.hostname, port, token }
}

/** Headers every proxied request to the trainer carries (HTTP and the WebSocket upgrade). */
export function trainerHeaders(target: TrainerTarget): Record<string, string> {
  return target.token ? { Authorization: `Bearer ${target.token}` } : {}
}

/** The system error code behind a failed fetch (undici wraps it, sometimes in an AggregateError). */
function errorCode(err: unknown): string | null {
  let cur: unknown = err
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    const e = cur as { code?: unknown, cause?: unknown, errors?: unknown }
    if (typeof e.code === 'string')
      return e.code
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      cur = e.errors[0]
      continue
    }
    cur = e.cause
  }
  return null
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL'])
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** A failed connection as an answer: which kind of failure, and what to check. */
export function describeFailure(target: TrainerTarget, err: unknown, timedOut: boolean, timeoutMs = HEALTH_TIMEOUT_MS): TrainerStatus {
  const { url, host, port } = target
  const fail = (error: TrainerError, detail: string): TrainerStatus => ({ url, ok: false, error, detail, protocol_version: null })
  const code = errorCode(err)
  if (code === 'ECONNREFUSED')
    return fail('refused', `connection refused: is run_demo.py running on ${host}, and port ${port} open in its firewall?`)
  if (timedOut || (code !== null && TIMEOUT_CODES.has(code)))
    return fail('timed out', `no answer from ${host}:${port} within ${timeoutMs / 1000} s: is the machine up, and port ${port} open in its firewall?`)
  if (code !== null && DNS_CODES.has(code))
    return fail('unreachable', `cannot resolve the name ${host}: check TOWNLET_TRAINER_URL (or use the machine's IP address)`)
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN')
    return fail('unreachable', `no route to ${host}: is the machine on, and on this network (or the VPN up)?`)
  const why = code ?? (err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err))
  return fail('unreachable', `could not reach ${url} (${why}): check the address and the network`)
}

function protocolVersionOf(body: unknown): number | null {
  if (typeof body !== 'object' || body === null)
    return null
  const v = (body as { protocol_version?: unknown }).protocol_version
  return typeof v === 'number' && Number.isInteger(v) ? v : null
}

/** An HTTP answer from the trainer's /health as a status. */
export function describeAnswer(target: TrainerTarget, status: number, text: string): TrainerStatus {
  const { url } = target
  let body: unknown
  try {
    body = JSON.parse(text)
  }
  catch {
    body = undefined
  }
  const version = protocolVersionOf(body)
  const fail = (error: TrainerError, detail: string): TrainerStatus => ({ url, ok: false, error, detail, protocol_version: version })
  if (status === 401) {
    return fail('bad token', target.token
      ? 'the trainer refused the token (HTTP 401): set TOWNLET_TOKEN to the token the trainer was started with'
      : 'the trainer wants a token (HTTP 401): set TOWNLET_TOKEN to the token it was started with')
  }
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body)
  if (status === 503 && isObject) {
    const b = body as { status?: unknown, error?: unknown }
    const what = typeof b.status === 'string' ? b.status : 'failing'
    const why = typeof b.error === 'string' && b.error ? `: ${b.error.slice(0, 200)}` : ''
    return fail('unhealthy', `the live server answers, but live play is ${what}${why}`)
  }
  if (status !== 200)
    return fail('bad answer', `${url}/health answered HTTP ${status}: is this a Townlet live server (run_demo.py)?`)
  if (!isObject)
    return fail('bad answer', `${url}/health did not answer JSON: is this a Townlet live server (run_demo.py)?`)
  return { url, ok: true, error: null, detail: null, protocol_version: version }
}

export interface CheckOptions {
  timeoutMs?: number
  fetch?: typeof fetch
  /** Where a request's token comes from when the browser holds it (pageToken.ts); unset:
   * the token from the environment, one check shared by every tab. */
  tokenOf?: (req: IncomingMessage) => string | null
}

/** Ask the trainer's /health once, with the token, for at most `timeoutMs` (body included). */
export async function checkTrainer(target: TrainerTarget, options: CheckOptions = {}): Promise<TrainerStatus> {
  const timeoutMs = options.timeoutMs ?? HEALTH_TIMEOUT_MS
  const doFetch = options.fetch ?? fetch
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const res = await doFetch(`${target.url}/health`, {
      headers: { Accept: 'application/json', ...trainerHeaders(target) },
      signal: controller.signal,
      redirect: 'manual',
    })
    const text = await res.text()
    return describeAnswer(target, res.status, text)
  }
  catch (err) {
    return describeFailure(target, err, controller.signal.aborted, timeoutMs)
  }
  finally {
    clearTimeout(timer)
  }
}

/**
 * One check at a time however many tabs poll: a request that arrives while a check is running
 * gets that check's answer instead of starting another.
 */
export function sharedChecker(target: TrainerTarget, options: CheckOptions = {}): () => Promise<TrainerStatus> {
  let running: Promise<TrainerStatus> | null = null
  return () => {
    running ??= checkTrainer(target, options).finally(() => {
      running = null
    })
    return running
  }
}

export function trainerStatusMiddleware(check: (req: IncomingMessage) => Promise<TrainerStatus>) {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.statusCode = 405
      res.setHeader('Allow', 'GET, HEAD')
      res.end()
      return
    }
    check(req).then((status) => {
      const body = JSON.stringify(status)
      res.statusCode = 200
      res.setHeader('Content-Type', 'application/json; charset=utf-8')
      // Every poll must see the trainer as it is now.
      res.setHeader('Cache-Control', 'no-store')
      res.end(req.method === 'HEAD' ? undefined : body)
    }, next)
  }
}

/** Serves `GET /__townlet/trainer` from `vite` (dev) and `vite preview`. */
export function trainerStatusPlugin(target: TrainerTarget, options: CheckOptions = {}): Plugin {
  const { tokenOf } = options
  const shared = sharedChecker(target, options)
  // With the token in each browser's cookie, each check is that browser's own.
  const handler = trainerStatusMiddleware(tokenOf
    ? req => checkTrainer({ ...target, token: tokenOf(req) }, options)
    : () => shared())
  return {
    name: 'townlet-trainer-status',
    configureServer(server) {
      server.middlewares.use(TRAINER_STATUS_PATH, handler)
    },
    configurePreviewServer(server) {
      server.middlewares.use(TRAINER_STATUS_PATH, handler)
    },
  }
}
