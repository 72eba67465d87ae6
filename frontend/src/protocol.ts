/**
 * Wire protocol of the Townlet live server, mirroring `src/townlet/live/protocol.py`.
 *
 * `validateServerMessage` is the only way untrusted JSON becomes a typed message: it checks
 * every field of every message type, rejects malformed messages with a reason, and reports
 * unknown types separately (forward compatibility). `parseServerMessage(text)` wraps it for
 * raw frames: the typed message, or null with a console warning. Extra fields on known
 * messages are tolerated and dropped (the contract test checks none is lost today).
 */

/**
 * The wire protocol this page speaks; the live server's `PROTOCOL_VERSION`
 * (`src/townlet/live/protocol.py`) must be the same. It says so in hello and in /health.
 */
export const PROTOCOL_VERSION = 1

export type ConnectionStatus = 'connecting' | 'open' | 'closed'

/**
 * The close code that says "the live view now plays another trial of the sweep" (the server's
 * `FOLLOW_CLOSE_CODE`): the page reconnects at once and is greeted with that trial.
 */
export const FOLLOW_CLOSE_CODE = 4001

export type Observability = 'full' | 'partial'
export type DeathCause = 'energy' | 'health' | 'step_cap'

export interface Affordance {
  name: string
  x: number
  y: number
}

export interface GridSize {
  width: number
  height: number
}

// ------------------------------------------------------------------ world facts (hello.world)

export interface MeterFact {
  name: string
  /** Reaching 0 ends the episode. */
  terminal: boolean
  /** Below the cascade threshold it drags other meters down. */
  cascade_source: boolean
}

export interface SpeedRange {
  min: number
  max: number
}

/** How each checkpoint's greedy evaluation is run (the same seeds every time). */
export interface EvaluationFacts {
  worlds: number
  step_cap: number
}

/** Everything the page needs to know about the world's rules: it keeps no copies. */
export interface WorldFacts {
  meters: MeterFact[]
  cascade_threshold: number
  /** Dollars per unit of the money meter (money travels as dollars / scale). */
  money_scale: number
  speed_range: SpeedRange
  /** Live episodes kept for the survival history. */
  history_length: number
  evaluation: EvaluationFacts
}

// ------------------------------------------------------------------ server -> client

export interface HelloMessage {
  type: 'hello'
  /** The server's PROTOCOL_VERSION; null from servers older than the field. */
  protocol_version: number | null
  config_name: string
  level: string
  grid: GridSize
  affordances: Affordance[]
  meters: string[]
  actions: string[]
  steps_per_second: number
  step_cap: number
  temporal: boolean
  observability: Observability
  vision_window: number
  world: WorldFacts
  /** Where TensorBoard serves this run, when it was started. */
  tensorboard_url: string | null
  /** The run's id in the registry (`townlet status ID`) and its label. */
  run_id: string | null
  run_name: string | null
  /** Set when this run is a trial of a sweep (`run_demo.py --runs`): see `GET /api/sweep`. */
  sweep_id: string | null
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

export interface HistoryEpisode {
  episode: number
  steps: number
  return: number
  cause: DeathCause
  /** File name of the checkpoint that played the episode. */
  checkpoint: string
}

/** Sent on connect: the live episodes that finished before this page joined, oldest first. */
export interface HistoryMessage {
  type: 'history'
  episodes: HistoryEpisode[]
}

export interface TrainingStatusMessage {
  type: 'training_status'
  episode: number
  env_step: number
  epsilon: number
  steps_per_second: number
  /** Epsilon-greedy training episodes, not greedy play. */
  recent_mean_survival: number | null
  running: boolean
  paused: boolean
  curriculum_stage: number | null
  /** Newest checkpoint file training has written (null when none yet). */
  latest_checkpoint: string | null
}

/**
 * Training figures over one reporting window (about 1 s), at its last env step.
 * `training_survival` and `episode_return` are means over the epsilon-greedy training
 * episodes that ended in the window (null when none did).
 */
export interface MetricPoint {
  env_step: number
  episode: number
  /** Unix seconds. */
  wall_time: number
  training_survival: number | null
  episode_return: number | null
  td_loss: number | null
  epsilon: number
  learning_rate: number
  steps_per_second: number
  curriculum_stage: number | null
}

/** One checkpoint played greedily on the fixed evaluation seeds. */
export interface EvaluationPoint {
  checkpoint: string
  env_step: number
  episode: number
  worlds: number
  step_cap: number
  mean_survival: number
  min_survival: number
  max_survival: number
  /** Fraction of the worlds that reached the step cap. */
  share_at_cap: number
  /** "energy" / "health" / "step_cap" -> worlds that ended so. */
  causes: Record<string, number>
  /** Unix seconds when the evaluation finished. */
  wall_time: number
}

/** Sent on connect: the whole training history (downsampled) and every evaluation so far. */
export interface MetricsHistoryMessage {
  type: 'metrics_history'
  points: MetricPoint[]
  /** How many points the history holds before downsampling. */
  total_points: number
  evaluations: EvaluationPoint[]
}

/** New training points since the last message (about once a second). */
export interface MetricsMessage {
  type: 'metrics'
  points: MetricPoint[]
}

export interface EvaluationMessage {
  type: 'evaluation'
  evaluation: EvaluationPoint
}

export interface CheckpointEntry {
  name: string
  env_step: number
  episode: number
  /** Never pruned: the first checkpoint past a power-of-two env step. */
  milestone: boolean
}

/** best: the best by held-out greedy evaluation (the newest until one is evaluated); newest: each new one; pinned: a viewer's pick. */
export type CheckpointFollow = 'best' | 'newest' | 'pinned'

/** The run's kept checkpoints, oldest first, and what live play follows. */
export interface CheckpointsMessage {
  type: 'checkpoints'
  items: CheckpointEntry[]
  follow: CheckpointFollow
  pinned: string | null
  playing: string | null
  /** The best evaluated checkpoint still kept, and the greedy mean survival it won on. */
  best: string | null
  best_survival: number | null
}

/** Live play's own controls, as every viewer should show them. */
export interface PlayStatusMessage {
  type: 'play_status'
  paused: boolean
  steps_per_second: number
}

/** Sent to this page only: a control request it sent was carried out. */
export interface AckMessage {
  type: 'ack'
  request: string
  message: string
}

/** Two worlds with the same seed and layout, one per checkpoint, played in lockstep. */
export interface CompareStartedMessage {
  type: 'compare_started'
  seed: number
  affordances: Affordance[]
  left: ModelLoadedMessage
  right: ModelLoadedMessage
}

export interface CompareStateMessage {
  type: 'compare_state'
  step: number
  left: StateMessage
  right: StateMessage
}

export interface CompareStoppedMessage {
  type: 'compare_stopped'
  reason: string
}

/** Sent to this page only: the server refused a message the page sent, and says why. */
export interface ErrorMessage {
  type: 'error'
  message: string
  /** The refused request's type, when it was a known one. */
  request: string | null
}

// ------------------------------------------------------------------ monitoring: alerts and system

export const ALERT_KINDS = ['nan_loss', 'throughput_drop', 'checkpoint_stale', 'greedy_drop', 'gpu_memory', 'disk_free'] as const
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const
export const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'] as const

/**
 * What a rule watches; `threshold` reads per kind: nan_loss (TD loss not finite; unused),
 * throughput_drop (env steps/s below threshold x its recent median), checkpoint_stale (no
 * checkpoint for threshold seconds), greedy_drop (greedy survival below (1 - threshold) x the
 * run's best), gpu_memory (GPU memory used fraction above threshold), disk_free (free disk
 * bytes below threshold).
 */
export type AlertKind = typeof ALERT_KINDS[number]
export type AlertSeverity = typeof ALERT_SEVERITIES[number]
/** As Prometheus has it: the condition holds (pending), has held `for_seconds` (firing), no longer holds (resolved). */
export type AlertStateName = typeof ALERT_STATES[number]

/** One alert rule, as listed, created and replaced over HTTP (`/api/alerts/rules`). */
export interface AlertRule {
  name: string
  kind: AlertKind
  threshold: number
  /** How long the condition must hold before the alert fires. */
  for_seconds: number
  severity: AlertSeverity
  enabled: boolean
}

/** Where one rule's alert stands now. */
export interface AlertState {
  name: string
  kind: AlertKind
  severity: AlertSeverity
  state: AlertStateName
  /** ISO-8601 time the alert entered its state; null when it never has. */
  since: string | null
  /** The watched value at the last evaluation (null when there is none, e.g. a loss that is not finite). */
  value: number | null
  message: string
}

/** Sent on connect and whenever a rule or an alert's state changes: the whole picture. */
export interface AlertsMessage {
  type: 'alerts'
  rules: AlertRule[]
  alerts: AlertState[]
}

export interface GpuSample {
  index: number
  name: string
  utilization_percent: number
  memory_used_bytes: number
  memory_total_bytes: number
  /** null where the driver does not report it. */
  temperature_c: number | null
  power_watts: number | null
}

/** The trainer machine at one moment (every 2 s). */
export interface SystemSample {
  /** Unix seconds. */
  t: number
  /** Percent of one core (a busy 8-core process can read 800). */
  cpu_percent: number
  memory_bytes: number
  memory_total_bytes: number
  /** One per device; empty without a GPU. */
  gpus: GpuSample[]
}

export interface SystemMessage {
  type: 'system'
  sample: SystemSample
}

/** Sent on connect: the samples kept so far, oldest first. */
export interface SystemHistoryMessage {
  type: 'system_history'
  samples: SystemSample[]
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
  | MetricsHistoryMessage
  | MetricsMessage
  | EvaluationMessage
  | CheckpointsMessage
  | PlayStatusMessage
  | AckMessage
  | CompareStartedMessage
  | CompareStateMessage
  | CompareStoppedMessage
  | AlertsMessage
  | SystemMessage
  | SystemHistoryMessage

export type ServerMessageType = ServerMessage['type']

// ------------------------------------------------------------------ client -> server

export interface SetSpeedMessage {
  type: 'set_speed'
  steps_per_second: number
}

export type PickWhen = 'now' | 'next_episode'

export interface PickCheckpointMessage {
  type: 'pick_checkpoint'
  /** A checkpoint name from the run's list, or null to follow the best or the newest (`follow`). */
  name: string | null
  when: PickWhen
  follow: 'best' | 'newest'
}

export interface StartCompareMessage {
  type: 'start_compare'
  /** null: the server's default (earliest milestone on the left, newest on the right). */
  left: string | null
  right: string | null
}

export type SimpleControlType = 'pause_training' | 'resume_training' | 'pause_play' | 'resume_play' | 'step_play' | 'stop_compare'

export interface SimpleControlMessage {
  type: SimpleControlType
}

export type ClientMessage = SetSpeedMessage | PickCheckpointMessage | StartCompareMessage | SimpleControlMessage
export type ClientMessageType = ClientMessage['type']

/** set_speed within the world's speed range (the server clamps too; the page asks for nothing outside it). */
export function setSpeedMessage(stepsPerSecond: number, range: SpeedRange): SetSpeedMessage {
  const clamped = Math.min(range.max, Math.max(range.min, stepsPerSecond))
  return { type: 'set_speed', steps_per_second: clamped }
}

export function pickCheckpointMessage(name: string | null, when: PickWhen, follow: 'best' | 'newest' = 'newest'): PickCheckpointMessage {
  return { type: 'pick_checkpoint', name, when, follow }
}

export function startCompareMessage(left: string | null, right: string | null): StartCompareMessage {
  return { type: 'start_compare', left, right }
}

// ------------------------------------------------------------------ validation

export type ParseResult =
  | { kind: 'message', message: ServerMessage }
  | { kind: 'unknown', type: string }
  | { kind: 'malformed', error: string }

/** Field readers: each returns the typed value or throws a Malformed naming the field's path. */
class Malformed extends Error {}

type Obj = Record<string, unknown>

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fail(path: string, expected: string, value: unknown): never {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
  throw new Malformed(`${path}: expected ${expected}, got ${got}`)
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key
}

/** A reader of one field of an object; `at` is the object's own path ('' at the top). */
type Reader<T> = (o: Obj, key: string, at?: string) => T

const str: Reader<string> = (o, key, at = '') => {
  const v = o[key]
  return typeof v === 'string' ? v : fail(join(at, key), 'string', v)
}

const nonEmptyStr: Reader<string> = (o, key, at = '') => {
  const v = str(o, key, at)
  return v.length > 0 ? v : fail(join(at, key), 'non-empty string', v)
}

const num: Reader<number> = (o, key, at = '') => {
  const v = o[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : fail(join(at, key), 'finite number', v)
}

const int: Reader<number> = (o, key, at = '') => {
  const v = num(o, key, at)
  return Number.isInteger(v) ? v : fail(join(at, key), 'integer', v)
}

const count: Reader<number> = (o, key, at = '') => {
  const v = int(o, key, at)
  return v >= 0 ? v : fail(join(at, key), 'non-negative integer', v)
}

const positiveInt: Reader<number> = (o, key, at = '') => {
  const v = count(o, key, at)
  return v > 0 ? v : fail(join(at, key), 'positive integer', v)
}

const nonNegative: Reader<number> = (o, key, at = '') => {
  const v = num(o, key, at)
  return v >= 0 ? v : fail(join(at, key), 'non-negative number', v)
}

const positive: Reader<number> = (o, key, at = '') => {
  const v = num(o, key, at)
  return v > 0 ? v : fail(join(at, key), 'positive number', v)
}

const bool: Reader<boolean> = (o, key, at = '') => {
  const v = o[key]
  return typeof v === 'boolean' ? v : fail(join(at, key), 'boolean', v)
}

/** A fraction in [0, 1] (meters, progress, shares); float noise is allowed. */
const unit: Reader<number> = (o, key, at = '') => {
  const v = num(o, key, at)
  return v >= -1e-6 && v <= 1 + 1e-6 ? v : fail(join(at, key), 'number in [0, 1]', v)
}

function nullable<T>(read: Reader<T>): Reader<T | null> {
  return (o, key, at = '') => (o[key] === null ? null : read(o, key, at))
}

/** A field the server always sends but older servers may omit: missing reads as null. */
function optionalNullable<T>(read: Reader<T>): Reader<T | null> {
  return (o, key, at = '') => (o[key] === undefined || o[key] === null ? null : read(o, key, at))
}

function oneOf<T extends string>(allowed: readonly T[]): Reader<T> {
  return (o, key, at = '') => {
    const v = o[key]
    const found = allowed.find(a => a === v)
    return found ?? fail(join(at, key), allowed.map(a => `'${a}'`).join(' | '), v)
  }
}

function object(o: Obj, key: string, at = ''): Obj {
  const v = o[key]
  return isObject(v) ? v : fail(join(at, key), 'object', v)
}

/** Array of objects, each read by `item` with its own path (`key[i]`). */
function objects<T>(o: Obj, key: string, item: (it: Obj, path: string) => T, at = ''): T[] {
  const path = join(at, key)
  const v = o[key]
  if (!Array.isArray(v))
    fail(path, 'array', v)
  return v.map((element, i) => {
    const p = `${path}[${i}]`
    return isObject(element) ? item(element, p) : fail(p, 'object', element)
  })
}

function primitives<T>(check: (v: unknown) => v is T, expected: string): Reader<T[]> {
  return (o, key, at = '') => {
    const path = join(at, key)
    const v = o[key]
    if (!Array.isArray(v))
      fail(path, 'array', v)
    return v.map((element, i) => (check(element) ? element : fail(`${path}[${i}]`, expected, element)))
  }
}

const stringArray = primitives((v): v is string => typeof v === 'string', 'string')
const numberArray = primitives((v): v is number => typeof v === 'number' && Number.isFinite(v), 'finite number')
const boolArray = primitives((v): v is boolean => typeof v === 'boolean', 'boolean')

/** A JSON object of values read by `read`, keyed by any string. */
function record<T>(read: Reader<T>): Reader<Record<string, T>> {
  return (o, key, at = '') => {
    const v = object(o, key, at)
    const path = join(at, key)
    const out: Record<string, T> = {}
    for (const name of Object.keys(v))
      out[name] = read(v, name, path)
    return out
  }
}

// --- shared shapes ---

const CAUSES = ['energy', 'health', 'step_cap'] as const
const OBSERVABILITY = ['full', 'partial'] as const
const FOLLOW = ['best', 'newest', 'pinned'] as const

function readAffordances(o: Obj, key: string, at = ''): Affordance[] {
  return objects(o, key, (a, p) => ({ name: str(a, 'name', p), x: count(a, 'x', p), y: count(a, 'y', p) }), at)
}

/** A nested message (compare sides) carries its own `type`; it must be the expected one. */
function nested<T extends ServerMessage>(o: Obj, key: string, type: T['type'], parse: (it: Obj, at: string) => T, at = ''): T {
  const v = object(o, key, at)
  const path = join(at, key)
  if (v.type !== type)
    fail(`${path}.type`, `'${type}'`, v.type)
  return parse(v, path)
}

function parseWorld(o: Obj, at: string): WorldFacts {
  const speed = object(o, 'speed_range', at)
  const speedAt = join(at, 'speed_range')
  const speedRange = { min: positive(speed, 'min', speedAt), max: positive(speed, 'max', speedAt) }
  if (speedRange.min > speedRange.max)
    throw new Malformed(`${speedAt}: min ${speedRange.min} is above max ${speedRange.max}`)
  const evaluation = object(o, 'evaluation', at)
  const evalAt = join(at, 'evaluation')
  return {
    meters: objects(o, 'meters', (m, p) => ({
      name: nonEmptyStr(m, 'name', p),
      terminal: bool(m, 'terminal', p),
      cascade_source: bool(m, 'cascade_source', p),
    }), at),
    cascade_threshold: unit(o, 'cascade_threshold', at),
    money_scale: positive(o, 'money_scale', at),
    speed_range: speedRange,
    history_length: positiveInt(o, 'history_length', at),
    evaluation: { worlds: positiveInt(evaluation, 'worlds', evalAt), step_cap: positiveInt(evaluation, 'step_cap', evalAt) },
  }
}

function parseHello(o: Obj): HelloMessage {
  const gridRaw = object(o, 'grid')
  const grid = { width: positiveInt(gridRaw, 'width', 'grid'), height: positiveInt(gridRaw, 'height', 'grid') }
  const places = readAffordances(o, 'affordances')
  places.forEach((a, i) => {
    if (a.x >= grid.width || a.y >= grid.height)
      throw new Malformed(`affordances[${i}]: (${a.x}, ${a.y}) is outside the ${grid.width} x ${grid.height} grid`)
  })
  const actions = stringArray(o, 'actions')
  if (actions.length === 0)
    throw new Malformed('actions: expected at least one action')
  return {
    type: 'hello',
    protocol_version: optionalNullable(positiveInt)(o, 'protocol_version'),
    config_name: str(o, 'config_name'),
    level: str(o, 'level'),
    grid,
    affordances: places,
    meters: stringArray(o, 'meters'),
    actions,
    steps_per_second: positive(o, 'steps_per_second'),
    step_cap: positiveInt(o, 'step_cap'),
    temporal: bool(o, 'temporal'),
    observability: oneOf(OBSERVABILITY)(o, 'observability'),
    vision_window: positiveInt(o, 'vision_window'),
    world: parseWorld(object(o, 'world'), 'world'),
    tensorboard_url: optionalNullable(str)(o, 'tensorboard_url'),
    run_id: optionalNullable(str)(o, 'run_id'),
    run_name: optionalNullable(str)(o, 'run_name'),
    sweep_id: optionalNullable(str)(o, 'sweep_id'),
  }
}

function parseModelLoaded(o: Obj, at = ''): ModelLoadedMessage {
  return {
    type: 'model_loaded',
    checkpoint: nonEmptyStr(o, 'checkpoint', at),
    episode: count(o, 'episode', at),
    env_step: count(o, 'env_step', at),
    saved_at: str(o, 'saved_at', at),
    untrained: bool(o, 'untrained', at),
  }
}

function parseState(o: Obj, at = ''): StateMessage {
  const q = numberArray(o, 'q_values', at)
  const mask = boolArray(o, 'action_mask', at)
  if (q.length !== mask.length)
    throw new Malformed(`${at ? `${at}: ` : ''}q_values (${q.length}) and action_mask (${mask.length}) differ in length`)
  return {
    type: 'state',
    episode: count(o, 'episode', at),
    step: count(o, 'step', at),
    x: count(o, 'x', at),
    y: count(o, 'y', at),
    meters: record(unit)(o, 'meters', at),
    action: nullable(str)(o, 'action', at),
    q_values: q,
    action_mask: mask,
    reward: num(o, 'reward', at),
    done: bool(o, 'done', at),
    standing_on: nullable(str)(o, 'standing_on', at),
    time_of_day: nullable(num)(o, 'time_of_day', at),
    interaction_progress: nullable(unit)(o, 'interaction_progress', at),
  }
}

function parseMetricPoint(o: Obj, at: string): MetricPoint {
  return {
    env_step: count(o, 'env_step', at),
    episode: count(o, 'episode', at),
    wall_time: num(o, 'wall_time', at),
    training_survival: nullable(nonNegative)(o, 'training_survival', at),
    episode_return: nullable(num)(o, 'episode_return', at),
    td_loss: nullable(num)(o, 'td_loss', at),
    epsilon: unit(o, 'epsilon', at),
    learning_rate: nonNegative(o, 'learning_rate', at),
    steps_per_second: nonNegative(o, 'steps_per_second', at),
    curriculum_stage: nullable(int)(o, 'curriculum_stage', at),
  }
}

function parseEvaluationPoint(o: Obj, at: string): EvaluationPoint {
  const e: EvaluationPoint = {
    checkpoint: nonEmptyStr(o, 'checkpoint', at),
    env_step: count(o, 'env_step', at),
    episode: count(o, 'episode', at),
    worlds: positiveInt(o, 'worlds', at),
    step_cap: positiveInt(o, 'step_cap', at),
    mean_survival: nonNegative(o, 'mean_survival', at),
    min_survival: count(o, 'min_survival', at),
    max_survival: count(o, 'max_survival', at),
    share_at_cap: unit(o, 'share_at_cap', at),
    causes: record(count)(o, 'causes', at),
    wall_time: num(o, 'wall_time', at),
  }
  if (e.min_survival > e.max_survival)
    throw new Malformed(`${at}: min_survival ${e.min_survival} is above max_survival ${e.max_survival}`)
  return e
}

// --- monitoring ---

/** An ISO-8601 date-time (as Python's isoformat writes it), kept as the string it was. */
const isoTime: Reader<string> = (o, key, at = '') => {
  const v = str(o, key, at)
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && !Number.isNaN(Date.parse(v)) ? v : fail(join(at, key), 'ISO-8601 date-time', v)
}

function parseAlertRule(o: Obj, at = ''): AlertRule {
  return {
    name: nonEmptyStr(o, 'name', at),
    kind: oneOf(ALERT_KINDS)(o, 'kind', at),
    threshold: num(o, 'threshold', at),
    for_seconds: nonNegative(o, 'for_seconds', at),
    severity: oneOf(ALERT_SEVERITIES)(o, 'severity', at),
    enabled: bool(o, 'enabled', at),
  }
}

function parseAlertState(o: Obj, at = ''): AlertState {
  return {
    name: nonEmptyStr(o, 'name', at),
    kind: oneOf(ALERT_KINDS)(o, 'kind', at),
    severity: oneOf(ALERT_SEVERITIES)(o, 'severity', at),
    state: oneOf(ALERT_STATES)(o, 'state', at),
    since: nullable(isoTime)(o, 'since', at),
    value: nullable(num)(o, 'value', at),
    message: str(o, 'message', at),
  }
}

/** Rule names are the key of everything else (URLs, states): two of one name is malformed. */
function uniqueNames<T extends { name: string }>(items: T[], path: string): T[] {
  const seen = new Set<string>()
  items.forEach((item, i) => {
    if (seen.has(item.name))
      throw new Malformed(`${path}[${i}].name: '${item.name}' appears twice`)
    seen.add(item.name)
  })
  return items
}

function parseAlertsBody(o: Obj): { rules: AlertRule[], alerts: AlertState[] } {
  return {
    rules: uniqueNames(objects(o, 'rules', parseAlertRule), 'rules'),
    alerts: uniqueNames(objects(o, 'alerts', parseAlertState), 'alerts'),
  }
}

function parseGpuSample(o: Obj, at: string): GpuSample {
  const g: GpuSample = {
    index: count(o, 'index', at),
    name: str(o, 'name', at),
    utilization_percent: nonNegative(o, 'utilization_percent', at),
    memory_used_bytes: count(o, 'memory_used_bytes', at),
    memory_total_bytes: count(o, 'memory_total_bytes', at),
    temperature_c: nullable(num)(o, 'temperature_c', at),
    power_watts: nullable(nonNegative)(o, 'power_watts', at),
  }
  return g
}

function parseSystemSample(o: Obj, at: string): SystemSample {
  return {
    t: num(o, 't', at),
    cpu_percent: nonNegative(o, 'cpu_percent', at),
    memory_bytes: count(o, 'memory_bytes', at),
    memory_total_bytes: count(o, 'memory_total_bytes', at),
    gpus: objects(o, 'gpus', parseGpuSample, at),
  }
}

const PARSERS: { [K in ServerMessageType]: (o: Obj) => Extract<ServerMessage, { type: K }> } = {
  hello: parseHello,
  model_loaded: o => parseModelLoaded(o),
  waiting_for_model: o => ({ type: 'waiting_for_model', message: str(o, 'message') }),
  episode_start: o => ({ type: 'episode_start', episode: count(o, 'episode'), affordances: readAffordances(o, 'affordances') }),
  state: o => parseState(o),
  episode_end: o => ({
    type: 'episode_end',
    episode: count(o, 'episode'),
    steps: count(o, 'steps'),
    return: num(o, 'return'),
    cause: oneOf(CAUSES)(o, 'cause'),
  }),
  history: o => ({
    type: 'history',
    episodes: objects(o, 'episodes', (e, p) => ({
      episode: count(e, 'episode', p),
      steps: count(e, 'steps', p),
      return: num(e, 'return', p),
      cause: oneOf(CAUSES)(e, 'cause', p),
      checkpoint: nonEmptyStr(e, 'checkpoint', p),
    })),
  }),
  training_status: o => ({
    type: 'training_status',
    episode: count(o, 'episode'),
    env_step: count(o, 'env_step'),
    epsilon: num(o, 'epsilon'),
    steps_per_second: num(o, 'steps_per_second'),
    recent_mean_survival: nullable(num)(o, 'recent_mean_survival'),
    running: bool(o, 'running'),
    paused: bool(o, 'paused'),
    curriculum_stage: nullable(int)(o, 'curriculum_stage'),
    latest_checkpoint: optionalNullable(str)(o, 'latest_checkpoint'),
  }),
  error: o => ({ type: 'error', message: str(o, 'message'), request: optionalNullable(str)(o, 'request') }),
  metrics_history: o => ({
    type: 'metrics_history',
    points: objects(o, 'points', parseMetricPoint),
    total_points: count(o, 'total_points'),
    evaluations: objects(o, 'evaluations', parseEvaluationPoint),
  }),
  metrics: o => ({ type: 'metrics', points: objects(o, 'points', parseMetricPoint) }),
  evaluation: o => ({ type: 'evaluation', evaluation: parseEvaluationPoint(object(o, 'evaluation'), 'evaluation') }),
  checkpoints: o => ({
    type: 'checkpoints',
    items: objects(o, 'items', (c, p) => ({
      name: nonEmptyStr(c, 'name', p),
      env_step: count(c, 'env_step', p),
      episode: count(c, 'episode', p),
      milestone: bool(c, 'milestone', p),
    })),
    follow: oneOf(FOLLOW)(o, 'follow'),
    pinned: nullable(str)(o, 'pinned'),
    playing: nullable(str)(o, 'playing'),
    best: nullable(str)(o, 'best'),
    best_survival: nullable(nonNegative)(o, 'best_survival'),
  }),
  play_status: o => ({ type: 'play_status', paused: bool(o, 'paused'), steps_per_second: positive(o, 'steps_per_second') }),
  ack: o => ({ type: 'ack', request: str(o, 'request'), message: str(o, 'message') }),
  compare_started: o => ({
    type: 'compare_started',
    seed: int(o, 'seed'),
    affordances: readAffordances(o, 'affordances'),
    left: nested(o, 'left', 'model_loaded', parseModelLoaded),
    right: nested(o, 'right', 'model_loaded', parseModelLoaded),
  }),
  compare_state: o => ({
    type: 'compare_state',
    step: count(o, 'step'),
    left: nested(o, 'left', 'state', parseState),
    right: nested(o, 'right', 'state', parseState),
  }),
  compare_stopped: o => ({ type: 'compare_stopped', reason: str(o, 'reason') }),
  alerts: o => ({ type: 'alerts', ...parseAlertsBody(o) }),
  system: o => ({ type: 'system', sample: parseSystemSample(object(o, 'sample'), 'sample') }),
  system_history: o => ({ type: 'system_history', samples: objects(o, 'samples', parseSystemSample) }),
}

function isKnownType(type: string): type is ServerMessageType {
  return Object.prototype.hasOwnProperty.call(PARSERS, type)
}

/** Validate one decoded JSON value as a server message. Never throws. */
export function validateServerMessage(data: unknown): ParseResult {
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
    return { kind: 'malformed', error: `${type}: ${String(err)}` }
  }
}

/**
 * One raw text frame as a typed message, or null (with a console warning saying why) when it
 * is not JSON, malformed, or of a type this page does not know. Never throws.
 */
export function parseServerMessage(text: string): ServerMessage | null {
  let data: unknown
  try {
    data = JSON.parse(text)
  }
  catch {
    console.warn(`[townlet] dropped a frame that is not JSON: ${text.slice(0, 80)}`)
    return null
  }
  const result = validateServerMessage(data)
  if (result.kind === 'message')
    return result.message
  console.warn(result.kind === 'unknown'
    ? `[townlet] ignored a message of unknown type '${result.type}'`
    : `[townlet] dropped a malformed message: ${result.error}`)
  return null
}

// ------------------------------------------------------------------ HTTP (monitoring)

/** GET /api/alerts, and the state the socket's `alerts` message carries. */
export interface AlertsSnapshot {
  rules: AlertRule[]
  alerts: AlertState[]
}

/** GET /api/system: the samples kept so far and, when there is no GPU to watch, why. */
export interface SystemSnapshot {
  samples: SystemSample[]
  /** e.g. "no NVIDIA GPU found"; null when every GPU is watched. */
  gpu_note: string | null
}

export type BodyResult<T> = { ok: true, value: T } | { ok: false, error: string }

function validateBody<T>(data: unknown, what: string, parse: (o: Obj) => T): BodyResult<T> {
  if (!isObject(data))
    return { ok: false, error: `${what}: the answer is not a JSON object` }
  try {
    return { ok: true, value: parse(data) }
  }
  catch (err) {
    return { ok: false, error: `${what}: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/** A decoded `GET /api/alerts` answer, checked like a socket message (the field's path when not). */
export function validateAlertsSnapshot(data: unknown): BodyResult<AlertsSnapshot> {
  return validateBody(data, 'GET /api/alerts', parseAlertsBody)
}

/** A decoded `GET /api/system` answer. */
export function validateSystemSnapshot(data: unknown): BodyResult<SystemSnapshot> {
  return validateBody(data, 'GET /api/system', o => ({
    samples: objects(o, 'samples', parseSystemSample),
    gpu_note: nullable(str)(o, 'gpu_note'),
  }))
}

/** The body of a create or replace: exactly a rule's fields, nothing the page added. */
export function alertRuleBody(rule: AlertRule): AlertRule {
  return {
    name: rule.name,
    kind: rule.kind,
    threshold: rule.threshold,
    for_seconds: rule.for_seconds,
    severity: rule.severity,
    enabled: rule.enabled,
  }
}

/**
 * Why the server refused a request, from its JSON body: ours (`{"ok": false, "error": ...}`)
 * or FastAPI's (`{"detail": "..."}`, or a list of `{loc, msg}` from request validation).
 * Null when the body says nothing usable.
 */
export function refusalReason(data: unknown): string | null {
  if (!isObject(data))
    return null
  if (typeof data.error === 'string' && data.error)
    return data.error
  const detail = data.detail
  if (typeof detail === 'string' && detail)
    return detail
  if (Array.isArray(detail)) {
    const lines = detail.filter(isObject).map((d) => {
      const loc = Array.isArray(d.loc) ? d.loc.filter(p => p !== 'body').join('.') : ''
      const msg = typeof d.msg === 'string' ? d.msg : JSON.stringify(d)
      return loc ? `${loc}: ${msg}` : msg
    })
    return lines.length ? lines.join('; ') : null
  }
  return null
}

// ------------------------------------------------------------------ HTTP (a sweep's trials)

/** Training survival against env steps, downsampled (one trial's learning curve). */
export interface SweepCurve {
  env_step: number[]
  survival: number[]
}

/** The trials' mean training survival on one env-step grid, with its 95% interval. */
export interface SweepBand {
  level: number
  env_step: number[]
  /** Trials that reached each point; low and high are null where only one did. */
  n: number[]
  mean: number[]
  low: (number | null)[]
  high: (number | null)[]
}

export interface SweepTrial {
  run: string
  index: number
  seed: number
  setting: string
  name: string
  /** The registry's status: starting, running, paused, stopping, stopped, completed, failed, lost. */
  status: string
  episode: number
  env_step: number
  /** While it trains; null otherwise. */
  steps_per_second: number | null
  /** Recent training (epsilon-greedy) survival, the mean of its last reports. */
  training_survival: number | null
  /** Its latest greedy evaluation, on the fixed evaluation worlds. */
  greedy: EvaluationPoint | null
  newest_checkpoint: string | null
  end_reason: string | null
  error: string | null
  followed: boolean
  best: boolean
  curve: SweepCurve
}

export type SweepFollowMode = 'best' | 'picked'
export type SweepBasis = 'greedy' | 'training'

export interface SweepFollow {
  /** Following the best trial, or one a viewer picked. */
  mode: SweepFollowMode
  /** The trial the live view plays. */
  run: string
  best: string | null
  /** What decided the best: the latest greedy evaluations, or recent training survival. */
  basis: SweepBasis | null
  /** By how much (a fraction) another trial must do better to become the best. */
  margin: number
}

/** GET /api/sweep. */
export interface SweepView {
  id: string
  name: string
  status: string
  trials: SweepTrial[]
  band: SweepBand
  follow: SweepFollow
  /** Training survival is the mean of this many of a trial's last reports. */
  recent_reports: number
  updated_at: number
}

function sameLength(o: Obj, keys: string[], at: string): void {
  const lengths = keys.map(k => (Array.isArray(o[k]) ? (o[k] as unknown[]).length : -1))
  if (lengths.some(n => n !== lengths[0]))
    throw new Malformed(`${at}: ${keys.join(', ')} differ in length (${lengths.join(', ')})`)
}

const nullableNumberArray = primitives((v): v is number | null => v === null || (typeof v === 'number' && Number.isFinite(v)), 'finite number or null')

function parseSweepTrial(o: Obj, at: string): SweepTrial {
  const curve = object(o, 'curve', at)
  const curveAt = join(at, 'curve')
  sameLength(curve, ['env_step', 'survival'], curveAt)
  const greedy = o.greedy
  return {
    run: nonEmptyStr(o, 'run', at),
    index: count(o, 'index', at),
    seed: int(o, 'seed', at),
    setting: str(o, 'setting', at),
    name: str(o, 'name', at),
    status: nonEmptyStr(o, 'status', at),
    episode: count(o, 'episode', at),
    env_step: count(o, 'env_step', at),
    steps_per_second: nullable(nonNegative)(o, 'steps_per_second', at),
    training_survival: nullable(nonNegative)(o, 'training_survival', at),
    greedy: greedy === null ? null : parseEvaluationPoint(object(o, 'greedy', at), join(at, 'greedy')),
    newest_checkpoint: nullable(str)(o, 'newest_checkpoint', at),
    end_reason: nullable(str)(o, 'end_reason', at),
    error: nullable(str)(o, 'error', at),
    followed: bool(o, 'followed', at),
    best: bool(o, 'best', at),
    curve: { env_step: numberArray(curve, 'env_step', curveAt), survival: numberArray(curve, 'survival', curveAt) },
  }
}

function parseSweepView(o: Obj): SweepView {
  const band = object(o, 'band')
  sameLength(band, ['env_step', 'n', 'mean', 'low', 'high'], 'band')
  const follow = object(o, 'follow')
  const trials = objects(o, 'trials', parseSweepTrial)
  const runs = new Set(trials.map(t => t.run))
  const view: SweepView = {
    id: nonEmptyStr(o, 'id'),
    name: str(o, 'name'),
    status: nonEmptyStr(o, 'status'),
    trials,
    band: {
      level: unit(band, 'level', 'band'),
      env_step: numberArray(band, 'env_step', 'band'),
      n: numberArray(band, 'n', 'band'),
      mean: numberArray(band, 'mean', 'band'),
      low: nullableNumberArray(band, 'low', 'band'),
      high: nullableNumberArray(band, 'high', 'band'),
    },
    follow: {
      mode: oneOf(['best', 'picked'] as const)(follow, 'mode', 'follow'),
      run: nonEmptyStr(follow, 'run', 'follow'),
      best: nullable(str)(follow, 'best', 'follow'),
      basis: nullable(oneOf(['greedy', 'training'] as const))(follow, 'basis', 'follow'),
      margin: nonNegative(follow, 'margin', 'follow'),
    },
    recent_reports: positiveInt(o, 'recent_reports'),
    updated_at: num(o, 'updated_at'),
  }
  if (!runs.has(view.follow.run))
    throw new Malformed(`follow.run: '${view.follow.run}' is not one of the trials`)
  return view
}

/** A decoded `GET /api/sweep` answer, checked field by field (the field's path when not). */
export function validateSweepView(data: unknown): BodyResult<SweepView> {
  return validateBody(data, 'GET /api/sweep', parseSweepView)
}

/** The body of `POST /api/sweep/follow`: a trial's run id, or "best" to follow the best. */
export function followTrialBody(run: string | 'best'): { run: string } {
  return { run }
}
