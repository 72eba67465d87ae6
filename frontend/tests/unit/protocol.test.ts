import { describe, expect, it, vi } from 'vitest'
import {
  parseServerMessage,
  pickCheckpointMessage,
  setSpeedMessage,
  startCompareMessage,
  validateServerMessage,
} from '../../src/protocol'
import {
  checkpoints,
  compareStarted,
  compareState,
  episodeEnd,
  evaluationPoint,
  hello,
  metricPoint,
  metricsHistory,
  modelLoaded,
  playStatus,
  state,
  trainingStatus,
  world,
} from './fixtures'

function roundTrip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

function expectMalformed(data: unknown, fragment: string): void {
  const result = validateServerMessage(roundTrip(data))
  expect(result.kind).toBe('malformed')
  if (result.kind === 'malformed')
    expect(result.error).toContain(fragment)
}

describe('validateServerMessage: valid messages', () => {
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
    ['training_status paused, curriculum', trainingStatus({ paused: true, curriculum_stage: 2 })],
    ['hello with TensorBoard', hello({ tensorboard_url: 'http://127.0.0.1:6006/' })],
    ['error', { type: 'error', message: 'steps_per_second must be a finite number', request: 'set_speed' }],
    ['error without a known request', { type: 'error', message: 'not valid JSON', request: null }],
    ['metrics_history', metricsHistory()],
    ['metrics_history, empty', metricsHistory({ points: [], total_points: 0, evaluations: [] })],
    ['metrics', { type: 'metrics', points: [metricPoint(), metricPoint({ env_step: 2000, training_survival: null, episode_return: null, td_loss: null, curriculum_stage: 3 })] }],
    ['evaluation', { type: 'evaluation', evaluation: evaluationPoint() }],
    ['checkpoints', checkpoints()],
    ['checkpoints, pinned', checkpoints({ follow: 'pinned', pinned: 'ckpt_000100.pt', playing: 'ckpt_000100.pt' })],
    ['checkpoints, none yet', checkpoints({ items: [], playing: null })],
    ['play_status', playStatus({ paused: true, steps_per_second: 0.5 })],
    ['ack', { type: 'ack', request: 'pause_play', message: 'live play paused' }],
    ['compare_started', compareStarted()],
    ['compare_state', compareState(12, { x: 1 }, { x: 2, done: true })],
    ['compare_stopped', { type: 'compare_stopped', reason: 'stopped by you' }],
  ])('accepts %s and returns it unchanged', (_name, msg) => {
    const result = validateServerMessage(roundTrip(msg))
    expect(result).toEqual({ kind: 'message', message: msg })
  })

  it('treats training_status.latest_checkpoint and error.request as optional', () => {
    const { latest_checkpoint: _latest, ...older } = trainingStatus()
    const result = validateServerMessage(older)
    expect(result.kind).toBe('message')
    if (result.kind === 'message' && result.message.type === 'training_status')
      expect(result.message.latest_checkpoint).toBeNull()
    expectMalformed({ ...trainingStatus(), latest_checkpoint: 5 }, 'latest_checkpoint')
    expect(validateServerMessage({ type: 'error', message: 'x' })).toEqual({ kind: 'message', message: { type: 'error', message: 'x', request: null } })
  })

  it('rejects a history with a malformed episode', () => {
    expectMalformed({ type: 'history', episodes: [{ episode: 1, steps: -3, return: 0, cause: 'energy', checkpoint: 'c.pt' }] }, 'episodes[0].steps')
    expectMalformed({ type: 'history', episodes: [{ episode: 1, steps: 3, return: 0, cause: 'boredom', checkpoint: 'c.pt' }] }, 'cause')
  })

  it('drops fields it does not know on known types', () => {
    const result = validateServerMessage({ ...modelLoaded(), extra: 42 })
    expect(result.kind).toBe('message')
    if (result.kind === 'message')
      expect(result.message).not.toHaveProperty('extra')
  })
})

describe('validateServerMessage: unknown types are ignored, not errors', () => {
  it('reports the unknown type', () => {
    expect(validateServerMessage({ type: 'leaderboard', rows: [] })).toEqual({ kind: 'unknown', type: 'leaderboard' })
  })

  it('does not mistake prototype keys for message types', () => {
    expect(validateServerMessage({ type: 'toString' })).toEqual({ kind: 'unknown', type: 'toString' })
    expect(validateServerMessage({ type: '__proto__' }).kind).toBe('unknown')
  })
})

describe('validateServerMessage: malformed messages are rejected', () => {
  it.each([null, 42, 'hello', [], [hello()]])('rejects non-object %j', (data) => {
    expect(validateServerMessage(data).kind).toBe('malformed')
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

  it('rejects a hello without world facts, or with bad ones', () => {
    const { world: _world, ...noWorld } = hello()
    expectMalformed(noWorld, 'world')
    expectMalformed(hello({ world: world({ cascade_threshold: 1.5 }) }), 'world.cascade_threshold')
    expectMalformed(hello({ world: world({ money_scale: 0 }) }), 'world.money_scale')
    expectMalformed(hello({ world: world({ speed_range: { min: 10, max: 1 } }) }), 'world.speed_range')
    expectMalformed(hello({ world: world({ history_length: 0 }) }), 'world.history_length')
    expectMalformed(hello({ world: world({ evaluation: { worlds: 0, step_cap: 500 } }) }), 'world.evaluation.worlds')
    expectMalformed({ ...hello(), world: { ...world(), meters: [{ name: 'energy', terminal: 'yes', cascade_source: false }] } }, 'world.meters[0].terminal')
    expectMalformed({ ...hello(), tensorboard_url: 6006 }, 'tensorboard_url')
  })

  it('reads hello.protocol_version strictly, and a missing one (older servers) as null', () => {
    const read = (data: unknown): unknown => {
      const result = validateServerMessage(roundTrip(data))
      return result.kind === 'message' ? result.message : result
    }
    expect(read(hello({ protocol_version: 7 }))).toMatchObject({ type: 'hello', protocol_version: 7 })
    const { protocol_version: _v, ...old } = hello()
    expect(read(old)).toMatchObject({ type: 'hello', protocol_version: null })
    expectMalformed({ ...hello(), protocol_version: '1' }, 'protocol_version')
    expectMalformed({ ...hello(), protocol_version: 1.5 }, 'protocol_version')
    expectMalformed({ ...hello(), protocol_version: 0 }, 'protocol_version')
  })

  it('rejects a training_status without paused or with a bad curriculum stage', () => {
    const { paused: _paused, ...noPaused } = trainingStatus()
    expectMalformed(noPaused, 'paused')
    expectMalformed({ ...trainingStatus(), curriculum_stage: 1.5 }, 'curriculum_stage')
  })

  it('rejects malformed training reports, naming the point and the field', () => {
    expectMalformed(metricsHistory({ points: [metricPoint(), metricPoint({ env_step: -5 })] }), 'points[1].env_step')
    expectMalformed({ type: 'metrics', points: [{ ...metricPoint(), td_loss: 'high' }] }, 'points[0].td_loss')
    expectMalformed({ type: 'metrics', points: [{ ...metricPoint(), epsilon: 2 }] }, 'points[0].epsilon')
    expectMalformed({ type: 'metrics', points: metricPoint() }, 'points')
    const { wall_time: _wt, ...noTime } = metricPoint()
    expectMalformed({ type: 'metrics', points: [noTime] }, 'points[0].wall_time')
    expectMalformed({ ...metricsHistory(), total_points: 'many' }, 'total_points')
    expectMalformed({ type: 'evaluation', evaluation: { ...evaluationPoint(), share_at_cap: 25 } }, 'evaluation.share_at_cap')
    expectMalformed({ type: 'evaluation', evaluation: { ...evaluationPoint(), causes: { energy: -1 } } }, 'evaluation.causes.energy')
    expectMalformed({ type: 'evaluation', evaluation: { ...evaluationPoint(), min_survival: 600 } }, 'min_survival')
    expectMalformed({ type: 'evaluation' }, 'evaluation')
  })

  it('rejects malformed checkpoints, play_status, ack and compare messages', () => {
    expectMalformed(checkpoints({ follow: 'oldest' as 'newest' }), 'follow')
    expectMalformed({ ...checkpoints(), items: [{ name: 'a.pt', env_step: 1, episode: 1 }] }, 'items[0].milestone')
    expectMalformed({ ...checkpoints(), pinned: 3 }, 'pinned')
    expectMalformed({ type: 'play_status', paused: 'no', steps_per_second: 5 }, 'paused')
    expectMalformed({ type: 'play_status', paused: false, steps_per_second: 0 }, 'steps_per_second')
    expectMalformed({ type: 'ack', message: 'ok' }, 'request')
    expectMalformed({ ...compareStarted(), left: { ...modelLoaded(), type: 'state' } }, 'left.type')
    expectMalformed({ ...compareStarted(), right: { ...modelLoaded(), checkpoint: '' } }, 'right.checkpoint')
    expectMalformed({ ...compareStarted(), seed: 'x' }, 'seed')
    expectMalformed({ ...compareState(3), left: { ...state(), meters: { energy: 3 } } }, 'left.meters.energy')
    expectMalformed({ ...compareState(3), right: undefined }, 'right')
    expectMalformed({ type: 'compare_stopped' }, 'reason')
  })

  it('never throws, whatever it is given', () => {
    const junk: unknown[] = [
      undefined,
      { type: 'state', meters: null },
      { type: 'hello', grid: [] },
      { type: 'state', q_values: {} },
      { type: 'metrics_history', points: [null] },
      { type: 'compare_state', left: [], right: 'x' },
      { type: 'evaluation', evaluation: { causes: [] } },
    ]
    for (const data of junk)
      expect(() => validateServerMessage(data)).not.toThrow()
  })
})

describe('parseServerMessage (raw text)', () => {
  it('returns the typed message for every valid frame', () => {
    for (const msg of [hello(), metricsHistory(), checkpoints(), compareStarted(), compareState(4), playStatus()])
      expect(parseServerMessage(JSON.stringify(msg))).toEqual(msg)
  })

  it('returns null with a console warning for bad JSON, malformed or unknown messages, and never throws', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    expect(parseServerMessage('{not json')).toBeNull()
    expect(parseServerMessage(JSON.stringify({ ...playStatus(), paused: 1 }))).toBeNull()
    expect(parseServerMessage(JSON.stringify({ type: 'leaderboard' }))).toBeNull()
    expect(parseServerMessage('null')).toBeNull()
    expect(warn).toHaveBeenCalledTimes(4)
    expect(warn.mock.calls[1]?.[0]).toContain('play_status: paused')
    expect(warn.mock.calls[2]?.[0]).toContain('leaderboard')
  })
})

describe('client messages', () => {
  it('set_speed is clamped to the world\'s speed range', () => {
    const range = { min: 0.5, max: 60 }
    expect(setSpeedMessage(10, range)).toEqual({ type: 'set_speed', steps_per_second: 10 })
    expect(setSpeedMessage(0.1, range).steps_per_second).toBe(0.5)
    expect(setSpeedMessage(1000, range).steps_per_second).toBe(60)
    expect(setSpeedMessage(100, { min: 1, max: 240 }).steps_per_second).toBe(100)
  })

  it('pick_checkpoint and start_compare always carry their fields (null for defaults)', () => {
    expect(pickCheckpointMessage(null, 'now', 'best')).toEqual({ type: 'pick_checkpoint', name: null, when: 'now', follow: 'best' })
    expect(pickCheckpointMessage('a.pt', 'next_episode')).toEqual({ type: 'pick_checkpoint', name: 'a.pt', when: 'next_episode', follow: 'newest' })
    expect(JSON.stringify(startCompareMessage(null, null))).toBe('{"type":"start_compare","left":null,"right":null}')
  })
})
