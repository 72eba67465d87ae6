import type {
  AlertRule,
  AlertsMessage,
  AlertState,
  CheckpointEntry,
  CheckpointsMessage,
  CompareStartedMessage,
  CompareStateMessage,
  EpisodeEndMessage,
  EvaluationPoint,
  HelloMessage,
  MetricPoint,
  MetricsHistoryMessage,
  ModelLoadedMessage,
  PlayStatusMessage,
  StateMessage,
  SystemSample,
  GpuSample,
  TrainingStatusMessage,
  WorldFacts,
} from '../../src/protocol'
import { PROTOCOL_VERSION } from '../../src/protocol'

export const METERS = ['energy', 'hygiene', 'satiation', 'money', 'mood', 'social', 'health', 'fitness']
export const ACTIONS = ['UP', 'DOWN', 'LEFT', 'RIGHT', 'INTERACT', 'WAIT']

export function world(over: Partial<WorldFacts> = {}): WorldFacts {
  return {
    meters: METERS.map(name => ({
      name,
      terminal: name === 'energy' || name === 'health',
      cascade_source: ['satiation', 'hygiene', 'mood', 'social'].includes(name),
    })),
    cascade_threshold: 0.3,
    money_scale: 100,
    speed_range: { min: 0.5, max: 60 },
    history_length: 30,
    evaluation: { worlds: 16, step_cap: 500 },
    ...over,
  }
}

export function hello(over: Partial<HelloMessage> = {}): HelloMessage {
  return {
    type: 'hello',
    protocol_version: PROTOCOL_VERSION,
    config_name: 'level_1_full_observability',
    level: 'L1',
    grid: { width: 8, height: 8 },
    affordances: [
      { name: 'Bed', x: 1, y: 1 },
      { name: 'Shower', x: 2, y: 2 },
      { name: 'Job', x: 6, y: 6 },
    ],
    meters: [...METERS],
    actions: [...ACTIONS],
    steps_per_second: 5,
    step_cap: 500,
    temporal: false,
    observability: 'full',
    vision_window: 5,
    world: world(),
    tensorboard_url: null,
    run_id: null,
    run_name: null,
    sweep_id: null,
    ...over,
  }
}

export function meters(over: Record<string, number> = {}): Record<string, number> {
  return { energy: 1, hygiene: 1, satiation: 1, money: 0.5, mood: 1, social: 1, health: 1, fitness: 1, ...over }
}

export function state(over: Partial<StateMessage> = {}): StateMessage {
  return {
    type: 'state',
    episode: 1,
    step: 0,
    x: 3,
    y: 4,
    meters: meters(),
    action: null,
    q_values: [1, 2, 3, 4, 5, 6],
    action_mask: [true, true, true, true, false, true],
    reward: 0,
    done: false,
    standing_on: null,
    time_of_day: null,
    interaction_progress: null,
    ...over,
  }
}

export function modelLoaded(over: Partial<ModelLoadedMessage> = {}): ModelLoadedMessage {
  return {
    type: 'model_loaded',
    checkpoint: 'ckpt_000100.pt',
    episode: 100,
    env_step: 25_000,
    saved_at: '2025-01-01T12:00:00Z',
    untrained: false,
    ...over,
  }
}

export function episodeEnd(over: Partial<EpisodeEndMessage> = {}): EpisodeEndMessage {
  return { type: 'episode_end', episode: 1, steps: 150, return: 90.5, cause: 'energy', ...over }
}

export function trainingStatus(over: Partial<TrainingStatusMessage> = {}): TrainingStatusMessage {
  return {
    type: 'training_status',
    episode: 250,
    env_step: 60_000,
    epsilon: 0.2,
    steps_per_second: 3000,
    recent_mean_survival: 180,
    running: true,
    paused: false,
    curriculum_stage: null,
    latest_checkpoint: 'ckpt_000250.pt',
    ...over,
  }
}

export function metricPoint(over: Partial<MetricPoint> = {}): MetricPoint {
  return {
    env_step: 1000,
    episode: 10,
    wall_time: 1_700_000_000,
    training_survival: 150,
    episode_return: 80.5,
    td_loss: 0.02,
    epsilon: 0.5,
    learning_rate: 0.0003,
    steps_per_second: 2500,
    curriculum_stage: null,
    ...over,
  }
}

/** Points every `every` env steps from `from`, one second apart. */
export function metricPoints(n: number, from = 1000, every = 1000): MetricPoint[] {
  return Array.from({ length: n }, (_, i) => metricPoint({
    env_step: from + i * every,
    episode: 10 + i,
    wall_time: 1_700_000_000 + i,
    training_survival: 100 + i,
  }))
}

export function evaluationPoint(over: Partial<EvaluationPoint> = {}): EvaluationPoint {
  return {
    checkpoint: 'ckpt_000100.pt',
    env_step: 25_000,
    episode: 100,
    worlds: 16,
    step_cap: 500,
    mean_survival: 210.5,
    min_survival: 150,
    max_survival: 500,
    share_at_cap: 0.25,
    causes: { energy: 8, health: 4, step_cap: 4 },
    wall_time: 1_700_000_100,
    ...over,
  }
}

export function metricsHistory(over: Partial<MetricsHistoryMessage> = {}): MetricsHistoryMessage {
  return { type: 'metrics_history', points: metricPoints(5), total_points: 5, evaluations: [evaluationPoint()], ...over }
}

export function checkpointEntry(over: Partial<CheckpointEntry> = {}): CheckpointEntry {
  return { name: 'ckpt_000100.pt', env_step: 25_000, episode: 100, milestone: false, ...over }
}

export function checkpoints(over: Partial<CheckpointsMessage> = {}): CheckpointsMessage {
  return {
    type: 'checkpoints',
    items: [
      checkpointEntry({ name: 'ckpt_000004.pt', env_step: 1100, episode: 4, milestone: true }),
      checkpointEntry({ name: 'ckpt_000100.pt', env_step: 25_000, episode: 100 }),
      checkpointEntry({ name: 'ckpt_004800.pt', env_step: 1_234_567, episode: 4800, milestone: true }),
      checkpointEntry({ name: 'ckpt_005000.pt', env_step: 1_300_000, episode: 5000 }),
    ],
    follow: 'newest',
    pinned: null,
    playing: 'ckpt_005000.pt',
    best: null,
    best_survival: null,
    ...over,
  }
}

export function playStatus(over: Partial<PlayStatusMessage> = {}): PlayStatusMessage {
  return { type: 'play_status', paused: false, steps_per_second: 5, ...over }
}

export function compareStarted(over: Partial<CompareStartedMessage> = {}): CompareStartedMessage {
  return {
    type: 'compare_started',
    seed: 1234,
    affordances: [{ name: 'Bed', x: 1, y: 1 }, { name: 'Job', x: 6, y: 6 }],
    left: modelLoaded({ checkpoint: 'ckpt_000004.pt', episode: 4, env_step: 1100 }),
    right: modelLoaded({ checkpoint: 'ckpt_005000.pt', episode: 5000, env_step: 1_300_000 }),
    ...over,
  }
}

export function compareState(step: number, left: Partial<StateMessage> = {}, right: Partial<StateMessage> = {}): CompareStateMessage {
  return {
    type: 'compare_state',
    step,
    left: state({ step, ...left }),
    right: state({ step, ...right }),
  }
}

// --- monitoring ---

export function alertRule(over: Partial<AlertRule> = {}): AlertRule {
  return { name: 'slow_training', kind: 'throughput_drop', threshold: 0.5, for_seconds: 60, severity: 'warning', enabled: true, ...over }
}

export function alertState(over: Partial<AlertState> = {}): AlertState {
  return {
    name: 'slow_training',
    kind: 'throughput_drop',
    severity: 'warning',
    state: 'inactive',
    since: null,
    value: 1800,
    message: '',
    ...over,
  }
}

export function alertsMessage(rules: AlertRule[] = [alertRule()], alerts: AlertState[] = [alertState()]): AlertsMessage {
  return { type: 'alerts', rules, alerts }
}

export function gpuSample(over: Partial<GpuSample> = {}): GpuSample {
  return {
    index: 0,
    name: 'NVIDIA H100 80GB HBM3',
    utilization_percent: 87,
    memory_used_bytes: 20e9,
    memory_total_bytes: 80e9,
    temperature_c: 61,
    power_watts: 350.5,
    ...over,
  }
}

export function systemSample(over: Partial<SystemSample> = {}): SystemSample {
  return {
    t: 1_760_000_000,
    cpu_percent: 143.5,
    memory_bytes: 12.4e9,
    memory_total_bytes: 64e9,
    gpus: [gpuSample()],
    ...over,
  }
}

/** `n` samples 2 s apart ending at `end`. */
export function systemSamples(n: number, over: Partial<SystemSample> = {}, end = 1_760_000_000): SystemSample[] {
  return Array.from({ length: n }, (_, i) => systemSample({ t: end - (n - 1 - i) * 2, cpu_percent: 100 + i, ...over }))
}
