import type { SweepTrial, SweepView } from '../../src/protocol'

/** One trial as GET /api/sweep describes it. */
export function sweepTrial(index: number, over: Partial<SweepTrial> = {}): SweepTrial {
  return {
    run: `run${index}aa`,
    index,
    seed: index,
    setting: 'config',
    name: `tiny #${index} seed ${index}`,
    status: 'running',
    episode: 100 + index,
    env_step: 12_000 + index * 1000,
    steps_per_second: 1500 + index,
    training_survival: 40 + index * 10,
    greedy: null,
    newest_checkpoint: 'ckpt_ep000000100_step000000012000.pt',
    end_reason: null,
    error: null,
    followed: false,
    best: false,
    curve: { env_step: [1000, 2000, 3000], survival: [20 + index, 30 + index, 40 + index * 10] },
    ...over,
  }
}

/** Two trials, #1 best and followed; a band over both where both reached. */
export function sweepView(over: Partial<SweepView> = {}): SweepView {
  return {
    id: 's-abcdef',
    name: 'two seeds',
    status: 'running',
    trials: [sweepTrial(0), sweepTrial(1, { followed: true, best: true })],
    band: { level: 0.95, env_step: [1000, 2000, 3000], n: [2, 2, 1], mean: [20.5, 30.5, 50], low: [14.1, 24.1, null], high: [26.9, 36.9, null] },
    follow: { mode: 'best', run: 'run1aa', best: 'run1aa', basis: 'training', margin: 0.1 },
    recent_reports: 10,
    updated_at: 1_800_000_000,
    ...over,
  }
}
