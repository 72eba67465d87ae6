// @vitest-environment node
/**
 * The dev server's side of a remote trainer, against real sockets: trainerStatus.ts asking a
 * stand-in trainer's /health, and the real vite.config.ts (proxy and plugin) in a real Vite dev
 * server, checking what reaches the trainer: the token on every request, the WebSocket upgrade
 * included, and the browser's Origin unchanged.
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ViteDevServer } from 'vite'
import type { TrainerTarget } from '../../trainerStatus'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { createServer as createViteServer } from 'vite'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseTrainerStatus } from '../../src/composables/useTrainerStatus'
import { checkTrainer, describeFailure, sharedChecker, trainerTarget } from '../../trainerStatus'

const TOKEN = 's3cret-token'
const PAGE_ORIGIN = 'http://laptop.example:5173'

interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

/** A stand-in trainer: records what reaches it and answers /health with `health`. */
class FakeTrainer {
  server: Server
  seen: Seen[] = []
  upgrades: Seen[] = []
  health: { status: number, body: string } = { status: 200, body: JSON.stringify({ status: 'ok', error: null, protocol_version: 1, config: 'L1' }) }
  /** When true, requests are accepted and never answered. */
  silent = false

  constructor() {
    this.server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
      if (this.silent)
        return
      if (req.url === '/health') {
        res.writeHead(this.health.status, { 'Content-Type': 'application/json' }).end(this.health.body)
        return
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}')
    })
    this.server.on('upgrade', (req: IncomingMessage, socket) => {
      this.upgrades.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    })
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise(resolve => this.server.close(resolve))
  }
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = createHttpServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise(resolve => s.close(resolve))
  return port
}

function target(url: string, token: string | null = TOKEN): TrainerTarget {
  return trainerTarget({ TOWNLET_TRAINER_URL: url, TOWNLET_TOKEN: token ?? undefined })
}

describe('trainerTarget', () => {
  it('defaults to the all-local live server, honouring TOWNLET_API_PORT', () => {
    expect(trainerTarget({})).toEqual({ url: 'http://127.0.0.1:8766', host: '127.0.0.1', port: '8766', token: null })
    expect(trainerTarget({ TOWNLET_API_PORT: '9100' }).url).toBe('http://127.0.0.1:9100')
  })

  it('takes TOWNLET_TRAINER_URL and TOWNLET_TOKEN', () => {
    expect(trainerTarget({ TOWNLET_TRAINER_URL: 'http://gpu-box:8766/', TOWNLET_TOKEN: 'abc', TOWNLET_API_PORT: '9100' }))
      .toEqual({ url: 'http://gpu-box:8766', host: 'gpu-box', port: '8766', token: 'abc' })
    expect(trainerTarget({ TOWNLET_TRAINER_URL: 'https://trainer.example' }).port).toBe('443')
  })

  it.each(['gpu-box:8766', 'ftp://gpu-box', 'not a url'])('refuses %j, saying what to give', (url) => {
    expect(() => trainerTarget({ TOWNLET_TRAINER_URL: url })).toThrow(/TOWNLET_TRAINER_URL.*http:\/\/HOST:PORT/)
  })
})

describe('checkTrainer', () => {
  const trainer = new FakeTrainer()
  let url: string

  beforeAll(async () => {
    url = await trainer.listen()
  })
  afterAll(() => trainer.close())
  afterEach(() => {
    trainer.silent = false
    trainer.seen = []
    trainer.health = { status: 200, body: JSON.stringify({ status: 'ok', error: null, protocol_version: 1 }) }
  })

  it('is ok, with the protocol version, when /health answers; the token goes with the request', async () => {
    const status = await checkTrainer(target(url))
    expect(status).toEqual({ url, ok: true, error: null, detail: null, protocol_version: 1 })
    expect(trainer.seen[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(JSON.stringify(status)).not.toContain(TOKEN)
  })

  it('sends no Authorization without a token, and reads a missing protocol version as null', async () => {
    trainer.health = { status: 200, body: '{"status":"ok"}' }
    expect(await checkTrainer(target(url, null))).toMatchObject({ ok: true, protocol_version: null })
    expect(trainer.seen[0]?.headers.authorization).toBeUndefined()
  })

  it('says "bad token" on 401', async () => {
    trainer.health = { status: 401, body: '{"error":"this trainer needs its token"}' }
    const status = await checkTrainer(target(url))
    expect(status).toMatchObject({ ok: false, error: 'bad token' })
    expect(status.detail).toContain('TOWNLET_TOKEN')
    expect(JSON.stringify(status)).not.toContain(TOKEN)
    expect((await checkTrainer(target(url, null))).detail).toContain('wants a token')
  })

  it('says "unhealthy" on 503, with the server\'s reason and version', async () => {
    trainer.health = { status: 503, body: JSON.stringify({ status: 'failing', error: 'CUDA error: out of memory', protocol_version: 1 }) }
    expect(await checkTrainer(target(url))).toEqual({
      url,
      ok: false,
      error: 'unhealthy',
      detail: 'the live server answers, but live play is failing: CUDA error: out of memory',
      protocol_version: 1,
    })
  })

  it.each([
    [500, '{"detail":"boom"}', 'HTTP 500'],
    [200, '<html>not a trainer</html>', 'did not answer JSON'],
    [404, 'Not Found', 'HTTP 404'],
  ])('says "bad answer" on HTTP %i %j', async (code, body, words) => {
    trainer.health = { status: code, body }
    const status = await checkTrainer(target(url))
    expect(status).toMatchObject({ ok: false, error: 'bad answer' })
    expect(status.detail).toContain(words)
  })

  it('says "refused" when nothing listens on the port', async () => {
    const port = await freePort()
    const status = await checkTrainer(target(`http://127.0.0.1:${port}`))
    expect(status).toEqual({
      url: `http://127.0.0.1:${port}`,
      ok: false,
      error: 'refused',
      detail: `connection refused: is run_demo.py running on 127.0.0.1, and port ${port} open in its firewall?`,
      protocol_version: null,
    })
  })

  it('says "timed out" when the trainer does not answer in time', async () => {
    trainer.silent = true
    const started = Date.now()
    const status = await checkTrainer(target(url), { timeoutMs: 200 })
    expect(Date.now() - started).toBeLessThan(1500)
    expect(status).toMatchObject({ ok: false, error: 'timed out' })
    expect(status.detail).toContain('within 0.2 s')
  })

  it.each([
    ['ENOTFOUND', 'cannot resolve the name gpu-box'],
    ['EAI_AGAIN', 'cannot resolve the name gpu-box'],
    ['EHOSTUNREACH', 'no route to gpu-box'],
    ['ECONNRESET', 'ECONNRESET'],
  ])('says "unreachable" on %s', (code, words) => {
    // As undici reports it: a TypeError whose cause is the system error.
    const err = new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) })
    const status = describeFailure(target('http://gpu-box:8766'), err, false)
    expect(status).toMatchObject({ ok: false, error: 'unreachable' })
    expect(status.detail).toContain(words)
  })

  it('finds the code inside an AggregateError (a name with several addresses)', () => {
    const refusedEach = [Object.assign(new Error('a'), { code: 'ECONNREFUSED' }), Object.assign(new Error('b'), { code: 'ECONNREFUSED' })]
    const err = new TypeError('fetch failed', { cause: new AggregateError(refusedEach) })
    expect(describeFailure(target('http://localhost:8766'), err, false).error).toBe('refused')
  })

  it('asks once for requests that arrive while a check is running', async () => {
    trainer.silent = true
    const check = sharedChecker(target(url), { timeoutMs: 200 })
    const [a, b] = await Promise.all([check(), check()])
    expect(a).toBe(b)
    expect(trainer.seen).toHaveLength(1)
  })
})

describe('vite.config.ts against a trainer elsewhere', () => {
  const trainer = new FakeTrainer()
  let vite: ViteDevServer
  let trainerUrl: string
  let base: string
  const saved = { ...process.env }

  beforeAll(async () => {
    trainerUrl = await trainer.listen()
    process.env.TOWNLET_TRAINER_URL = trainerUrl
    process.env.TOWNLET_TOKEN = TOKEN
    vite = await createViteServer({
      configFile: fileURLToPath(new URL('../../vite.config.ts', import.meta.url)),
      logLevel: 'silent',
      server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
      optimizeDeps: { noDiscovery: true, include: [] },
    })
    await vite.listen()
    base = `http://127.0.0.1:${(vite.httpServer?.address() as AddressInfo).port}`
  }, 30_000)

  afterAll(async () => {
    await vite?.close()
    await trainer.close()
    process.env.TOWNLET_TRAINER_URL = saved.TOWNLET_TRAINER_URL
    process.env.TOWNLET_TOKEN = saved.TOWNLET_TOKEN
    for (const key of ['TOWNLET_TRAINER_URL', 'TOWNLET_TOKEN'] as const) {
      if (saved[key] === undefined)
        delete process.env[key]
    }
  })

  it('forwards /health and /api with the token, keeping the page\'s Origin', async () => {
    trainer.seen = []
    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(200)
    const post = await fetch(`${base}/api/play/pause`, { method: 'POST', headers: { Origin: PAGE_ORIGIN } })
    expect(post.status).toBe(200)
    expect(trainer.seen.map(s => [s.method, s.url, s.headers.authorization])).toEqual([
      ['GET', '/health', `Bearer ${TOKEN}`],
      ['POST', '/api/play/pause', `Bearer ${TOKEN}`],
    ])
    expect(trainer.seen[1]?.headers.origin).toBe(PAGE_ORIGIN)
    // changeOrigin: the trainer is addressed by its own name.
    expect(trainer.seen[1]?.headers.host).toBe(new URL(trainerUrl).host)
  })

  it('forwards the WebSocket upgrade with the token and the browser\'s Origin unchanged', async () => {
    trainer.upgrades = []
    const req = request(`${base}/ws`, {
      headers: {
        'Connection': 'Upgrade',
        'Upgrade': 'websocket',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '13',
        'Origin': PAGE_ORIGIN,
      },
    })
    req.end()
    const [res, socket] = await once(req, 'upgrade') as [IncomingMessage, import('node:net').Socket]
    socket.destroy()
    expect(res.statusCode).toBe(101)
    expect(trainer.upgrades).toHaveLength(1)
    expect(trainer.upgrades[0]?.url).toBe('/ws')
    expect(trainer.upgrades[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(trainer.upgrades[0]?.headers.origin).toBe(PAGE_ORIGIN)
  })

  it('answers /__townlet/trainer without the token, in the shape the page reads', async () => {
    const res = await fetch(`${base}/__townlet/trainer`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const text = await res.text()
    expect(text).not.toContain(TOKEN)
    expect(parseTrainerStatus(JSON.parse(text))).toEqual({ url: trainerUrl, ok: true, error: null, detail: null, protocol_version: 1 })
  })

  it('says the trainer is gone once it is', async () => {
    await trainer.close()
    const status = parseTrainerStatus(await (await fetch(`${base}/__townlet/trainer`)).json())
    expect(status).toMatchObject({ url: trainerUrl, ok: false, error: 'refused' })
  })
})
