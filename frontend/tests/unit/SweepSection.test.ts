import type { VueWrapper } from '@vue/test-utils'
import type { SweepView } from '../../src/protocol'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import SweepSection from '../../src/components/SweepSection.vue'
import { SWEEP_FOLLOW_URL, SWEEP_POLL_MS, SWEEP_URL } from '../../src/composables/useSweep'
import { FOLLOW_CLOSE_CODE } from '../../src/protocol'
import { useFeedbackStore } from '../../src/stores/feedback'
import { FakeWebSocket } from './fakeWebSocket'
import { hello } from './fixtures'
import { sweepTrial, sweepView } from './sweepFixtures'

/** The live server as far as the sweep goes: what GET /api/sweep answers, and the follows asked. */
let current: SweepView
let follows: unknown[]
let followAnswer: { status: number, body: unknown } | null

function stubServer(): void {
  follows = []
  followAnswer = null
  vi.stubGlobal('fetch', vi.fn((input: string, init?: RequestInit) => {
    const reply = (status: number, body: unknown) => Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }))
    if (input === SWEEP_URL)
      return reply(200, current)
    if (input === SWEEP_FOLLOW_URL && init?.method === 'POST') {
      const body = JSON.parse(String(init.body)) as { run: string }
      follows.push(body)
      if (followAnswer)
        return reply(followAnswer.status, followAnswer.body)
      // The server follows the trial asked for, as /api/sweep then says.
      const run = body.run === 'best' ? current.follow.best ?? current.trials[0]!.run : body.run
      current = {
        ...current,
        trials: current.trials.map(t => ({ ...t, followed: t.run === run })),
        follow: { ...current.follow, mode: body.run === 'best' ? 'best' : 'picked', run },
      }
      return reply(200, { ok: true, request: 'follow_trial', message: `following trial ${run}`, follow: current.follow })
    }
    return Promise.resolve(new Response('Not Found', { status: 404 }))
  }))
}

let wrapper: VueWrapper | undefined

beforeEach(() => {
  vi.useFakeTimers()
  setActivePinia(createPinia())
  current = sweepView()
  stubServer()
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

async function mountSection(): Promise<VueWrapper> {
  wrapper = mount(SweepSection, { global: { plugins: [createPinia()] } })
  await flushPromises()
  await nextTick()
  return wrapper
}

function rows(w: VueWrapper) {
  return w.findAll('[data-testid="sweep-trial-row"]')
}

describe('SweepSection', () => {
  it('lists every trial with its status and figures, and marks the followed and the best', async () => {
    const w = await mountSection()
    expect(rows(w)).toHaveLength(2)
    const [first, second] = rows(w)
    expect(first!.attributes()).toMatchObject({ 'data-run': 'run0aa', 'data-status': 'running', 'data-followed': 'false', 'data-best': 'false' })
    expect(second!.attributes()).toMatchObject({ 'data-run': 'run1aa', 'data-followed': 'true', 'data-best': 'true' })
    expect(first!.text()).toContain('#0 · seed 0')
    expect(first!.text()).toContain('12.0k') // env steps
    expect(first!.text()).toContain('1,500') // steps/s
    expect(first!.text()).toContain('40.0') // training survival
    expect(second!.find('[data-testid="sweep-live-tag"]').exists()).toBe(true)
    expect(second!.find('[data-testid="sweep-best-tag"]').exists()).toBe(true)
    expect(w.get('[data-testid="sweep-following"]').text()).toContain('#1 · seed 1, the best trial (auto)')
  })

  it('draws the curves with the band (or says why not yet)', async () => {
    const w = await mountSection()
    const chart = w.get('[data-testid="sweep-chart"]')
    expect(chart.attributes('data-trials')).toBe('2')
    expect(chart.attributes('data-band-points')).toBe('3')
    expect(chart.text()).toContain('95% confidence band')

    current = sweepView({ trials: [sweepTrial(0, { curve: { env_step: [], survival: [] } }), sweepTrial(1, { followed: true, curve: { env_step: [], survival: [] } })], band: { level: 0.95, env_step: [], n: [], mean: [], low: [], high: [] } })
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS)
    expect(w.get('[data-testid="sweep-chart"] [data-testid="chart-empty"]').text()).toBe('no trial has finished a training episode yet')
  })

  it('offers "Best (auto)" first, then each trial, and asks the server to follow the one picked', async () => {
    const w = await mountSection()
    const select = w.get('[data-testid="sweep-follow"]')
    const options = select.findAll('option').map(o => [o.attributes('value'), o.text()])
    expect(options).toEqual([['best', 'Best (auto) — now #1 · seed 1'], ['run0aa', '#0 · seed 0'], ['run1aa', '#1 · seed 1']])
    expect((select.element as HTMLSelectElement).value).toBe('best')

    await select.setValue('run0aa')
    await flushPromises()
    expect(follows).toEqual([{ run: 'run0aa' }])
    // Asked again at once: the table says so without waiting for the next tick.
    expect(rows(w)[0]!.attributes('data-followed')).toBe('true')
    expect(w.get('[data-testid="sweep-following"]').text()).toContain('#0 · seed 0, picked')
    expect(useFeedbackStore().toasts.at(-1)).toMatchObject({ kind: 'ack', text: 'following trial run0aa' })

    await select.setValue('best')
    await flushPromises()
    expect(follows).toEqual([{ run: 'run0aa' }, { run: 'best' }])
    expect(rows(w)[1]!.attributes('data-followed')).toBe('true')
  })

  it('a refused follow says why and the control goes back to what the server does', async () => {
    const w = await mountSection()
    followAnswer = { status: 409, body: { ok: false, request: 'follow_trial', error: 'cannot play trial #0 (boom)' } }
    const select = w.get('[data-testid="sweep-follow"]')
    await select.setValue('run0aa')
    await flushPromises()
    expect(useFeedbackStore().toasts.at(-1)).toMatchObject({ kind: 'error', text: 'Could not follow trial run0aa: cannot play trial #0 (boom)' })
    expect((select.element as HTMLSelectElement).value).toBe('best')
  })

  it('keeps asking every 2 s and stops when it leaves the page', async () => {
    const w = await mountSection()
    const asked = () => (vi.mocked(fetch).mock.calls as unknown as [string][]).filter(([url]) => url === SWEEP_URL).length
    expect(asked()).toBe(1)
    current = sweepView({ status: 'stopping' })
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS)
    expect(asked()).toBe(2)
    expect(w.get('[data-testid="sweep-status"]').text()).toBe('stopping')
    w.unmount()
    wrapper = undefined
    await vi.advanceTimersByTimeAsync(5 * SWEEP_POLL_MS)
    expect(asked()).toBe(2)
  })
})

describe('the page of a sweep', () => {
  beforeEach(() => {
    vi.stubGlobal('WebSocket', FakeWebSocket)
    FakeWebSocket.reset()
  })

  it('shows the sweep and which trial plays, and follows the server to another trial at once', async () => {
    wrapper = mount(App, { global: { plugins: [createPinia()] } })
    const first = FakeWebSocket.latest()
    first.serverOpen()
    first.serverSend(hello({ run_id: 'run1aa', run_name: 'tiny #1 seed 1', sweep_id: 's-abcdef' }))
    await flushPromises()
    await nextTick()
    expect(wrapper.find('[data-testid="sweep"]').exists()).toBe(true)
    const pill = wrapper.get('[data-testid="sweep-trial"]')
    expect(pill.attributes('data-run')).toBe('run1aa')
    expect(pill.text()).toBe('trial #1 · seed 1 · best')

    // The server moves the live view to trial #0: the page reconnects now, not after a backoff.
    first.serverClose(FOLLOW_CLOSE_CODE, 'following trial run0aa')
    await nextTick()
    expect(FakeWebSocket.instances).toHaveLength(2)
    expect(wrapper.get('[data-testid="connection-status"]').text()).toContain('switching trial')
    const second = FakeWebSocket.latest()
    second.serverOpen()
    second.serverSend(hello({ run_id: 'run0aa', run_name: 'tiny #0 seed 0', sweep_id: 's-abcdef' }))
    await flushPromises()
    await nextTick()
    expect(wrapper.get('[data-testid="sweep-trial"]').text()).toBe('trial #0 · seed 0')
    expect(wrapper.get('[data-testid="connection-status"]').attributes('data-tone')).toBe('live')
  })

  it('shows no sweep for a single run', async () => {
    wrapper = mount(App, { global: { plugins: [createPinia()] } })
    FakeWebSocket.latest().serverOpen()
    FakeWebSocket.latest().serverSend(hello({ run_id: 'abcdef' }))
    await flushPromises()
    expect(wrapper.find('[data-testid="sweep"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="sweep-trial"]').exists()).toBe(false)
    expect((vi.mocked(fetch).mock.calls as unknown as [string][]).some(([url]) => url === SWEEP_URL)).toBe(false)
  })
})
