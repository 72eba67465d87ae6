import type { VueWrapper } from '@vue/test-utils'
import { mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import type { TrainerStatus } from '../../src/composables/useTrainerStatus'
import { PROTOCOL_VERSION } from '../../src/protocol'
import { FakeWebSocket } from './fakeWebSocket'
import { episodeEnd, hello, meters, modelLoaded, state, trainingStatus } from './fixtures'

let wrapper: VueWrapper | undefined

async function mountApp(): Promise<{ w: VueWrapper, ws: FakeWebSocket }> {
  wrapper = mount(App, { global: { plugins: [createPinia()] } })
  const ws = FakeWebSocket.latest()
  ws.serverOpen()
  await nextTick()
  return { w: wrapper, ws }
}

/** The server sends; states wait for the next animation frame, so let one pass. */
async function serve(ws: FakeWebSocket, ...messages: unknown[]): Promise<void> {
  for (const m of messages)
    ws.serverSend(m)
  vi.advanceTimersToNextFrame()
  await nextTick()
}

/** What the dev server's /__townlet/trainer says now: a status, or 404 (no such endpoint). */
let trainerAnswer: TrainerStatus | 404

beforeEach(() => {
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeWebSocket)
  FakeWebSocket.reset()
  trainerAnswer = 404
  // Only the dev server's trainer endpoint answers; the live server's /api (system, alerts) is not there.
  vi.stubGlobal('fetch', vi.fn((input: string) => Promise.resolve(trainerAnswer === 404 || input !== '/__townlet/trainer'
    ? new Response('Not Found', { status: 404 })
    : new Response(JSON.stringify(trainerAnswer), { status: 200 }))))
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('App wired to the live socket', () => {
  it('opens one same-origin socket and says live once open', async () => {
    const { w } = await mountApp()
    expect(FakeWebSocket.instances).toHaveLength(1)
    expect(FakeWebSocket.latest().url).toBe(`ws://${window.location.host}/ws`)
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
  })

  it('renders what the server says', async () => {
    const { w, ws } = await mountApp()
    await serve(ws,
      hello(),
      modelLoaded({ checkpoint: 'ckpt_000420.pt', episode: 420 }),
      trainingStatus({ episode: 500, latest_checkpoint: 'ckpt_000500.pt' }),
      { type: 'episode_start', episode: 7, affordances: hello().affordances },
      state({ episode: 7, step: 12, x: 2, y: 2, action: 'LEFT', standing_on: 'Shower', meters: meters({ money: 0.37 }) }),
    )
    expect(w.get('[data-testid="checkpoint-name"]').text()).toBe('ckpt_000420.pt')
    expect(w.get('[data-testid="agent"]').attributes('data-x')).toBe('2')
    expect(w.get('[data-testid="agent"]').attributes('data-y')).toBe('2')
    expect(w.get('[data-testid="affordance-Shower"]').classes()).toContain('occupied')
    expect(w.get('[data-testid="meter-money"]').attributes('data-value')).toBe('0.37')
    expect(w.get('[data-testid="meter-money"]').text()).toContain('$37')
    expect(w.get('[data-testid="last-action"]').text()).toContain('LEFT')
    expect(w.get('[data-testid="episode-number"]').text()).toBe('#7')
    expect(w.get('[data-testid="step-counter"]').text()).toContain('12')
    expect(w.get('[data-testid="step-counter"]').text()).toContain('500')
    expect(w.get('[data-testid="training-status"]').text()).toContain('500')
    expect(w.get('[data-testid="training-status"]').text()).toContain('80 training episodes behind')
    expect(w.get('[data-testid="newer-checkpoint"]').text()).toContain('ckpt_000500.pt')
    expect(w.get('[data-testid="q-values"]').attributes('data-greedy')).toBe('WAIT')
  })

  it('records finished episodes in the history', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), modelLoaded(), episodeEnd({ episode: 1, steps: 150 }), episodeEnd({ episode: 2, steps: 210, cause: 'health' }))
    const bars = w.findAll('[data-testid="history-bar"]')
    expect(bars.map(b => [b.attributes('data-steps'), b.attributes('data-cause')])).toEqual([['150', 'energy'], ['210', 'health']])
  })

  it('says when no checkpoint exists yet, and flags an untrained one', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), { type: 'waiting_for_model', message: 'no checkpoint in runs/demo yet' })
    expect(w.text()).toContain('Waiting for the first checkpoint')
    expect(w.text()).toContain('no checkpoint in runs/demo yet')
    expect(w.find('[data-testid="checkpoint-name"]').exists()).toBe(false)
    await serve(ws, modelLoaded({ untrained: true }))
    expect(w.find('[data-testid="untrained-badge"]').exists()).toBe(true)
  })

  it('shows a lost connection truthfully and reconnects', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), state())
    ws.drop()
    await nextTick()
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('reconnecting')
    expect(w.text()).toContain('Connection lost')
    vi.advanceTimersByTime(500)
    expect(FakeWebSocket.instances).toHaveLength(2)
    FakeWebSocket.latest().serverOpen()
    await nextTick()
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
    expect(w.text()).not.toContain('Connection lost')
  })

  it('sends set_speed from the speed buttons', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello())
    await w.get('[data-testid="speed-20"]').trigger('click')
    expect(ws.sent.map(s => JSON.parse(s) as unknown)).toEqual([{ type: 'set_speed', steps_per_second: 20 }])
    expect(w.get('[data-testid="speed-20"]').attributes('aria-pressed')).toBe('true')
  })

  it('closes its socket when unmounted', async () => {
    const { ws } = await mountApp()
    wrapper?.unmount()
    wrapper = undefined
    expect(ws.closeCalls).toHaveLength(1)
    vi.advanceTimersByTime(60_000)
    expect(FakeWebSocket.instances).toHaveLength(1)
  })
})

describe('App and the trainer indicator', () => {
  const up: TrainerStatus = { url: 'http://gpu-box:8766', ok: true, error: null, detail: null, protocol_version: PROTOCOL_VERSION }
  const down: TrainerStatus = {
    ...up,
    ok: false,
    error: 'refused',
    detail: 'connection refused: is run_demo.py running on gpu-box, and port 8766 open in its firewall?',
    protocol_version: null,
  }

  /** Run the clock `ms` in small steps; every socket attempt made meanwhile fails (trainer away). */
  async function trainerAway(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      await vi.advanceTimersByTimeAsync(100)
      const ws = FakeWebSocket.latest()
      if (ws.readyState === FakeWebSocket.CONNECTING)
        ws.drop()
    }
    await nextTick()
  }

  function indicator(w: VueWrapper) {
    return w.find('[data-testid="trainer-indicator"]')
  }

  it('is hidden when the page has no dev server to ask (404)', async () => {
    const { w } = await mountApp()
    await vi.advanceTimersByTimeAsync(0)
    expect(indicator(w).exists()).toBe(false)
  })

  it('goes red when the trainer goes away, keeps the last state, and reconnects promptly when it is back', async () => {
    trainerAnswer = up
    const { w, ws } = await mountApp()
    await serve(ws, hello(), state({ x: 3, y: 4 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(indicator(w).attributes('data-state')).toBe('ok')
    expect(w.get('[data-testid="trainer-url"]').text()).toBe('http://gpu-box:8766')

    // The trainer goes away: the socket drops, and every retry fails.
    trainerAnswer = down
    ws.drop()
    await trainerAway(1000)
    expect(indicator(w).attributes('data-state')).toBe('error')
    expect(indicator(w).text()).toContain('refused')
    await trainerAway(20_000)
    // The page still shows the last state received, marked as such.
    expect(w.get('[data-testid="agent"]').attributes('data-x')).toBe('3')
    expect(w.text()).toContain('Connection lost')

    // Back: the backoff would wait up to 8 s more; the indicator's ok retries at once.
    const attempts = FakeWebSocket.instances.length
    trainerAnswer = up
    await vi.advanceTimersByTimeAsync(1000)
    expect(indicator(w).attributes('data-state')).toBe('ok')
    expect(FakeWebSocket.instances.length).toBe(attempts + 1)
    const again = FakeWebSocket.latest()
    again.serverOpen()
    await serve(again, hello(), state({ x: 5, y: 4 }))
    expect(w.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
    expect(w.get('[data-testid="agent"]').attributes('data-x')).toBe('5')
  })

  it('does not drop a live socket when the trainer recovers from a blip', async () => {
    trainerAnswer = up
    const { ws } = await mountApp()
    await vi.advanceTimersByTimeAsync(0)
    trainerAnswer = { ...down, error: 'unhealthy', detail: 'live play is failing' }
    await vi.advanceTimersByTimeAsync(1000)
    trainerAnswer = up
    await vi.advanceTimersByTimeAsync(1000)
    expect(FakeWebSocket.instances).toEqual([ws])
    expect(ws.closeCalls).toHaveLength(0)
  })

  it('says "wrong version" when hello names another protocol version', async () => {
    trainerAnswer = { ...up, protocol_version: null }
    const { w, ws } = await mountApp()
    await serve(ws, hello({ protocol_version: PROTOCOL_VERSION + 1 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(indicator(w).attributes('data-state')).toBe('error')
    expect(indicator(w).text()).toContain(`trainer speaks protocol ${PROTOCOL_VERSION + 1}, this page ${PROTOCOL_VERSION}`)
  })
})
