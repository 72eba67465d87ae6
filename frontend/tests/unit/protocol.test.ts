import { describe, expect, it } from 'vitest'
import { parseServerMessage, setSpeedMessage, SPEED_MAX, SPEED_MIN } from '../../src/protocol'
import { episodeEnd, hello, modelLoaded, state, trainingStatus } from './fixtures'

function roundTrip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

function expectMalformed(data: unknown, fragment: string): void {
  const result = parseServerMessage(roundTrip(data))
  expect(result.kind).toBe('malformed')
  if (result.kind === 'malformed')
    expect(result.error).toContain(fragment)
}

describe('parseServerMessage: valid messages', () => {
  it.each([
    ['hello', hello()],
    ['hello (partial, temporal)', hello({ observability: 'partial', temporal: true })],
    ['model_loaded', modelLoaded()],
    ['waiting_for_model', { type: 'waiting_for_model', message: 'no checkpoint yet' }],
    ['episode_start', { type: 'episode_start', episode: 3, affordances: [{ name: 'Bed', x: 0, y: 0 }] }],
    ['state', state()],
    ['state mid-interaction', state({ action: 'INTERACT', standing_on: 'Bed', time_of_day: 13, interaction_progress: 0.5 })],
    ['episode_end', episodeEnd()],
    ['episode_end at cap', episodeEnd({ cause: 'step_cap', steps: 500 })],
    ['history', { type: 'history', episodes: [{ episode: 2, steps: 191, return: 150.5, cause: 'energy', checkpoint: 'ckpt_a.pt' }] }],
    ['training_status', trainingStatus()],
    ['training_status before any survival', trainingStatus({ recent_mean_survival: null, running: false })],
    ['error', { type: 'error', message: 'steps_per_second must be a finite number' }],
  ])('accepts %s and returns it unchanged', (_name, msg) => {
    const result = parseServerMessage(roundTrip(msg))
    expect(result).toEqual({ kind: 'message', message: msg })
  })

  it('treats training_status.latest_checkpoint as optional', () => {
    const { latest_checkpoint: _latest, ...older } = trainingStatus()
    const result = parseServerMessage(older)
    expect(result.kind).toBe('message')
    if (result.kind === 'message' && result.message.type === 'training_status')
      expect(result.message.latest_checkpoint).toBeNull()
    expectMalformed({ ...trainingStatus(), latest_checkpoint: 5 }, 'latest_checkpoint')
  })

  it('rejects a history with a malformed episode', () => {
    expectMalformed({ type: 'history', episodes: [{ episode: 1, steps: -3, return: 0, cause: 'energy', checkpoint: 'c.pt' }] }, 'episodes[0].steps')
    expectMalformed({ type: 'history', episodes: [{ episode: 1, steps: 3, return: 0, cause: 'boredom', checkpoint: 'c.pt' }] }, 'cause')
  })

  it('drops fields it does not know on known types', () => {
    const result = parseServerMessage({ ...modelLoaded(), extra: 42 })
    expect(result.kind).toBe('message')
    if (result.kind === 'message')
      expect(result.message).not.toHaveProperty('extra')
  })
})

describe('parseServerMessage: unknown types are ignored, not errors', () => {
  it('reports the unknown type', () => {
    expect(parseServerMessage({ type: 'leaderboard', rows: [] })).toEqual({ kind: 'unknown', type: 'leaderboard' })
  })

  it('does not mistake prototype keys for message types', () => {
    expect(parseServerMessage({ type: 'toString' })).toEqual({ kind: 'unknown', type: 'toString' })
    expect(parseServerMessage({ type: '__proto__' }).kind).toBe('unknown')
  })
})

describe('parseServerMessage: malformed messages are rejected', () => {
  it.each([null, 42, 'hello', [], [hello()]])('rejects non-object %j', (data) => {
    expect(parseServerMessage(data).kind).toBe('malformed')
  })

  it('rejects a missing or non-string type', () => {
    expectMalformed({ config_name: 'x' }, 'type')
    expectMalformed({ type: 7 }, 'type')
  })

  it('rejects a hello with a bad grid or observability', () => {
    expectMalformed({ ...hello(), grid: { width: 0, height: 8 } }, 'grid.width')
    expectMalformed({ ...hello(), grid: { width: 8 } }, 'grid.height')
    expectMalformed({ ...hello(), observability: 'foggy' }, 'observability')
    expectMalformed({ ...hello(), meters: ['energy', 3] }, 'meters[1]')
    expectMalformed({ ...hello(), actions: [] }, 'actions')
  })

  it('rejects a hello whose affordances fall off the grid', () => {
    expectMalformed(hello({ affordances: [{ name: 'Bed', x: 8, y: 0 }] }), 'outside')
    expectMalformed({ ...hello(), affordances: [{ name: 'Bed', x: -1, y: 0 }] }, 'affordances[0].x')
    expectMalformed({ ...hello(), affordances: [{ x: 1, y: 1 }] }, 'affordances[0].name')
  })

  it('rejects states with wrong field types', () => {
    expectMalformed({ ...state(), x: 1.5 }, 'x')
    expectMalformed({ ...state(), step: '3' }, 'step')
    expectMalformed({ ...state(), meters: { energy: 'full' } }, 'meters.energy')
    expectMalformed({ ...state(), meters: { energy: 1.7 } }, 'meters.energy')
    expectMalformed({ ...state(), meters: [1, 2] }, 'meters')
    expectMalformed({ ...state(), q_values: [1, null, 3, 4, 5, 6] }, 'q_values[1]')
    expectMalformed({ ...state(), action_mask: [true, 1, true, true, true, true] }, 'action_mask[1]')
    expectMalformed({ ...state(), action: 3 }, 'action')
    expectMalformed({ ...state(), done: 'no' }, 'done')
    expectMalformed({ ...state(), interaction_progress: 2 }, 'interaction_progress')
  })

  it('rejects a state whose Q-values and mask differ in length', () => {
    expectMalformed(state({ q_values: [1, 2, 3] }), 'differ in length')
  })

  it('rejects a state with a missing field', () => {
    const { reward: _reward, ...partial } = state()
    expectMalformed(partial, 'reward')
  })

  it('rejects other malformed messages', () => {
    expectMalformed({ ...episodeEnd(), cause: 'boredom' }, 'cause')
    expectMalformed({ ...episodeEnd(), steps: -1 }, 'steps')
    expectMalformed({ ...modelLoaded(), checkpoint: '' }, 'checkpoint')
    expectMalformed({ ...modelLoaded(), untrained: 'yes' }, 'untrained')
    expectMalformed({ ...trainingStatus(), epsilon: null }, 'epsilon')
    expectMalformed({ type: 'waiting_for_model' }, 'message')
    expectMalformed({ type: 'episode_start', episode: 2 }, 'affordances')
    expectMalformed({ type: 'error' }, 'message')
    expectMalformed({ type: 'error', message: 42 }, 'message')
  })

  it('never throws, whatever it is given', () => {
    const junk: unknown[] = [undefined, { type: 'state', meters: null }, { type: 'hello', grid: [] }, { type: 'state', q_values: {} }]
    for (const data of junk)
      expect(() => parseServerMessage(data)).not.toThrow()
  })
})

describe('setSpeedMessage', () => {
  it('builds the client message and clamps to the server range', () => {
    expect(setSpeedMessage(10)).toEqual({ type: 'set_speed', steps_per_second: 10 })
    expect(setSpeedMessage(0.1).steps_per_second).toBe(SPEED_MIN)
    expect(setSpeedMessage(1000).steps_per_second).toBe(SPEED_MAX)
  })
})
