import type { VueWrapper } from '@vue/test-utils'
import { mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import App from '../../src/App.vue'
import { FakeWebSocket } from './fakeWebSocket'
import { checkpoints, compareStarted, compareState, evaluationPoint, hello, meters, metricsHistory, modelLoaded, playStatus, state, trainingStatus, world } from './fixtures'

/**
 * The controls against a fake server: what each button sends, and how the page follows what
 * the server then says (every viewer sees the same play and training state).
 */
let wrapper: VueWrapper | undefined

async function mountApp(): Promise<{ w: VueWrapper, ws: FakeWebSocket }> {
  wrapper = mount(App, { global: { plugins: [createPinia()] }, attachTo: document.body })
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

function sent(ws: FakeWebSocket): unknown[] {
  return ws.sent.map(s => JSON.parse(s) as unknown)
}

beforeEach(() => {
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeWebSocket)
  FakeWebSocket.reset()
  // No dev server's trainer endpoint here: the indicator stays hidden (tested in App.test.ts).
  vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response('Not Found', { status: 404 }))))
})

afterEach(() => {
  wrapper?.unmount()
  wrapper = undefined
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('live play controls', () => {
  it('pause, then step (only while paused), then resume, following play_status', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), playStatus({ paused: false }), modelLoaded(), state())
    const toggle = w.get('[data-testid="play-toggle"]')
    expect(toggle.text()).toContain('Pause')
    expect(w.get('[data-testid="play-step"]').attributes('disabled')).toBeDefined()

    await toggle.trigger('click')
    expect(sent(ws)).toEqual([{ type: 'pause_play' }])
    await serve(ws, playStatus({ paused: true }), { type: 'ack', request: 'pause_play', message: 'live play paused' })
    expect(w.get('[data-testid="play-controls"]').attributes('data-paused')).toBe('true')
    expect(w.get('[data-testid="play-state"]').text()).toBe('paused')
    expect(w.get('[data-testid="header-play-paused"]').text()).toContain('live play paused')
    expect(w.get('[data-testid="play-toggle"]').text()).toContain('Resume')

    await w.get('[data-testid="play-step"]').trigger('click')
    await w.get('[data-testid="play-toggle"]').trigger('click')
    expect(sent(ws).slice(1)).toEqual([{ type: 'step_play' }, { type: 'resume_play' }])
  })

  it('another viewer\'s pause or pace shows here too (play_status is authoritative)', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello({ steps_per_second: 5 }), playStatus({ steps_per_second: 5 }))
    expect(w.get('[data-testid="speed-5"]').attributes('aria-pressed')).toBe('true')
    await serve(ws, playStatus({ paused: true, steps_per_second: 20 }))
    expect(w.get('[data-testid="speed-20"]').attributes('aria-pressed')).toBe('true')
    expect(w.get('[data-testid="play-toggle"]').text()).toContain('Resume')
    expect(sent(ws)).toEqual([])
  })

  it('the speed buttons cover the world\'s speed range and send set_speed', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello({ world: world({ speed_range: { min: 1, max: 240 } }) }))
    const offered = w.findAll('[data-testid="speed-control"] button').map(b => b.text())
    // Both ends of the range, and at most seven buttons.
    expect(offered).toEqual(['1', '2', '5', '20', '60', '120', '240'])
    await w.get('[data-testid="speed-240"]').trigger('click')
    expect(sent(ws)).toEqual([{ type: 'set_speed', steps_per_second: 240 }])
  })
})

describe('training controls', () => {
  it('pause / resume training reflects training_status.paused and running, also in the header', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), trainingStatus({ paused: false }))
    expect(w.get('[data-testid="header-training"]').text()).toContain('training running')
    await w.get('[data-testid="training-toggle"]').trigger('click')
    expect(sent(ws)).toEqual([{ type: 'pause_training' }])
    await serve(ws, trainingStatus({ paused: true }))
    expect(w.get('[data-testid="training-state"]').text()).toBe('paused')
    expect(w.get('[data-testid="header-training"]').text()).toContain('training paused')
    expect(w.get('[data-testid="training-toggle"]').text()).toContain('Resume training')
    await serve(ws, { type: 'ack', request: 'pause_training', message: 'pausing training' })
    await w.get('[data-testid="training-toggle"]').trigger('click')
    expect(sent(ws).at(-1)).toEqual({ type: 'resume_training' })
    await serve(ws, trainingStatus({ running: false, paused: false }))
    expect(w.get('[data-testid="training-toggle"]').attributes('disabled')).toBeDefined()
    expect(w.get('[data-testid="header-training"]').text()).toContain('training stopped')
  })

  it('shows acks quietly and refusals with the reason', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), trainingStatus())
    await serve(ws, { type: 'ack', request: 'pause_training', message: 'pausing training: it stops after its current step' })
    await serve(ws, { type: 'error', request: 'pick_checkpoint', message: 'no checkpoint named x.pt' })
    const toasts = w.findAll('[data-testid="toast"]')
    expect(toasts.map(t => t.attributes('data-kind'))).toEqual(['ack', 'error'])
    expect(toasts[1]?.text()).toContain('no checkpoint named x.pt')
    expect(toasts[1]?.attributes('role')).toBe('alert')
  })

  it('links TensorBoard in a new tab when the server runs it', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello())
    expect(w.find('[data-testid="tensorboard-link"]').exists()).toBe(false)
    await serve(ws, hello({ tensorboard_url: 'http://127.0.0.1:6006/' }))
    const link = w.get('[data-testid="tensorboard-link"]')
    expect(link.attributes('href')).toBe('http://127.0.0.1:6006/')
    expect(link.attributes('target')).toBe('_blank')
    expect(link.attributes('rel')).toContain('noopener')
  })
})

describe('checkpoint picker', () => {
  it('lists the kept checkpoints oldest first with env steps, milestones and evaluations', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), metricsHistory({ evaluations: [evaluationPoint({ checkpoint: 'ckpt_004800.pt', env_step: 1_234_567, mean_survival: 312.4 })] }), checkpoints())
    const items = w.findAll('[data-testid="checkpoint-item"]')
    expect(items.map(i => i.attributes('data-name'))).toEqual(['ckpt_000004.pt', 'ckpt_000100.pt', 'ckpt_004800.pt', 'ckpt_005000.pt'])
    expect(items.map(i => i.attributes('data-milestone'))).toEqual(['true', 'false', 'true', 'false'])
    expect(items.map(i => i.find('[data-testid="milestone-badge"]').exists())).toEqual([true, false, true, false])
    expect(items[2]?.text()).toContain('1.23M')
    expect(items[2]?.text()).toContain('4,800')
    expect(items[2]?.get('[data-testid="checkpoint-eval"]').text()).toBe('eval 312')
    expect(items[0]?.find('[data-testid="checkpoint-eval"]').exists()).toBe(false)
    expect(items[3]?.attributes('data-playing')).toBe('true')
    expect(items[3]?.text()).toContain('playing')
    expect(w.get('[data-testid="follow-mode"]').text()).toContain('follows the newest')
    expect(w.get('[data-testid="follow-newest"]').attributes('disabled')).toBeDefined()
  })

  it('pins a checkpoint now or at the next episode, and follows the newest again', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), checkpoints())
    await w.findAll('[data-testid="checkpoint-item"]')[1]?.get('[data-testid="play-checkpoint"]').trigger('click')
    await w.get('[data-testid="when-now"]').setValue(true)
    await serve(ws, { type: 'ack', request: 'pick_checkpoint', message: 'ok' })
    await w.findAll('[data-testid="checkpoint-item"]')[0]?.get('[data-testid="play-checkpoint"]').trigger('click')
    expect(sent(ws)).toEqual([
      { type: 'pick_checkpoint', name: 'ckpt_000100.pt', when: 'next_episode', follow: 'newest' },
      { type: 'pick_checkpoint', name: 'ckpt_000004.pt', when: 'now', follow: 'newest' },
    ])
    await serve(ws, { type: 'ack', request: 'pick_checkpoint', message: 'ok' }, checkpoints({ follow: 'pinned', pinned: 'ckpt_000004.pt', playing: 'ckpt_000004.pt' }))
    expect(w.get('[data-testid="checkpoint-picker"]').attributes('data-follow')).toBe('pinned')
    expect(w.get('[data-testid="follow-mode"]').text()).toContain('pinned')
    expect(w.get('[data-testid="playing-follow"]').text()).toBe('pinned')
    await w.get('[data-testid="follow-newest"]').trigger('click')
    expect(sent(ws).at(-1)).toEqual({ type: 'pick_checkpoint', name: null, when: 'now', follow: 'newest' })
  })

  it('follows the best evaluated checkpoint, says which, and marks it in the list', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), checkpoints({ follow: 'best', best: null, best_survival: null, playing: 'ckpt_005000.pt' }))
    expect(w.get('[data-testid="follow-mode"]').text()).toContain('none evaluated yet')
    expect(w.get('[data-testid="playing-follow"]').text()).toBe('the newest (none evaluated yet)')
    await serve(ws, checkpoints({ follow: 'best', best: 'ckpt_004800.pt', best_survival: 487.4, playing: 'ckpt_004800.pt' }))
    expect(w.get('[data-testid="follow-mode"]').text()).toContain('follows the best')
    expect(w.get('[data-testid="follow-mode"]').text()).toContain('eval 487')
    expect(w.get('[data-testid="playing-follow"]').text()).toBe('the best so far')
    expect(w.get('[data-testid="follow-best"]').attributes('disabled')).toBeDefined()
    const items = w.findAll('[data-testid="checkpoint-item"]')
    expect(items.map(i => i.find('[data-testid="best-badge"]').exists())).toEqual([false, false, true, false])
    await w.get('[data-testid="follow-newest"]').trigger('click')
    expect(sent(ws).at(-1)).toEqual({ type: 'pick_checkpoint', name: null, when: 'next_episode', follow: 'newest' })
    await serve(ws, { type: 'ack', request: 'pick_checkpoint', message: 'ok' }, checkpoints({ follow: 'newest', best: 'ckpt_004800.pt', best_survival: 487.4 }))
    await w.get('[data-testid="follow-best"]').trigger('click')
    expect(sent(ws).at(-1)).toEqual({ type: 'pick_checkpoint', name: null, when: 'next_episode', follow: 'best' })
  })
})

describe('compare view', () => {
  it('the Compare tab starts a comparison with the server\'s defaults and shows both sides', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), checkpoints(), state())
    await w.get('[data-testid="tab-compare"]').trigger('click')
    expect(sent(ws)).toEqual([{ type: 'start_compare', left: null, right: null }])
    expect(w.get('[data-testid="compare-view"]').attributes('data-status')).toBe('starting')
    // The live board is replaced, so its test ids are not duplicated.
    expect(w.find('[data-testid="agent"]').exists()).toBe(false)

    await serve(ws, compareStarted(), compareState(12, { x: 1, y: 1 }, { x: 6, y: 6 }))
    expect(w.get('[data-testid="compare-view"]').attributes('data-status')).toBe('running')
    expect(w.get('[data-testid="compare-step"]').text()).toBe('12')
    expect(w.get('[data-testid="compare-left-checkpoint"]').text()).toBe('ckpt_000004.pt')
    expect(w.get('[data-testid="compare-right-steps"]').text()).toContain('1.30M')
    expect(w.get('[data-testid="compare-left-agent"]').attributes('data-x')).toBe('1')
    expect(w.get('[data-testid="compare-right-agent"]').attributes('data-x')).toBe('6')
    expect(w.find('[data-testid="compare-left-meter-energy"]').exists()).toBe(true)
    expect(w.get('[data-testid="compare-left-survival"]').text()).toBe('12')
  })

  it('says how and when a side ended, and why the comparison stopped', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), checkpoints(), compareStarted())
    await w.get('[data-testid="tab-compare"]').trigger('click')
    // Already running (another viewer started it): entering the tab does not restart it.
    expect(sent(ws)).toEqual([])
    await serve(ws, compareState(87, { done: true, meters: meters({ energy: 0 }) }, {}))
    const left = w.get('[data-testid="compare-left-status"]')
    expect(left.attributes('data-ended')).toBe('true')
    expect(left.text()).toContain('87')
    expect(left.text()).toContain('energy ran out')
    expect(w.get('[data-testid="compare-right-status"]').attributes('data-ended')).toBe('false')

    await w.get('[data-testid="compare-stop"]').trigger('click')
    expect(sent(ws)).toEqual([{ type: 'stop_compare' }])
    await serve(ws, { type: 'compare_stopped', reason: 'stopped by a viewer' })
    expect(w.get('[data-testid="compare-status"]').text()).toContain('stopped by a viewer')
    expect(w.get('[data-testid="compare-stop"]').attributes('disabled')).toBeDefined()
  })

  it('starts with the checkpoints chosen on each side', async () => {
    const { w, ws } = await mountApp()
    await serve(ws, hello(), checkpoints(), compareStarted())
    await w.get('[data-testid="tab-compare"]').trigger('click')
    await w.get('[data-testid="compare-left-select"]').setValue('ckpt_000100.pt')
    await w.get('[data-testid="compare-right-select"]').setValue('ckpt_004800.pt')
    await w.get('[data-testid="compare-start"]').trigger('click')
    expect(sent(ws)).toEqual([{ type: 'start_compare', left: 'ckpt_000100.pt', right: 'ckpt_004800.pt' }])
  })
})
