/**
 * Wire protocol of the Townlet live server (server -> client) and the one client -> server
 * message. `parseServerMessage` is the only way untrusted JSON becomes a typed message:
 * it checks every field the page relies on, rejects malformed messages with a reason,
 * and reports unknown message types separately so they can be ignored (forward compatibility).
 * Extra fields on known messages are tolerated and dropped.
 */

export type ConnectionStatus = 'connecting' | 'open' | 'closed'

export type Observability = 'full' | 'partial'
export type DeathCause = 'energy' | 'health' | 'step_cap'

export interface Affordance {
  name: string
  x: number
  y: number
}

export interface HelloMessage {
  type: 'hello'
  config_name: string
  level: string
  grid: { width: number, height: number }
  affordances: Affordance[]
  meters: string[]
  actions: string[]
  steps_per_second: number
  step_cap: number
  temporal: boolean
  observability: Observability
  vision_window: number
}

export interface ModelLoadedMessage {
  type: 'model_loaded'
  checkpoint: string
  episode: number
  env_step: number
  saved_at: string
  untrained: boolean
}

export interface WaitingForModelMessage {
  type: 'waiting_for_model'
  message: string
}

export interface EpisodeStartMessage {
  type: 'episode_start'
  episode: number
  affordances: Affordance[]
}

export interface StateMessage {
  type: 'state'
  episode: number
  step: number
  x: number
  y: number
  meters: Record<string, number>
  /** Action just taken; null on the first state of an episode. */
  action: string | null
  /** Aligned with hello.actions; Q(s', a) for the state the agent is now in. */
  q_values: number[]
  /** Aligned with hello.actions; true where the action is legal now. */
  action_mask: boolean[]
  reward: number
  done: boolean
  standing_on: string | null
  time_of_day: number | null
  interaction_progress: number | null
}

export interface EpisodeEndMessage {
  type: 'episode_end'
  episode: number
  steps: number
  return: number
  cause: DeathCause
}

/** Sent on connect: the live episodes that finished before this page joined, oldest first. */
export interface HistoryMessage {
  type: 'history'
  episodes: HistoryEpisode[]
}

export interface HistoryEpisode {
  episode: number
  steps: number
  return: number
  cause: DeathCause
  /** File name of the checkpoint that played the episode. */
  checkpoint: string
}

export interface TrainingStatusMessage {
  type: 'training_status'
  episode: number
  env_step: number
  epsilon: number
  steps_per_second: number
  recent_mean_survival: number | null
  running: boolean
  /** Newest checkpoint file training has written (optional; null when none yet). */
  latest_checkpoint: string | null
}

/** Sent to this page only: the server refused a message the page sent, and says why. */
export interface ErrorMessage {
  type: 'error'
  message: string
}

export type ServerMessage =
  | HelloMessage
  | ModelLoadedMessage
  | WaitingForModelMessage
  | EpisodeStartMessage
  | StateMessage
  | EpisodeEndMessage
  | HistoryMessage
  | TrainingStatusMessage
  | ErrorMessage

export type ServerMessageType = ServerMessage['type']

export interface SetSpeedMessage {
  type: 'set_speed'
  steps_per_second: number
}

export type ClientMessage = SetSpeedMessage

/** The server clamps requested speeds to this range; the page offers nothing outside it. */
export const SPEED_MIN = 0.5
export const SPEED_MAX = 60

export type ParseResult =
  | { kind: 'message', message: ServerMessage }
  | { kind: 'unknown', type: string }
  | { kind: 'malformed', error: string }

// --- field readers: each returns the typed value or throws a Malformed with the field path ---

class Malformed extends Error {}

type Obj = Record<string, unknown>

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fail(path: string, expected: string, value: unknown): never {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
  throw new Malformed(`${path}: expected ${expected}, got ${got}`)
}

function str(o: Obj, key: string, path = key): string {
  const v = o[key]
  return typeof v === 'string' ? v : fail(path, 'string', v)
}

function nonEmptyStr(o: Obj, key: string): string {
  const v = str(o, key)
  return v.length > 0 ? v : fail(key, 'non-empty string', v)
}

function num(o: Obj, key: string, path = key): number {
  const v = o[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : fail(path, 'finite number', v)
}

function count(o: Obj, key: string, path = key): number {
  const v = num(o, key, path)
  return Number.isInteger(v) && v >= 0 ? v : fail(path, 'non-negative integer', v)
}

function positiveInt(o: Obj, key: string, path = key): number {
  const v = count(o, key, path)
  return v > 0 ? v : fail(path, 'positive integer', v)
}

function bool(o: Obj, key: string): boolean {
  const v = o[key]
  return typeof v === 'boolean' ? v : fail(key, 'boolean', v)
}

function nullable<T>(o: Obj, key: string, read: (o: Obj, key: string) => T): T | null {
  return o[key] === null ? null : read(o, key)
}

function array(o: Obj, key: string): unknown[] {
  const v = o[key]
  return Array.isArray(v) ? v : fail(key, 'array', v)
}

function stringArray(o: Obj, key: string): string[] {
  return array(o, key).map((v, i) => (typeof v === 'string' ? v : fail(`${key}[${i}]`, 'string', v)))
}

function numberArray(o: Obj, key: string): number[] {
  return array(o, key).map((v, i) =>
    typeof v === 'number' && Number.isFinite(v) ? v : fail(`${key}[${i}]`, 'finite number', v))
}

function boolArray(o: Obj, key: string): boolean[] {
  return array(o, key).map((v, i) => (typeof v === 'boolean' ? v : fail(`${key}[${i}]`, 'boolean', v)))
}

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[]): T {
  const v = o[key]
  const found = allowed.find(a => a === v)
  return found ?? fail(key, allowed.map(a => `'${a}'`).join(' | '), v)
}

function unit(o: Obj, key: string, path = key): number {
  const v = num(o, key, path)
  // Meters are clamped to [0, 1] by the world; allow float noise, reject anything else.
  return v >= -1e-6 && v <= 1 + 1e-6 ? v : fail(path, 'number in [0, 1]', v)
}

function affordances(o: Obj, key: string): Affordance[] {
  return array(o, key).map((item, i) => {
    const path = `${key}[${i}]`
    if (!isObject(item))
      fail(path, 'object', item)
    return {
      name: str(item, 'name', `${path}.name`),
      x: count(item, 'x', `${path}.x`),
      y: count(item, 'y', `${path}.y`),
    }
  })
}

function meterValues(o: Obj, key: string): Record<string, number> {
  const v = o[key]
  if (!isObject(v))
    fail(key, 'object', v)
  const out: Record<string, number> = {}
  for (const name of Object.keys(v))
    out[name] = unit(v, name, `${key}.${name}`)
  return out
}

// --- per-type parsers ---

const CAUSES = ['energy', 'health', 'step_cap'] as const
const OBSERVABILITY = ['full', 'partial'] as const

function parseHello(o: Obj): HelloMessage {
  const gridRaw = o.grid
  if (!isObject(gridRaw))
    fail('grid', 'object', gridRaw)
  const grid = { width: positiveInt(gridRaw, 'width', 'grid.width'), height: positiveInt(gridRaw, 'height', 'grid.height') }
  const places = affordances(o, 'affordances')
  places.forEach((a, i) => {
    if (a.x >= grid.width || a.y >= grid.height)
      throw new Malformed(`affordances[${i}]: (${a.x}, ${a.y}) is outside the ${grid.width} x ${grid.height} grid`)
  })
  const actions = stringArray(o, 'actions')
  if (actions.length === 0)
    throw new Malformed('actions: expected at least one action')
  return {
    type: 'hello',
    config_name: str(o, 'config_name'),
    level: str(o, 'level'),
    grid,
    affordances: places,
    meters: stringArray(o, 'meters'),
    actions,
    steps_per_second: num(o, 'steps_per_second'),
    step_cap: positiveInt(o, 'step_cap'),
    temporal: bool(o, 'temporal'),
    observability: oneOf(o, 'observability', OBSERVABILITY),
    vision_window: positiveInt(o, 'vision_window'),
  }
}

function parseModelLoaded(o: Obj): ModelLoadedMessage {
  return {
    type: 'model_loaded',
    checkpoint: nonEmptyStr(o, 'checkpoint'),
    episode: count(o, 'episode'),
    env_step: count(o, 'env_step'),
    saved_at: str(o, 'saved_at'),
    untrained: bool(o, 'untrained'),
  }
}

function parseState(o: Obj): StateMessage {
  const q = numberArray(o, 'q_values')
  const mask = boolArray(o, 'action_mask')
  if (q.length !== mask.length)
    throw new Malformed(`q_values (${q.length}) and action_mask (${mask.length}) differ in length`)
  return {
    type: 'state',
    episode: count(o, 'episode'),
    step: count(o, 'step'),
    x: count(o, 'x'),
    y: count(o, 'y'),
    meters: meterValues(o, 'meters'),
    action: nullable(o, 'action', str),
    q_values: q,
    action_mask: mask,
    reward: num(o, 'reward'),
    done: bool(o, 'done'),
    standing_on: nullable(o, 'standing_on', str),
    time_of_day: nullable(o, 'time_of_day', num),
    interaction_progress: nullable(o, 'interaction_progress', unit),
  }
}

const PARSERS: { [K in ServerMessageType]: (o: Obj) => Extract<ServerMessage, { type: K }> } = {
  hello: parseHello,
  model_loaded: parseModelLoaded,
  waiting_for_model: o => ({ type: 'waiting_for_model', message: str(o, 'message') }),
  episode_start: o => ({ type: 'episode_start', episode: count(o, 'episode'), affordances: affordances(o, 'affordances') }),
  state: parseState,
  episode_end: o => ({
    type: 'episode_end',
    episode: count(o, 'episode'),
    steps: count(o, 'steps'),
    return: num(o, 'return'),
    cause: oneOf(o, 'cause', CAUSES),
  }),
  history: o => ({
    type: 'history',
    episodes: array(o, 'episodes').map((item, i) => {
      const path = `episodes[${i}]`
      if (!isObject(item))
        fail(path, 'object', item)
      return {
        episode: count(item, 'episode', `${path}.episode`),
        steps: count(item, 'steps', `${path}.steps`),
        return: num(item, 'return', `${path}.return`),
        cause: oneOf(item, 'cause', CAUSES),
        checkpoint: nonEmptyStr(item, 'checkpoint'),
      }
    }),
  }),
  training_status: o => ({
    type: 'training_status',
    episode: count(o, 'episode'),
    env_step: count(o, 'env_step'),
    epsilon: num(o, 'epsilon'),
    steps_per_second: num(o, 'steps_per_second'),
    recent_mean_survival: nullable(o, 'recent_mean_survival', num),
    running: bool(o, 'running'),
    latest_checkpoint: o.latest_checkpoint === undefined ? null : nullable(o, 'latest_checkpoint', str),
  }),
  error: o => ({ type: 'error', message: str(o, 'message') }),
}

function isKnownType(type: string): type is ServerMessageType {
  return Object.prototype.hasOwnProperty.call(PARSERS, type)
}

/** Validate one decoded JSON value as a server message. Never throws. */
export function parseServerMessage(data: unknown): ParseResult {
  if (!isObject(data))
    return { kind: 'malformed', error: 'message is not a JSON object' }
  const type = data.type
  if (typeof type !== 'string')
    return { kind: 'malformed', error: 'message has no string "type"' }
  if (!isKnownType(type))
    return { kind: 'unknown', type }
  try {
    return { kind: 'message', message: PARSERS[type](data) }
  }
  catch (err) {
    if (err instanceof Malformed)
      return { kind: 'malformed', error: `${type}: ${err.message}` }
    throw err
  }
}

export function setSpeedMessage(stepsPerSecond: number): SetSpeedMessage {
  const clamped = Math.min(SPEED_MAX, Math.max(SPEED_MIN, stepsPerSecond))
  return { type: 'set_speed', steps_per_second: clamped }
}
