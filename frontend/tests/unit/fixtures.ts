import type {
  EpisodeEndMessage,
  HelloMessage,
  ModelLoadedMessage,
  StateMessage,
  TrainingStatusMessage,
} from '../../src/protocol'

export const METERS = ['energy', 'hygiene', 'satiation', 'money', 'mood', 'social', 'health', 'fitness']
export const ACTIONS = ['UP', 'DOWN', 'LEFT', 'RIGHT', 'INTERACT', 'WAIT']

export function hello(over: Partial<HelloMessage> = {}): HelloMessage {
  return {
    type: 'hello',
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
    latest_checkpoint: 'ckpt_000250.pt',
    ...over,
  }
}
