import type { EffectScope } from 'vue'
import type { TrainerStatus, TrainerStatusHandle } from '../../src/composables/useTrainerStatus'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, ref } from 'vue'
import { parseTrainerStatus, TRAINER_REQUEST_TIMEOUT_MS, TRAINER_STATUS_URL, trainerView, useTrainerStatus } from '../../src/composables/useTrainerStatus'
import { PROTOCOL_VERSION } from '../../src/protocol'

const URL = 'http://gpu-box:8766'

function okStatus(over: Partial<TrainerStatus> = {}): TrainerStatus {
  return { url: URL, ok: true, error: null, detail: null, protocol_version: PROTOCOL_VERSION, ...over }
}

const refused = okStatus({
  ok: false,
  error: 'refused',
  detail: 'connection refused: is run_demo.py running on gpu-box, and port 8766 open in its firewall?',
  protocol_version: null,
})

/**
 * A stand-in for the dev server's endpoint: answers what `answer` says now (a status, an HTTP
 * status code, or 'hang' for a request that never returns).
 */
let answer: TrainerStatus | number | 'hang'
let requests: string[]

function stubEndpoint(): void {
  requests = []
  vi.stubGlobal('fetch', vi.fn((input: string, init?: RequestInit) => {
    requests.push(input)
    const now = answer
    if (now === 'hang') {
      return new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    }
    if (typeof now === 'number')
      return Promise.resolve(new Response('Not Found', { status: now }))
    return Promise.resolve(new Response(JSON.stringify(now), { status: 200, headers: { 'Content-Type': 'application/json' } }))
  }))
}

let scope: EffectScope

function start(helloVersion = ref<number | null>(null)): TrainerStatusHandle {
  scope = effectScope()
  const handle = scope.run(() => useTrainerStatus({ helloVersion }))
  if (!handle)
    throw new Error('scope did not run')
  return handle
}

/** Let the timers run for `ms` and every answer they started settle. */
async function wait(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms)
}

beforeEach(() => {
  vi.useFakeTimers()
  answer = okStatus()
  stubEndpoint()
})

afterEach(() => {
  scope?.stop()
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('useTrainerStatus', () => {
  it('asks the dev server at once, then every second', async () => {
    const trainer = start()
    await wait(0)
    expect(requests).toEqual([TRAINER_STATUS_URL])
    expect(trainer.view.value).toEqual({ state: 'ok', url: URL, error: null, detail: null })
    await wait(3000)
    expect(requests).toHaveLength(4)
  })

  it('turns red within one polling period of the trainer going away, and green within one of its return', async () => {
    const trainer = start()
    await wait(0)
    expect(trainer.view.value?.state).toBe('ok')

    answer = refused
    await wait(1000)
    expect(trainer.view.value).toEqual({ state: 'error', url: URL, error: 'refused', detail: refused.detail })

    answer = okStatus()
    await wait(1000)
    expect(trainer.view.value?.state).toBe('ok')
  })

  it('turns red within 3 s when the trainer stops answering (the dev server says "timed out" after 2 s)', async () => {
    const trainer = start()
    await wait(0)
    // The dev server answers "timed out" 2 s after each request while the trainer is silent.
    vi.mocked(fetch).mockImplementation(() => new Promise(resolve => setTimeout(
      () => resolve(new Response(JSON.stringify(okStatus({ ok: false, error: 'timed out', detail: 'no answer', protocol_version: null })))),
      2000,
    )))
    await wait(3000)
    expect(trainer.view.value).toMatchObject({ state: 'error', error: 'timed out' })
  })

  it('passes the dev server\'s error and detail through, 503 included', async () => {
    answer = okStatus({ ok: false, error: 'unhealthy', detail: 'the live server answers, but live play is failing: boom', protocol_version: 1 })
    const trainer = start()
    await wait(0)
    expect(trainer.view.value).toEqual({ state: 'error', url: URL, error: 'unhealthy', detail: 'the live server answers, but live play is failing: boom' })
  })

  it('says "wrong version" when /health names another protocol version', async () => {
    answer = okStatus({ protocol_version: PROTOCOL_VERSION + 1 })
    const trainer = start()
    await wait(0)
    expect(trainer.view.value).toEqual({
      state: 'error',
      url: URL,
      error: 'wrong version',
      detail: `trainer speaks protocol ${PROTOCOL_VERSION + 1}, this page ${PROTOCOL_VERSION} — update both sides to the same Townlet`,
    })
  })

  it('falls back to hello\'s protocol version when /health does not say', async () => {
    answer = okStatus({ protocol_version: null })
    const version = ref<number | null>(null)
    const trainer = start(version)
    await wait(0)
    expect(trainer.view.value?.state).toBe('ok')
    version.value = PROTOCOL_VERSION + 1
    expect(trainer.view.value).toMatchObject({ state: 'error', error: 'wrong version' })
    version.value = PROTOCOL_VERSION
    expect(trainer.view.value?.state).toBe('ok')
  })

  it('hides, and stops asking, when the endpoint is missing (page not served by the dev server)', async () => {
    answer = 404
    const trainer = start()
    await wait(0)
    expect(trainer.view.value).toBeNull()
    expect(trainer.available.value).toBe(false)
    await wait(5000)
    expect(requests).toHaveLength(1)
  })

  it('hides when something else answers the path with a page (a single-page-app fallback)', async () => {
    vi.mocked(fetch).mockImplementation(() => Promise.resolve(new Response('<!doctype html><html></html>', { status: 200 })))
    const trainer = start()
    await wait(0)
    expect(trainer.view.value).toBeNull()
    expect(trainer.available.value).toBe(false)
  })

  it('keeps asking one request at a time, and says so when the page\'s own server stops answering', async () => {
    const trainer = start()
    await wait(0)
    answer = 'hang'
    await wait(1000)
    const asked = requests.length
    await wait(1000)
    // Still waiting on the hung request: no pile-up.
    expect(requests).toHaveLength(asked)
    // The request made at 1 s gives up at 1 s + TRAINER_REQUEST_TIMEOUT_MS.
    await wait(TRAINER_REQUEST_TIMEOUT_MS - 1000 + 100)
    expect(trainer.view.value).toMatchObject({ state: 'error', error: 'unreachable', url: URL })
    expect(trainer.view.value?.detail).toContain('Vite')
  })

  it('stays hidden while the dev server has never answered', async () => {
    vi.mocked(fetch).mockImplementation(() => Promise.reject(new TypeError('Failed to fetch')))
    const trainer = start()
    await wait(2000)
    expect(trainer.view.value).toBeNull()
    expect(trainer.available.value).toBe(true)
  })

  it('stops polling when its scope is disposed', async () => {
    start()
    await wait(0)
    scope.stop()
    const asked = requests.length
    await wait(5000)
    expect(requests).toHaveLength(asked)
  })
})

describe('parseTrainerStatus', () => {
  it('accepts the endpoint\'s answer, with or without a protocol version', () => {
    expect(parseTrainerStatus(okStatus())).toEqual(okStatus())
    expect(parseTrainerStatus(refused)).toEqual(refused)
    const { protocol_version: _v, ...noVersion } = okStatus()
    expect(parseTrainerStatus(noVersion)).toEqual(okStatus({ protocol_version: null }))
  })

  it.each([
    null,
    [],
    'ok',
    { ...okStatus(), url: 3 },
    { ...okStatus(), ok: 'yes' },
    { ...okStatus(), error: 1 },
    { ...okStatus(), detail: false },
    { ...okStatus(), protocol_version: 1.5 },
    { ...okStatus(), protocol_version: '1' },
  ])('rejects %j', (data) => {
    expect(parseTrainerStatus(data)).toBeNull()
  })
})

describe('trainerView', () => {
  it('ignores hello\'s version while the trainer is down (hello is from the last connection)', () => {
    expect(trainerView(refused, PROTOCOL_VERSION + 1)).toMatchObject({ state: 'error', error: 'refused' })
  })

  it('prefers /health\'s version, which is current, to hello\'s', () => {
    expect(trainerView(okStatus(), PROTOCOL_VERSION + 1)?.state).toBe('ok')
  })
})
